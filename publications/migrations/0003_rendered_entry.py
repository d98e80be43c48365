"""Each publication keeps its page entry's HTML, built when the row changes, so a page never rebuilds it."""

from django.db import migrations, models


def build_entries(apps, schema_editor):
    """Fill the new column for the rows there are (a page would build a missing one on its first view)."""
    from publications.citation import entry_html

    Publication = apps.get_model("publications", "Publication")
    batch = []
    for row in Publication.objects.defer("source_xml").iterator(chunk_size=500):
        row.rendered_entry = entry_html(row)
        batch.append(row)
        if len(batch) == 500:
            Publication.objects.bulk_update(batch, ["rendered_entry"])
            batch = []
    Publication.objects.bulk_update(batch, ["rendered_entry"])


class Migration(migrations.Migration):
    dependencies = [("publications", "0002_daily_refresh_schedule")]

    operations = [
        migrations.AddField(
            model_name="publication",
            name="rendered_entry",
            field=models.TextField(
                blank=True,
                editable=False,
                help_text="The entry's HTML, built when the row is saved; empty when stale.",
            ),
        ),
        migrations.RunPython(build_entries, migrations.RunPython.noop),
    ]
