"""The production database connection: what settings ask of PostgreSQL."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_postgresql_never_jit_compiles_the_sites_short_queries():
    """JIT spent 0.7 s compiling the related-pages query (32 ms to run) at 3,000 pages."""
    if connection.vendor != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_every_text_and_json_column_of_a_publication_is_stored_with_lz4():
    """pglz took several times LZ4's CPU to store a record's 26 KB of XML, and to read entries back."""
    if connection.vendor != "postgresql":
        pytest.skip("column compression is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = %s::regclass"
            " AND attnum > 0 AND NOT attisdropped AND atttypid IN ('text'::regtype, 'jsonb'::regtype)",
            ["publications_publication"],
        )
        columns = dict(cursor.fetchall())
    assert {"source_xml", "rendered_entry", "rendered_citation", "abstract"} <= columns.keys()
    assert {name for name, method in columns.items() if method != "l"} == set()
