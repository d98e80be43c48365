"""Celery tasks: thin wrappers around the treatments modules that do the work."""

from celery import shared_task

from . import linkcheck, scheduling
from .models import TreatmentPage


# Beat sends it every minute; a run is quick, and stopped before the next would pile up behind it.
@shared_task(name="treatments.run_publishing_schedule", ignore_result=True, soft_time_limit=50, time_limit=55)
def run_publishing_schedule() -> str:
    """Publish and unpublish the pages that are due. Idempotent: a second run finds nothing left to do."""
    return str(scheduling.run_publishing_schedule())


# Beat sends it weekly; a run stops starting checks after linkcheck.RUN_SECONDS and queues the rest,
# so a task never outlives the broker's visibility timeout (an hour) and is never delivered twice.
@shared_task(name="treatments.check_links", ignore_result=True, soft_time_limit=55 * 60, time_limit=58 * 60)
def check_links(page_id: int | None = None) -> str:
    """One page's links (the admin's Check links now), or every link that is due (the weekly run)."""
    if page_id is not None:
        page = TreatmentPage.objects.filter(pk=page_id).first()
        return str(linkcheck.check_page(page)) if page is not None else "No such page."
    summary = linkcheck.check_due()
    if summary.remaining and summary.outcomes:
        check_links.delay()
    return str(summary)
