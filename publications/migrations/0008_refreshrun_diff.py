"""What a refresh changed in the page's list (entries added, dropped), and whether the query had changed."""

from django.db import migrations, models


class Migration(migrations.Migration):
    # After the curation helper's 0006 so the graph stays linear while both are in review (renumber freely).
    dependencies = [("publications", "0007_curation")]

    operations = [
        migrations.AlterField(
            model_name="refreshrun",
            name="publications_new",
            field=models.PositiveIntegerField(default=0, help_text="Publications new to the site."),
        ),
        migrations.AddField(
            model_name="refreshrun",
            name="publications_added",
            field=models.PositiveIntegerField(
                default=0, help_text="Entries that joined this page's list (new to the site or not)."
            ),
        ),
        migrations.AddField(
            model_name="refreshrun",
            name="publications_dropped",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Entries that left this page's list: no longer found, or deleted by PubMed.",
            ),
        ),
        migrations.AddField(
            model_name="refreshrun",
            name="query_changed",
            field=models.BooleanField(
                default=False,
                help_text="The page's query differed from the one of its last successful refresh.",
            ),
        ),
        migrations.AddField(
            model_name="refreshrun",
            name="previous_query",
            field=models.CharField(blank=True, help_text="That earlier query.", max_length=1000),
        ),
    ]
