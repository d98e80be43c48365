"""What PostgreSQL's statistics say this transaction wrote to the publications' table: for tests of how
rows are written (HOT updates, long values kept aside in TOAST)."""

from django.db import connection


def updates_counted() -> tuple[int, int]:
    """Row updates, and HOT ones, this backend has counted on publications and not yet flushed (since
    PostgreSQL 15 that may include earlier transactions': compare before and after)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
            " WHERE relname = 'publications_publication'"
        )
        return cursor.fetchone() or (0, 0)


def toast_rows_written() -> int:
    """Rows this transaction has written to the publications' TOAST table (long values kept aside)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_ins FROM pg_stat_xact_all_tables WHERE relid ="
            " (SELECT reltoastrelid FROM pg_class WHERE relname = 'publications_publication')"
        )
        return cursor.fetchone()[0]
