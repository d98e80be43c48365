"""Publication pages are filled to 70% on PostgreSQL, so a re-fetch's update fits beside the old row.

Most re-fetches find a record PubMed did not change, and write its ``updated_at`` alone. With full pages
(the default, 100) the new version of the row went to another page, so PostgreSQL wrote a new entry in
every index, the full-text one included (its to_tsvector over the abstract run again). With room on
the page the update is HOT (heap-only): no index is touched. benchmarks/ingest.py, 10,000 re-fetched
records: PostgreSQL's CPU 305 -> 173 µs a record; rewriting changed records 791 -> 657. The table's
main pages take about 40% more space; the records' XML, stored apart (TOAST), does not change.
Applies to pages written from now on (and all, after a VACUUM FULL).
"""

from django.db import migrations

FILLFACTOR = 70


def fill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE publications_publication SET (fillfactor = {FILLFACTOR})")


def fill_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE publications_publication RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("publications", "0014_lz4_compression")]

    operations = [migrations.RunPython(fill, fill_default, elidable=False)]
