"""The demo publication list: the Interleukin 2 page as readers knew it on the old site.

Those entries carry no PMIDs (the old page showed none, and we never invent one), so the first
real refresh replaces them. Loading is idempotent: a page that already has a list (the demo's,
a curated one, or one from PubMed) is left alone.
"""

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from treatments.models import TreatmentPage

from .models import PageListing, Publication

DEMO_LIST = Path(__file__).parent / "demo" / "interleukin-2.json"
PUBLICATION_FIELDS = [
    "title", "authors", "more_authors", "journal", "pub_year", "pub_season", "volume", "issue", "pages",
    "in_pmc", "pmc_release_date", "abstract",
]  # fmt: skip


@dataclass
class DemoResult:
    page: TreatmentPage
    loaded: int = 0
    skipped_reason: str = ""


def load_demo_list(path: Path = DEMO_LIST) -> DemoResult:
    data = json.loads(path.read_text(encoding="utf-8"))
    section_path, _, slug = data["page"].rpartition("/")
    page = TreatmentPage.objects.get(section__path=section_path, slug=slug)
    listings = PageListing.objects.filter(page=page)
    if listings.exists():
        return DemoResult(page, skipped_reason="the page already has a list")
    refreshed_at = timezone.make_aware(datetime.datetime.fromisoformat(data["refreshed_at"]).replace(hour=12))
    with transaction.atomic():
        for position, entry in enumerate(data["entries"]):
            publication = Publication.objects.create(**_publication_fields(entry))
            PageListing.objects.create(
                page=page, publication=publication, position=position, first_listed_at=refreshed_at
            )
        page.record_change(reason="list", at=refreshed_at)
        if page.content_changed_at > refreshed_at:
            # The demo shows the page as it stood on that day.
            page.record_change(reason="content", at=refreshed_at)
    return DemoResult(page, loaded=len(data["entries"]))


def _publication_fields(entry: dict) -> dict:
    fields = {name: entry[name] for name in PUBLICATION_FIELDS if name in entry}
    if fields.get("pmc_release_date"):
        fields["pmc_release_date"] = datetime.date.fromisoformat(fields["pmc_release_date"])
    return fields
