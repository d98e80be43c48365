"""Review dates: when an editor last checked a page's text, who did, and when it is due again.

Reviewing is not editing: it moves "Page last reviewed", never "Page last updated" (which edits and
the nightly refresh move), and it is a revision of its own, so the page's history says who vouched
for the text and when.
"""

from __future__ import annotations

from datetime import timedelta

import reversion
from django.db import transaction
from django.utils import timezone

from .models import TreatmentPage

REVIEW_INTERVAL = timedelta(days=365)
REVIEW_FIELDS = ["last_reviewed_at", "last_reviewed_by", "next_review_due"]


@transaction.atomic
def mark_reviewed(page: TreatmentPage, user, on=None) -> None:
    """Record that ``user`` reviewed the text on ``on`` (today); the next review is due a year later."""
    on = on or timezone.localdate()
    with reversion.create_revision():
        page.last_reviewed_at = on
        page.last_reviewed_by = user
        page.next_review_due = on + REVIEW_INTERVAL
        page.save(update_fields=REVIEW_FIELDS)
        reversion.set_user(user)
        reversion.set_comment("Marked as reviewed")
        reversion.add_to_revision(page)
