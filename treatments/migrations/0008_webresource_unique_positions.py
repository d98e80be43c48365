"""Link positions renumbered 0..n-1 per page, in order, before 0009 makes them unique.

The constraint is a migration of its own: PostgreSQL refuses to ALTER a table with pending trigger
events left by this migration's UPDATEs in the same transaction.
"""

from django.db import migrations, models


def renumber(apps, schema_editor):
    """Each page's links keep their order, numbered 0..n-1."""
    WebResource = apps.get_model("treatments", "WebResource")
    page_ids = WebResource.objects.values_list("page_id", flat=True).distinct()
    for page_id in page_ids:
        rows = list(WebResource.objects.filter(page_id=page_id).order_by("position", "pk"))
        WebResource.objects.filter(page_id=page_id).update(position=models.F("position") + 1_000_000)
        for position, row in enumerate(rows):
            row.position = position
        WebResource.objects.bulk_update(rows, ["position"])


class Migration(migrations.Migration):
    dependencies = [("treatments", "0007_editors_no_tagged_items")]

    operations = [
        migrations.AlterField(
            model_name="webresource",
            name="position",
            field=models.PositiveIntegerField(blank=True, help_text="Left empty, a new link goes last."),
        ),
        migrations.RunPython(renumber, migrations.RunPython.noop),
    ]
