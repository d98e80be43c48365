"""Admin lists and search cost a fixed number of queries at any size; old refresh runs are pruned.

Counts only, never timings (``benchmarks/scale.py`` prints those at 3,000 pages, 300,000 listings
and 50,000 publications).
"""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from publications import tasks
from publications.admin import EstimatedCountPaginator
from publications.models import KEEP_RUNS_FOR, PageListing, Publication, RefreshRun
from tests.factories import SectionFactory, TreatmentPageFactory
from tests.treatments.test_scale import LARGE, SMALL, add_pages, add_publications, list_on, queries_for
from treatments.models import PageRevision, TreatmentPage

pytestmark = pytest.mark.django_db

PUBLICATIONS = "/admin/publications/publication/"
RUNS = "/admin/publications/refreshrun/"
LISTINGS = "/admin/publications/pagelisting/"


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin", password="a-long-passphrase"))
    return client


def same_queries_at_both_sizes(client, url, grow, params=None):
    """Queries for ``url`` before and after ``grow()`` made the data 100 times bigger."""
    small, _ = queries_for(client, url, data=params or {})
    grow()
    large, response = queries_for(client, url, data=params or {})
    assert large == small, f"{url} {params}: {small} queries at the small size, {large} at the large"
    return response


def test_the_publication_list_costs_the_same_queries_at_30_and_3000(admin_client):
    add_publications(SMALL)
    response = same_queries_at_both_sizes(admin_client, PUBLICATIONS, lambda: add_publications(LARGE))
    assert len(response.content) < 300_000


@pytest.mark.parametrize("term", ["20000005", "Trial", "Author2000"])
def test_publication_search_costs_the_same_queries_at_30_and_3000(admin_client, term):
    add_publications(SMALL)
    same_queries_at_both_sizes(admin_client, PUBLICATIONS, lambda: add_publications(LARGE), {"q": term})


def test_the_publication_list_never_loads_records_or_counts_the_whole_table(admin_client):
    add_publications(3)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(PUBLICATIONS, {"q": "Trial"})
    sql = [q["sql"] for q in queries if "publications_publication" in q["sql"]]
    assert sql and not any("source_xml" in s or "rendered_entry" in s for s in sql)
    assert sum("COUNT(" in s for s in sql) == 1  # the search's count, never the whole table's too


def test_a_pmid_is_an_exact_lookup_and_words_search_titles_and_authors(admin_client):
    first, second = add_publications(2)
    html = admin_client.get(PUBLICATIONS, {"q": str(first.pmid)}).content.decode()
    assert first.title in html and second.title not in html
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(PUBLICATIONS, {"q": f"{first.pmid}, {second.pmid}"})
    sql = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]  # not the estimate's EXPLAIN
    searched = [s for s in sql if '"publications_publication"."pmid" IN' in s]
    assert len(searched) == 2 and not any("LIKE" in q["sql"] for q in queries)  # count and page
    html = admin_client.get(PUBLICATIONS, {"q": f"author{second.pmid}"}).content.decode()
    assert second.title in html and first.title not in html


def add_runs(pages, *, ago=datetime.timedelta(0), status="ok"):
    started = timezone.now() - ago
    RefreshRun.objects.bulk_create(
        [RefreshRun(page_id=pk, started_at=started, status=status) for pk in pages], batch_size=500
    )


def test_the_refresh_run_list_costs_the_same_queries_for_1_and_3000_pages(admin_client):
    section = SectionFactory()
    add_pages(section, 1)
    add_runs(TreatmentPage.objects.values_list("pk", flat=True))

    def grow():
        add_pages(SectionFactory(), LARGE)
        add_runs(TreatmentPage.objects.values_list("pk", flat=True), status="failed")

    response = same_queries_at_both_sizes(admin_client, RUNS, grow)
    html = response.content.decode()
    assert html.count("Bulk treatment") <= 2 * 100  # the list's rows, no filter of 3,000 pages
    assert len(response.content) < 300_000
    status = same_queries_at_both_sizes(admin_client, RUNS, lambda: None, {"status__exact": "failed"})
    assert status.status_code == 200


def test_the_refresh_runs_of_one_page_are_a_link_and_pages_are_found_by_title(admin_client):
    page, other = TreatmentPageFactory(title="Interleukin 2"), TreatmentPageFactory(title="Pembrolizumab")
    add_runs([page.pk, other.pk])
    html = admin_client.get(RUNS, {"page__id__exact": page.pk}).content.decode()
    assert html.count("Interleukin 2") >= 2 and "Pembrolizumab" not in html  # the row and the filter
    html = admin_client.get(RUNS, {"q": "pembro"}).content.decode()
    assert "Pembrolizumab" in html and "Interleukin 2" not in html


# --- The whole list of one page, paginated --------------------------------------------------------


def test_a_pages_whole_list_is_paginated_at_any_size(admin_client):
    page = TreatmentPageFactory()
    list_on(page, SMALL)
    url = f"{LISTINGS}?page__id__exact={page.pk}"
    response = same_queries_at_both_sizes(admin_client, url, lambda: list_on(page, LARGE))
    assert response.content.decode().count('name="_selected_action"') == 100
    assert len(response.content) < 300_000


def test_entries_far_down_the_list_are_pinned_and_hidden_from_it_in_the_pages_history(admin_client):
    page = TreatmentPageFactory()
    list_on(page, 300)
    far_down = PageListing.objects.filter(page=page).order_by("-position")[:2]
    before = page.content_changed_at
    for action, listing in zip(["pin", "hide"], far_down, strict=True):
        data = {"action": action, "_selected_action": [listing.pk]}
        response = admin_client.post(f"{LISTINGS}?page__id__exact={page.pk}", data)
        assert response.status_code == 302
    pinned, hidden = (PageListing.objects.get(pk=listing.pk) for listing in far_down)
    assert pinned.pinned and hidden.hidden
    page.refresh_from_db()
    assert page.content_changed_at > before
    changes = [
        change for revision in PageRevision.objects.filter(page_pk=page.pk) for change in revision.changes
    ]
    assert any(change.startswith("Pinned:") for change in changes)
    assert any(change.startswith("Hidden:") for change in changes)


# --- Pruning refresh runs --------------------------------------------------------------------------


def test_pruning_keeps_90_days_and_each_pages_latest_run_and_latest_failure():
    quiet, failing, fine = TreatmentPageFactory(), TreatmentPageFactory(), TreatmentPageFactory()
    old = KEEP_RUNS_FOR + datetime.timedelta(days=1)
    for ago in (400, 300, 200):  # a page not refreshed for months keeps its latest run only
        add_runs([quiet.pk], ago=datetime.timedelta(days=ago))
    add_runs([failing.pk], ago=old * 3, status="failed")
    add_runs([failing.pk], ago=old * 2, status="failed")
    add_runs([failing.pk, fine.pk], ago=old)
    add_runs([failing.pk, fine.pk], ago=datetime.timedelta(days=2))
    add_runs([failing.pk, fine.pk], ago=datetime.timedelta(days=1))

    assert RefreshRun.objects.prune(batch=2) == 2 + 1 + 2

    kept = RefreshRun.objects.order_by("page_id", "started_at")
    ages = {(run.page_id, (timezone.now() - run.started_at).days, run.status) for run in kept}
    assert ages == {
        (quiet.pk, 200, "ok"),
        (failing.pk, (old * 2).days, "failed"),
        (failing.pk, 2, "ok"),
        (failing.pk, 1, "ok"),
        (fine.pk, 2, "ok"),
        (fine.pk, 1, "ok"),
    }
    assert RefreshRun.objects.prune() == 0


def test_beat_prunes_daily_through_a_thin_task():
    schedule = PeriodicTask.objects.get(task="publications.prune_refresh_runs")
    assert schedule.enabled and schedule.crontab.hour == "4"
    page = TreatmentPageFactory()
    add_runs([page.pk, page.pk], ago=KEEP_RUNS_FOR * 2)
    assert tasks.prune_refresh_runs() == 1


def test_a_count_is_exact_below_the_estimate_threshold():
    add_publications(5)
    assert EstimatedCountPaginator(Publication.objects.all(), 2).count == 5


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the planner's estimate is PostgreSQL's")
def test_a_long_list_shows_the_planners_estimate_not_a_count(monkeypatch):
    monkeypatch.setattr("publications.admin.EXACT_COUNT_BELOW", 1000)
    add_publications(LARGE)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE publications_publication")
    paginator = EstimatedCountPaginator(Publication.objects.all(), 100)
    with CaptureQueriesContext(connection) as queries:
        estimate = paginator.count
    assert estimate == paginator.count and not any("COUNT(" in q["sql"] for q in queries)
