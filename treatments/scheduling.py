"""Scheduled publishing: Celery beat runs this every minute to publish and unpublish pages that are due.

Each page is handled in a transaction of its own, its row locked with SKIP LOCKED and checked again
once locked, so two runs at once (a slow run overlapping the next, two beats) never act on a page
twice, and one page's failure never stops the others. A failure is written on the page in words for
editors (``schedule_error``) and its schedule is kept, so the admin shows it as failed and overdue
rather than nothing happening; the next run tries again, so fixing the page is enough.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from . import workflow
from .models import TreatmentPage

logger = logging.getLogger(__name__)

PUBLISH, UNPUBLISH = "publish", "unpublish"
# Beat runs every minute: a schedule still waiting this long after its time has not fired.
OVERDUE_AFTER = timedelta(minutes=5)


@dataclass
class Summary:
    """What one run did, by page id; the task returns it as text for the worker's log."""

    published: list[int] = field(default_factory=list)
    unpublished: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def __str__(self):
        return (
            f"published {len(self.published)}, unpublished {len(self.unpublished)}, failed {len(self.failed)}"
        )


def run_publishing_schedule(now=None) -> Summary:
    """Publish every page whose publish_at has come and unpublish every page whose unpublish_at has."""
    now = now or timezone.now()
    summary = Summary()
    due = TreatmentPage.objects.schedule_due(now).order_by("pk").values_list("pk", flat=True)
    for page_id in list(due):
        _run_page(page_id, now, summary)
    return summary


def _run_page(page_id: int, now, summary: Summary) -> None:
    """Carry out one page's due actions, oldest first, under its row lock; a failure stops there."""
    with transaction.atomic():
        page = (
            TreatmentPage.objects.select_for_update(skip_locked=True)
            .schedule_due(now)
            .filter(pk=page_id)
            .first()
        )
        if page is None:  # another run holds it, or has already acted
            return
        previous_error = page.schedule_error  # a failed action may leave the instance half-changed
        for action in due_actions(page, now):
            try:
                with transaction.atomic():
                    _act(page, action)
            except Exception as exc:
                _record_failure(page.pk, action, exc, now, previous_error)
                summary.failed.append(page.pk)
                return
            (summary.published if action == PUBLISH else summary.unpublished).append(page.pk)


def due_actions(page: TreatmentPage, now) -> list[str]:
    """The page's due actions in the order of their times (publish first on a tie)."""
    times = {PUBLISH: page.publish_at, UNPUBLISH: page.unpublish_at}
    due = [(at, action != PUBLISH, action) for action, at in times.items() if at is not None and at <= now]
    return [action for _, _, action in sorted(due)]


def _act(page: TreatmentPage, action: str) -> None:
    """Publish clears any schedule error itself; an unpublish that worked clears its own old one."""
    if action == PUBLISH:
        workflow.publish(page)
        return
    workflow.unpublish(page)
    if page.schedule_error.startswith(_failure_prefix(UNPUBLISH)):
        page.schedule_error = ""
        TreatmentPage.objects.filter(pk=page.pk).update(schedule_error="")


def _record_failure(page_id: int, action: str, exc: Exception, now, previous_error: str) -> None:
    """Write why on the page (its schedule stays, so it shows as failed); a repeat keeps its time."""
    if isinstance(exc, workflow.NotPublishable):
        reason = str(exc)
    else:
        logger.exception("Scheduled %s of page %s failed", action, page_id)
        reason = f"An unexpected error ({type(exc).__name__}); a developer can find it in the worker's log."
    prefix = _failure_prefix(action)
    if previous_error.startswith(prefix) and previous_error.endswith(f": {reason}"):
        return  # the same failure as the last run's: keep the time it first happened
    message = f"{prefix} at {format_time(now)}: {reason}"
    TreatmentPage.objects.filter(pk=page_id).update(schedule_error=message)


def forget_failure(page: TreatmentPage, changed: list[str]) -> None:
    """A failure is about the time the run tried: once an editor changes or clears that time, it is gone
    (kept, it was shown and warned about with nothing scheduled, or instead of the new time)."""
    for action in (PUBLISH, UNPUBLISH):
        if f"{action}_at" in changed and page.schedule_error.startswith(_failure_prefix(action)):
            page.schedule_error = ""


def _failure_prefix(action: str) -> str:
    return f"Scheduled {action} failed"


def format_time(moment) -> str:
    """A time as editors read it, in the site's time zone: "25 Nov 2026, 16:51 GMT"."""
    return timezone.localtime(moment).strftime("%d %b %Y, %H:%M %Z")
