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
# What the old site showed for a title cut at inline markup; the tests compare with it, the site does not.
SEED_ONLY_KEYS = {"seed_title"}


@dataclass
class DemoResult:
    page: TreatmentPage
    loaded: int = 0
    skipped_reason: str = ""


def load_demo_list(path: Path = DEMO_LIST) -> DemoResult:
    data = json.loads(path.read_text(encoding="utf-8"))
    page = TreatmentPage.objects.get_by_path(data["page"])
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
    """An entry's values, converted by the model's own fields; an unknown key fails loudly."""
    fields = {}
    for name, value in entry.items():
        if name not in SEED_ONLY_KEYS:
            fields[name] = Publication._meta.get_field(name).to_python(value)
    return fields
