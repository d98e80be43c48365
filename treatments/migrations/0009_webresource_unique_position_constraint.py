"""Unique link positions per page (0008 renumbered existing links first)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("treatments", "0008_webresource_unique_positions")]

    operations = [
        migrations.AddConstraint(
            model_name="webresource",
            constraint=models.UniqueConstraint(fields=("page", "position"), name="webresource_unique_position"),
        ),
    ]
