"""Celery tasks: thin wrappers around the treatments modules that do the work."""

from celery import shared_task

from . import scheduling


# Beat sends it every minute; a run is quick, and stopped before the next would pile up behind it.
@shared_task(name="treatments.run_publishing_schedule", ignore_result=True, soft_time_limit=50, time_limit=55)
def run_publishing_schedule() -> str:
    """Publish and unpublish the pages that are due. Idempotent: a second run finds nothing left to do."""
    return str(scheduling.run_publishing_schedule())
