"""Curating a page's list: pins in an order, entries added by hand, PMIDs excluded for good.

Existing pins are numbered in the order readers saw them; an entry that was both pinned and hidden
(possible before the constraint) stays hidden and is unpinned, since hidden is what readers saw.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def number_pins(apps, schema_editor):
    PageListing = apps.get_model("publications", "PageListing")
    PageListing.objects.filter(pinned=True, hidden=True).update(pinned=False)
    pinned = PageListing.objects.filter(pinned=True).order_by("page_id", "position", "pk")
    page_id, number, changed = None, 0, []
    for listing in pinned.only("pk", "page_id"):
        number = number + 1 if listing.page_id == page_id else 1
        page_id, listing.pin_position = listing.page_id, number
        changed.append(listing)
    PageListing.objects.bulk_update(changed, ["pin_position"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("publications", "0006_lz4_compression"),
        ("treatments", "0009_webresource_unique_position_constraint"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="pagelisting",
            name="pin_position",
            field=models.PositiveIntegerField(
                blank=True,
                editable=False,
                help_text="Order among the page's pins, from 1; empty if unpinned.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="pagelisting",
            name="added_by_hand",
            field=models.BooleanField(
                db_default=False,
                default=False,
                editable=False,
                help_text="Added by an editor, by PMID or DOI: refreshes never remove it.",
            ),
        ),
        migrations.AddField(
            model_name="pagelisting",
            name="added_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(number_pins, migrations.RunPython.noop),
        migrations.AlterModelOptions(
            name="pagelisting",
            options={"ordering": ["-pinned", "pin_position", "position", "pk"]},
        ),
        migrations.RemoveIndex(model_name="pagelisting", name="listing_page_order"),
        migrations.AddIndex(
            model_name="pagelisting",
            index=models.Index(
                fields=["page", "-pinned", "pin_position", "position", "id"], name="listing_page_order"
            ),
        ),
        migrations.AddConstraint(
            model_name="pagelisting",
            constraint=models.CheckConstraint(
                condition=models.Q(("hidden", True), ("pinned", True), _negated=True),
                name="listing_not_pinned_and_hidden",
                violation_error_message="An entry is pinned or hidden, not both: untick one of them.",
            ),
        ),
        migrations.CreateModel(
            name="Exclusion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("pmid", models.PositiveBigIntegerField(verbose_name="PMID")),
                (
                    "reason",
                    models.CharField(
                        help_text="Why it is off this page, for the other editors.", max_length=500
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "page",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="exclusions",
                        to="treatments.treatmentpage",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
                "constraints": [
                    models.UniqueConstraint(fields=("page", "pmid"), name="exclusion_unique_pmid_per_page")
                ],
            },
        ),
    ]
