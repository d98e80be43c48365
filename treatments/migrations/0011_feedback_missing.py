"""What a reader who answered No found missing: optional, for editors only (never on a reader's page)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("treatments", "0010_link_check"),
    ]

    operations = [
        migrations.AddField(
            model_name="feedback",
            name="missing",
            field=models.TextField(
                blank=True,
                help_text=(
                    "What a reader who answered No found missing, if they said: for editors, never shown."
                ),
            ),
        ),
    ]
