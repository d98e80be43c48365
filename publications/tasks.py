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
def refresh_page(self, page_id: int) -> str:
    """Refresh one page. Idempotent: running it twice leaves the same list.

    The task id names the job, so a redelivered task (its worker died) takes over its own lock.
    """
    page = TreatmentPage.objects.filter(pk=page_id).first()
    if page is None:
        return "page gone"
    return refresh.refresh_page(page, job=self.request.id).status


@shared_task(name="publications.refresh_all_pages", ignore_result=True)
def refresh_all_pages() -> int:
    """Beat's daily job: one task per published page, so one failure does not stop the rest."""
    page_ids = list(TreatmentPage.objects.published().with_query().values_list("pk", flat=True))
    for page_id in page_ids:
        refresh_page.delay(page_id)
    return len(page_ids)


@shared_task(name="publications.prune_refresh_runs", ignore_result=True)
def prune_refresh_runs() -> int:
    """Beat's daily clean-up of old refresh runs (``RefreshRunQuerySet.prune`` says what is kept)."""
    return RefreshRun.objects.prune()
