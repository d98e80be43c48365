"""The change list's filters and schedule column: page state, schedule problems, reviews due.

A schedule that did not fire is shown from the times alone (``OVERDUE_AFTER`` past its time), so
editors see it even when beat never ran; one that ran and failed shows the words it left on the page.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from .models import TreatmentPage
from .scheduling import OVERDUE_AFTER, PUBLISH, UNPUBLISH, format_time
from .workflow import State

SCHEDULE_PROBLEM = "schedule_problem"
OVERDUE_HINT = "is Celery beat running?"


class StateFilter(admin.SimpleListFilter):
    """The states the change list shows (``workflow.state``), and schedules that need an editor."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [*State.LABELS.items(), (SCHEDULE_PROBLEM, "Schedule overdue or failed")]

    def queryset(self, request, queryset):
        not_scheduled = queryset.filter(publish_at__isnull=True)  # a publish_at makes it "Scheduled"
        filters = {
            State.DRAFT: lambda: not_scheduled.filter(published=False),
            State.PUBLISHED: lambda: not_scheduled.filter(published=True, draft__isnull=True),
            State.CHANGED: lambda: not_scheduled.filter(published=True, draft__isnull=False),
            State.SCHEDULED: queryset.scheduled,  # waiting to publish or to unpublish
            SCHEDULE_PROBLEM: lambda: queryset.schedule_problems(grace=OVERDUE_AFTER),
        }
        chosen = filters.get(self.value())
        return chosen() if chosen else queryset


class ReviewDueFilter(admin.SimpleListFilter):
    """Pages whose text is due for review: never reviewed, or past "Next review due"."""

    title = "review due"
    parameter_name = "review_due"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.review_due()
        if self.value() == "no":
            return queryset.exclude(pk__in=TreatmentPage.objects.review_due().values("pk"))
        return queryset


def schedule_status(page: TreatmentPage, now=None) -> str:
    """The page's schedule in words: when it publishes or unpublishes, or why that has not happened."""
    now = now or timezone.now()
    parts = [page.schedule_error] if page.schedule_error else []
    for action, at in ((PUBLISH, page.publish_at), (UNPUBLISH, page.unpublish_at)):
        if at is None or page.schedule_error.startswith(f"Scheduled {action} failed"):
            continue
        if at <= now - OVERDUE_AFTER:
            parts.append(f"Scheduled {action} is overdue (due {format_time(at)}) — {OVERDUE_HINT}")
        else:
            parts.append(f"{action.capitalize()}es at {format_time(at)}")
    return " ".join(parts)


@admin.display(description="schedule")
def schedule_column(page: TreatmentPage) -> str:
    """``schedule_status`` as a change-list column (list_display takes the function itself)."""
    return schedule_status(page)


def schedule_warnings(now=None) -> list[str]:
    """What the change list warns about on every visit, so a schedule never fails unseen."""
    pages = TreatmentPage.objects
    overdue = pages.schedule_overdue(now, grace=OVERDUE_AFTER).filter(schedule_error="").count()
    failed = pages.schedule_failed().count()
    warnings = []
    if overdue:
        warnings.append(
            f"Scheduled publish is overdue — {OVERDUE_HINT} ({_pages(overdue)}; "
            "filter by state “Schedule overdue or failed”.)"
        )
    if failed:
        warnings.append(
            f"A scheduled publish or unpublish failed for {_pages(failed)}: "
            "filter by state “Schedule overdue or failed” to see why."
        )
    return warnings


def _pages(count: int) -> str:
    return f"{count} page{'s' if count != 1 else ''}"
