"""Indexes for 3,000 pages, 300,000 listings and 50,000 publications.

A page's list in reading order, the publication list's order, what the refresh-run list sorts and
filters by; and, on PostgreSQL only, trigram indexes for the admin's title and author search.
Django's ``icontains`` is ``UPPER(col::text) LIKE UPPER(%s)`` there, so the indexes are on that
expression and the admin's plain search uses them. SQLite has no trigrams: it scans, as before.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

TRIGRAM_INDEXES = {"publication_title_trgm": "title", "publication_authors_trgm": "authors_text"}


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, column in TRIGRAM_INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON publications_publication "
            f"USING gin ((UPPER({column}::text)) gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("publications", "0003_rendered_entry"),
        ("treatments", "0006_publishing_schedule"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="publication", name="publication_pub_yea_6bfa91_idx"),
        migrations.AddIndex(
            model_name="pagelisting",
            index=models.Index(fields=["page", "-pinned", "position", "id"], name="listing_page_order"),
        ),
        migrations.AddIndex(
            model_name="publication",
            index=models.Index(fields=["pub_year", "id"], name="publication_year_id"),
        ),
        migrations.AddIndex(
            model_name="refreshrun",
            index=models.Index(fields=["-started_at"], name="refreshrun_started"),
        ),
        migrations.AddIndex(
            model_name="refreshrun",
            index=models.Index(fields=["status", "-started_at"], name="refreshrun_status_started"),
        ),
        migrations.AddIndex(
            model_name="refreshrun",
            index=models.Index(fields=["page", "status", "-started_at"], name="refreshrun_page_status"),
        ),
        TrigramExtension(),  # does nothing on SQLite
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes),
    ]
