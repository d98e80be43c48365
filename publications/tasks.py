"""Celery tasks: thin wrappers that find the page and call publications.refresh."""

from celery import shared_task

from treatments.models import TreatmentPage

from . import refresh
from .models import RefreshRun


# Stopped well before the page's lock expires (refresh.LOCK_SECONDS), so two never overlap.
@shared_task(
    name="publications.refresh_page",
    bind=True,
    ignore_result=True,
    soft_time_limit=20 * 60,
    time_limit=25 * 60,
)
def refresh_page(self, page_id: int, scheduled: bool = False) -> str:
    """Refresh one page: beat's hourly pass (``scheduled``), or else a full refresh ("Refresh now").

    Idempotent: running it twice leaves the same list. The task id names the job, so a redelivered
    task (its worker died) takes over its own lock.
    """
    page = TreatmentPage.objects.filter(pk=page_id).first()
    if page is None:
        return "page gone"
    return refresh.refresh_page(page, job=self.request.id, full=not scheduled).status


@shared_task(name="publications.refresh_all_pages", ignore_result=True)
def refresh_all_pages() -> int:
    """Beat's hourly pass: one task per page (one failure does not stop the rest), spread at NCBI's
    pace; pages still queued or running from the last pass are left to it (``refresh.schedule_pass``)."""
    due = refresh.schedule_pass()
    for page_id, countdown in due:
        refresh_page.apply_async((page_id,), {"scheduled": True}, countdown=countdown)
    return len(due)


@shared_task(name="publications.prune_refresh_runs", ignore_result=True)
def prune_refresh_runs() -> int:
    """Beat's daily clean-up of old refresh runs (``RefreshRunQuerySet.prune`` says what is kept)."""
    return RefreshRun.objects.prune()
