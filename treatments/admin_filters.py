"""The change list's filters and schedule column: page state, schedule problems, reviews due, last
refresh, broken links, retracted papers.

A schedule that did not fire is shown from the times alone (``OVERDUE_AFTER`` past its time), so
editors see it even when beat never ran; one that ran and failed shows the words it left on the page.

Each filter's rows come from its ``rows(queryset, value)``, which the editors' dashboard
(``dashboard.attention``) counts too: the number on the dashboard is what its link lists.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from publications.models import PageCheck, PageListing, RefreshRun

from .models import TreatmentPage, WebResource
from .scheduling import OVERDUE_AFTER, PUBLISH, UNPUBLISH, format_time
from .workflow import State

SCHEDULE_PROBLEM = "schedule_problem"
DRAFT_WAITING = "waiting"
OVERDUE_HINT = "is Celery beat running?"
# A page the nightly refresh covers with no successful refresh for this long needs a look.
REFRESH_STALE_AFTER = timedelta(days=7)


class RowsFilter(admin.SimpleListFilter):
    """A change-list filter whose ``rows(queryset, value)`` the dashboard counts with, unchanged."""

    def queryset(self, request, queryset):
        return self.rows(queryset, self.value())


class StateFilter(RowsFilter):
    """The states the change list shows (``workflow.state``), and pages that need an editor."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            *State.LABELS.items(),
            (DRAFT_WAITING, "Unpublished changes or never published"),
            (SCHEDULE_PROBLEM, "Schedule overdue or failed"),
        ]

    @classmethod
    def rows(cls, queryset, value):
        # As ``workflow.state``, the column: a publish_at makes it "Scheduled"; a live page waiting only
        # to unpublish is "Published" (its schedule column says when), so it is under that filter alone.
        not_scheduled = queryset.filter(publish_at__isnull=True)
        filters = {
            State.DRAFT: lambda: not_scheduled.filter(published=False),
            State.PUBLISHED: lambda: not_scheduled.filter(published=True, draft__isnull=True),
            State.CHANGED: lambda: not_scheduled.filter(published=True, draft__isnull=False),
            State.SCHEDULED: lambda: queryset.filter(publish_at__isnull=False),
            # Work no schedule will publish: a live page's draft, or a page never live at all.
            DRAFT_WAITING: lambda: not_scheduled.filter(
                Q(published=True, draft__isnull=False) | Q(published=False, first_published_at__isnull=True)
            ),
            SCHEDULE_PROBLEM: lambda: queryset.schedule_problems(grace=OVERDUE_AFTER),
        }
        chosen = filters.get(value)
        return chosen() if chosen else queryset


class ReviewDueFilter(RowsFilter):
    """Pages whose text is due for review: never reviewed, or past "Next review due"."""

    title = "review due"
    parameter_name = "review_due"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    @classmethod
    def rows(cls, queryset, value):
        if value == "yes":
            return queryset.review_due()
        if value == "no":
            return queryset.exclude(pk__in=TreatmentPage.objects.review_due().values("pk"))
        return queryset


class LastRefreshFilter(RowsFilter):
    """Pages whose newest refresh failed or was skipped, and pages the nightly refresh has missed.

    "Not refreshed for 7 days" is a published page with a PubMed query (what beat refreshes) and no
    successful refresh started in that time, including never: one indexed EXISTS per page.
    """

    title = "last refresh"
    parameter_name = "last_refresh"
    STALE = "stale"

    def lookups(self, request, model_admin):
        return [
            (RefreshRun.Status.FAILED, "Failed"),
            (RefreshRun.Status.SKIPPED, "Skipped"),
            (self.STALE, "Not refreshed for 7 days"),
        ]

    @classmethod
    def rows(cls, queryset, value, now=None):
        if value in (RefreshRun.Status.FAILED, RefreshRun.Status.SKIPPED):
            latest = RefreshRun.objects.filter(page=OuterRef("pk")).newest_first().values("status")[:1]
            return queryset.alias(newest_refresh_status=Subquery(latest)).filter(newest_refresh_status=value)
        if value == cls.STALE:
            since = (now or timezone.now()) - REFRESH_STALE_AFTER
            recent_ok = RefreshRun.objects.filter(
                page=OuterRef("pk"), status=RefreshRun.Status.OK, started_at__gte=since
            )
            # A pass that found nothing new leaves no run, only the page's check time.
            checked = PageCheck.objects.filter(page=OuterRef("pk"), last_checked_at__gte=since)
            return queryset.published().with_query().filter(~Exists(recent_ok), ~Exists(checked))
        return queryset


class BrokenLinksFilter(RowsFilter):
    """Pages with a web resource the link check found broken (``broken_since`` is set while it is)."""

    title = "has broken links"
    parameter_name = "broken_links"

    def lookups(self, request, model_admin):
        return [("yes", "Yes")]

    @classmethod
    def rows(cls, queryset, value):
        broken = WebResource.objects.broken().filter(page=OuterRef("pk"))
        return queryset.filter(Exists(broken)) if value == "yes" else queryset


class RetractedFilter(RowsFilter):
    """Pages that still show readers a retracted paper (a listing not hidden): hide it, or explain it."""

    title = "lists a retracted paper"
    parameter_name = "retracted"

    def lookups(self, request, model_admin):
        return [("yes", "Yes")]

    @classmethod
    def rows(cls, queryset, value):
        retracted = PageListing.objects.visible().filter(page=OuterRef("pk"), publication__is_retracted=True)
        return queryset.filter(Exists(retracted)) if value == "yes" else queryset


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
