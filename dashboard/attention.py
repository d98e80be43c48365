"""What needs an editor's attention, for the admin's index (``templates/admin/index.html``).

Each item is a count and a link to the page list filtered to exactly those pages: the count is the
list filter's own ``rows`` (``treatments.admin_filters``) applied to the admin's own queryset, so
the number and the list never disagree. Each item is one COUNT over pages with an indexed EXISTS or
subquery per page, and the recent changes read their newest rows by primary key: the index costs
the same number of queries however many pages, refreshes, listings and revisions there are.

Editors see an item only with the admin's view permission on what it lists.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.urls import reverse

from publications.models import RefreshRun
from treatments.admin_filters import (
    DRAFT_WAITING,
    SCHEDULE_PROBLEM,
    BrokenLinksFilter,
    LastRefreshFilter,
    RetractedFilter,
    ReviewDueFilter,
    StateFilter,
)
from treatments.models import PageRevision, TreatmentPage

RECENT_CHANGES = 20

# What the index lists, in this order: (one, many, the page list's filter, its value).
PAGE_ITEMS = [
    (
        "page whose last refresh failed",
        "pages whose last refresh failed",
        LastRefreshFilter,
        RefreshRun.Status.FAILED,
    ),
    (
        "page whose last refresh was skipped",
        "pages whose last refresh was skipped",
        LastRefreshFilter,
        RefreshRun.Status.SKIPPED,
    ),
    ("page not refreshed for 7 days", "pages not refreshed for 7 days", LastRefreshFilter, "stale"),
    ("page with broken links", "pages with broken links", BrokenLinksFilter, "yes"),
    (
        "page with unpublished changes or never published",
        "pages with unpublished changes or never published",
        StateFilter,
        DRAFT_WAITING,
    ),
    ("page due for review", "pages due for review", ReviewDueFilter, "yes"),
    ("page listing a retracted paper", "pages listing a retracted paper", RetractedFilter, "yes"),
    (
        "page whose schedule is overdue or failed",
        "pages whose schedule is overdue or failed",
        StateFilter,
        SCHEDULE_PROBLEM,
    ),
]


@dataclass(frozen=True)
class Item:
    """One line of "Needs attention": how many, what (in words that agree with the number), where."""

    label: str
    count: int
    url: str


@dataclass(frozen=True)
class Change:
    """One row of "Recent changes"; ``url`` is the page's change form, None once the page is gone."""

    when: datetime.datetime
    who: str
    page: str
    url: str | None
    comment: str


def _page_admin(request, site):
    """The page admin, if this user may view pages; else None."""
    model_admin = site._registry.get(TreatmentPage)
    return model_admin if model_admin is not None and model_admin.has_view_permission(request) else None


def needs_attention(request, site=admin.site) -> list[Item]:
    """Counts of pages needing an editor, each with a link to the page list showing just those."""
    model_admin = _page_admin(request, site)
    if model_admin is None:
        return []
    pages = model_admin.get_queryset(request)
    changelist = reverse(f"{site.name}:treatments_treatmentpage_changelist")
    items = []
    for one, many, list_filter, value in PAGE_ITEMS:
        count = list_filter.rows(pages, value).count()
        url = f"{changelist}?{urlencode({list_filter.parameter_name: value})}"
        items.append(Item(one if count == 1 else many, count, url))
    return items


def recent_changes(request, site=admin.site, limit: int = RECENT_CHANGES) -> list[Change]:
    """The newest changes to pages, whoever made them: every revision (edits, drafts, publishing,
    imports, schedules, reviews, curation) and every deletion from the admin. Three queries."""
    if _page_admin(request, site) is None:
        return []
    # Newest first by primary key (rows are written as revisions commit): read from the index, not sorted.
    revisions = PageRevision.objects.order_by("-pk").values(
        "page_pk", "content__title", "revision__date_created", "revision__comment", "revision__user__username"
    )[:limit]
    deletions = (
        LogEntry.objects.filter(
            action_flag=DELETION, content_type__app_label="treatments", content_type__model="treatmentpage"
        )
        .order_by("-pk")
        .values("object_id", "object_repr", "action_time", "user__username")[:limit]
    )
    rows = [
        (row["revision__date_created"], row["revision__user__username"], row["page_pk"], row)
        for row in revisions
    ] + [(row["action_time"], row["user__username"], None, row) for row in deletions]
    rows = sorted(rows, key=lambda row: row[0], reverse=True)[:limit]
    page_pks = {pk for _, _, pk, _ in rows if pk is not None}
    existing = {
        page.pk: page for page in TreatmentPage.objects.filter(pk__in=page_pks).only("title", "other_name")
    }
    changes = []
    for when, who, page_pk, row in rows:
        if page_pk is None:
            changes.append(Change(when, who or "", row["object_repr"], None, "Deleted the page"))
            continue
        page = existing.get(page_pk)
        url = reverse(f"{site.name}:treatments_treatmentpage_change", args=[page_pk]) if page else None
        title = str(page) if page else f"{row['content__title'] or page_pk} (deleted)"
        changes.append(Change(when, who or "", title, url, row["revision__comment"]))
    return changes
