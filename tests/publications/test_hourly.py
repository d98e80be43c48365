"""Hourly refreshes (issue 12): a pass with nothing new is one request and writes nothing; news comes hourly.

Every pass goes to the fake NCBI over real HTTP (the ``ncbi`` fixture); nothing is mocked.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import io
import re

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from cancerindex.celery import app as celery_app
from publications import refresh, tasks
from publications.locks import page_lock
from publications.models import (
    RECHECK_AFTER,
    RECHECK_EVERY,
    Exclusion,
    PageCheck,
    PageListing,
    Publication,
    RefreshRun,
)
from publications.refresh import list_unchanged, refresh_page, schedule_pass
from tests.factories import PageListingFactory, PublicationFactory
from tests.publications.test_refresh import (
    COLLECTIVE,
    EMBARGOED,
    GUT_2017,
    INT_J_MOL_SCI,
    OTHERS,
    QUERY,
    SEASON,
    entries,
    listing_rows,
    make_page,
    refreshed,
    render,
    serve_with_pmc_release,
)
from treatments.admin_filters import LastRefreshFilter
from treatments.models import TreatmentPage

pytestmark = pytest.mark.django_db

SCHEDULE = "Refresh publications of all published pages"
PAGE_WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b.*(treatments_treatmentpage|publications_pagelisting|"
                         r"publications_publication)", re.IGNORECASE | re.DOTALL)  # fmt: skip


@pytest.fixture
def eager_celery(monkeypatch):
    """Run tasks in-process even when REDIS_URL makes Redis the broker, so tests never queue real jobs."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)


@pytest.fixture(autouse=True)
def _no_marks_left(db):
    """Queued marks outlive a test's rows in the cache, and the next test's pages reuse their ids."""
    yield
    keys = [refresh.queued_key(pk, scheduled=s) for pk in TreatmentPage.objects.values_list("pk", flat=True)
            for s in (False, True)]  # fmt: skip
    with contextlib.suppress(Exception):  # a test that made the cache unreachable left no marks
        cache.delete_many(keys)


def checked_page(ncbi, pmids=(INT_J_MOL_SCI, GUT_2017, SEASON)) -> TreatmentPage:
    """A page whose list a first pass has filled, the fake's requests forgotten."""
    page = make_page()
    ncbi.set_search(QUERY, pmids)
    refreshed(page)
    ncbi.requests.clear()
    page.refresh_from_db()
    return page


def page_state(page: TreatmentPage) -> tuple:
    page = TreatmentPage.objects.get(pk=page.pk)
    return page.content_changed_at, page.list_refreshed_at, page.last_updated, listing_rows(page)


# A pass with nothing new


def test_a_pass_with_nothing_new_makes_one_request_and_writes_nothing(
    ncbi, django_capture_on_commit_callbacks
):
    page = checked_page(ncbi)
    before, runs = page_state(page), RefreshRun.objects.count()

    with (
        django_capture_on_commit_callbacks() as callbacks,
        CaptureQueriesContext(connection) as queries,
    ):
        run = refresh_page(page)

    assert [request.endpoint for request in ncbi.requests] == ["esearch"]
    assert page_state(page) == before  # the list, "content changed", "Page last updated"
    assert callbacks == []  # no cache purge, no feed ping: nothing was committed for readers
    assert [q["sql"] for q in queries.captured_queries if PAGE_WRITES.match(q["sql"])] == []
    assert RefreshRun.objects.count() == runs
    assert (run.status, run.recorded, run.pmids_found) == ("ok", False, 3)
    assert run.outcome() == "Checked: nothing new (PubMed found 3)."


def test_quiet_passes_add_no_runs_but_count_on_the_pages_check(ncbi):
    page = checked_page(ncbi)
    first = PageCheck.objects.get(page=page)
    assert (first.quiet_checks, first.last_changed_at) == (0, first.last_checked_at)
    runs = RefreshRun.objects.count()

    for _ in range(3):
        refresh_page(page)

    check = PageCheck.objects.get(page=page)
    assert check.quiet_checks == 3
    assert check.last_checked_at > first.last_checked_at
    assert check.last_changed_at == first.last_changed_at
    assert RefreshRun.objects.count() == runs
    assert len(ncbi.requests) == 3


def test_a_record_that_enters_between_two_passes_appears_after_the_second_in_its_place(
    ncbi, client, django_capture_on_commit_callbacks
):
    page = checked_page(ncbi, [INT_J_MOL_SCI, GUT_2017])
    old = TreatmentPage.objects.get(pk=page.pk).list_refreshed_at - datetime.timedelta(days=3)
    TreatmentPage.objects.filter(pk=page.pk).update(list_refreshed_at=old, content_changed_at=old)
    refresh_page(page)  # nothing new yet
    assert "Page last updated" in render(client, page)
    ncbi.set_search(QUERY, [INT_J_MOL_SCI, COLLECTIVE, GUT_2017])
    ncbi.requests.clear()
    runs = RefreshRun.objects.count()

    with django_capture_on_commit_callbacks() as callbacks:
        run = refreshed(page)

    assert [request.endpoint for request in ncbi.requests] == ["esearch", "efetch"]
    assert ncbi.requests_to("efetch")[0].params["id"] == str(COLLECTIVE)
    assert [row[0] for row in listing_rows(page)] == [INT_J_MOL_SCI, COLLECTIVE, GUT_2017]
    assert (run.recorded, run.publications_new, run.publications_added) == (True, 1, 1)
    assert RefreshRun.objects.count() == runs + 1
    assert callbacks, "the page's cache is purged"
    html = render(client, page)
    pmids = [int(pmid) for pmid in re.findall(r"pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/", html)]
    assert list(dict.fromkeys(pmids))[:3] == [INT_J_MOL_SCI, COLLECTIVE, GUT_2017]
    today = timezone.localdate().strftime("%d %B, %Y")
    assert re.search(r"Page last updated: <time[^>]*>" + today, html)
    check = PageCheck.objects.get(page=page)
    assert (check.quiet_checks, check.last_changed_at) == (0, check.last_checked_at)


def test_a_reorder_alone_is_a_change(ncbi):
    page = checked_page(ncbi, [INT_J_MOL_SCI, GUT_2017])
    ncbi.set_search(QUERY, [GUT_2017, INT_J_MOL_SCI])
    run = refreshed(page)
    assert run.recorded and [row[0] for row in listing_rows(page)] == [GUT_2017, INT_J_MOL_SCI]
    assert ncbi.requests_to("efetch") == []


def test_a_changed_query_with_the_same_results_is_recorded_once(ncbi):
    page = checked_page(ncbi)
    page.pubmed_query = "a new query"
    page.save()
    ncbi.set_search("a new query", [INT_J_MOL_SCI, GUT_2017, SEASON])
    before = page_state(page)

    run = refreshed(page)

    assert run.recorded and run.query_changed and run.previous_query == QUERY
    assert page_state(page)[1:] == before[1:]  # the list is the same: not a change readers see
    assert not refresh_page(page).recorded  # the next pass is quiet again


def test_a_failing_pass_is_recorded_and_counts_as_no_check(ncbi):
    page = checked_page(ncbi)
    checked_at = PageCheck.objects.get(page=page).last_checked_at
    ncbi.inject("500", endpoint="esearch", times=3)

    run = refresh_page(page)

    assert run.recorded and run.status == "failed"
    assert RefreshRun.objects.get(pk=run.pk).status == "failed"
    assert PageCheck.objects.get(page=page).last_checked_at == checked_at

    recovered = refreshed(page)  # nothing new, but editors see the page is fine again
    assert recovered.recorded and recovered.outcome().startswith("Refreshed: 0 new, 0 dropped")
    assert not refresh_page(page).recorded


def test_an_unexpected_error_is_recorded_as_a_failed_run(ncbi):
    page = checked_page(ncbi)
    client = refresh.make_client()
    client.close()  # a client that can send nothing: not one of the errors a refresh expects

    run = refresh_page(page, client=client)

    assert run.recorded and run.status == "failed" and run.error.startswith("Unexpected error")
    assert str(PageCheck.objects.get(page=page)).startswith(f"{page}: checked ")


def test_a_page_checked_this_week_is_not_listed_as_not_refreshed_for_7_days(ncbi):
    page = checked_page(ncbi)
    RefreshRun.objects.filter(page=page).update(started_at=timezone.now() - datetime.timedelta(days=8))
    refresh_page(page)  # quiet: no run, a check
    stale = LastRefreshFilter.rows(TreatmentPage.objects.all(), LastRefreshFilter.STALE)
    assert page not in stale
    PageCheck.objects.filter(page=page).update(last_checked_at=timezone.now() - datetime.timedelta(days=8))
    assert page in LastRefreshFilter.rows(TreatmentPage.objects.all(), LastRefreshFilter.STALE)


def test_refresh_now_always_records_a_run_but_writes_nothing_when_nothing_is_new(
    ncbi, django_capture_on_commit_callbacks
):
    page = checked_page(ncbi)
    before = page_state(page)
    with django_capture_on_commit_callbacks() as callbacks:
        run = refresh_page(page, full=True)
    assert run.recorded and RefreshRun.objects.get(pk=run.pk).status == "ok"
    assert [request.endpoint for request in ncbi.requests] == ["esearch"]
    assert run.outcome().startswith("Refreshed: 0 new, 0 dropped")
    assert page_state(page) == before and callbacks == []
    with page_lock(page.pk):
        skipped = refresh_page(page, full=True)
    assert skipped.recorded and RefreshRun.objects.get(pk=skipped.pk).status == "skipped"


# The daily re-check


def test_stored_records_are_rechecked_once_a_day_never_in_the_hourly_passes(ncbi, client):
    page = checked_page(ncbi)
    stale = timezone.now() - RECHECK_AFTER - datetime.timedelta(days=1)
    Publication.objects.filter(pmid=GUT_2017).update(updated_at=stale, title="A stale title.")
    Publication.objects.filter(pmid=SEASON).update(updated_at=stale)  # due, but PubMed has not changed it

    for _ in range(23):  # the rest of the day's hourly passes
        assert not refresh_page(page).recorded
    assert ncbi.requests_to("efetch") == []
    assert Publication.objects.get(pmid=GUT_2017).title == "A stale title."

    PageCheck.objects.filter(page=page).update(last_recheck_at=timezone.now() - RECHECK_EVERY)
    before = page_state(page)
    run = refreshed(page)

    (efetch,) = ncbi.requests_to("efetch")
    assert sorted(efetch.params["id"].split(",")) == sorted([str(GUT_2017), str(SEASON)])
    assert Publication.objects.get(pmid=GUT_2017).title.startswith("Leucocyte telomere length")
    assert run.recorded
    assert page_state(page)[1] > before[1]  # the corrected title changed the page
    assert PageCheck.objects.get(page=page).last_recheck_at > timezone.now() - datetime.timedelta(minutes=1)

    ncbi.requests.clear()
    assert not refresh_page(page).recorded  # the next hour: the search alone again
    assert [request.endpoint for request in ncbi.requests] == ["esearch"]


def test_a_recheck_that_changes_no_entry_does_not_change_the_page(ncbi, django_capture_on_commit_callbacks):
    page = checked_page(ncbi)
    Publication.objects.filter(pmid=SEASON).update(updated_at=timezone.now() - RECHECK_AFTER * 2)
    PageCheck.objects.filter(page=page).update(last_recheck_at=None)
    before = page_state(page)

    with django_capture_on_commit_callbacks() as callbacks:
        run = refreshed(page)

    assert [request.endpoint for request in ncbi.requests] == ["esearch", "efetch"]
    assert run.recorded  # records were written: editors see the run
    assert page_state(page) == before and callbacks == []
    assert PageCheck.objects.get(page=page).quiet_checks == 1


# The hourly schedule


def test_the_schedule_is_hourly_after_migrate_and_reversible():
    task = PeriodicTask.objects.select_related("crontab").get(name=SCHEDULE)
    assert task.enabled and task.task == "publications.refresh_all_pages"
    every = task.crontab
    assert (every.minute, every.hour, every.day_of_week, every.day_of_month, every.month_of_year) == (
        "0", "*", "*", "*", "*",
    )  # fmt: skip

    migration = importlib.import_module("publications.migrations.0009_hourly")
    migration.make_daily(apps, None)
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour) == ("0", "3")
    migration.make_hourly(apps, None)
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour) == ("0", "*")

    task.delete()  # an administrator removed it: migrating again brings it back
    migration.make_hourly(apps, None)
    assert PeriodicTask.objects.get(name=SCHEDULE).crontab.hour == "*"


def test_a_pass_spreads_the_pages_at_ncbis_pace_least_recently_checked_first(ncbi, settings):
    settings.NCBI_API_KEY = ""  # 3 requests a second
    pages = [make_page(query=f"query {n}") for n in range(4)]
    PageCheck.objects.create(page=pages[0], last_checked_at=timezone.now())
    PageCheck.objects.create(page=pages[1], last_checked_at=timezone.now() - datetime.timedelta(hours=2))

    due = schedule_pass()

    assert [page_id for page_id, _ in due] == [pages[2].pk, pages[3].pk, pages[1].pk, pages[0].pk]
    assert [countdown for _, countdown in due] == [0, 0.333, 0.667, 1.0]
    assert all(refresh.is_queued(page.pk, scheduled=True) for page in pages)
    assert not any(refresh.is_queued(page.pk) for page in pages)  # "Refresh now" stays free


def test_a_pass_that_overruns_never_queues_a_page_twice(ncbi):
    queued, running, waiting_for_refresh_now, free = (make_page(query=f"query {n}") for n in range(4))
    refresh.mark_queued(queued.pk, scheduled=True)
    refresh.mark_queued(waiting_for_refresh_now.pk)

    with page_lock(running.pk):
        assert schedule_pass() == [(free.pk, 0)]
        assert schedule_pass() == []  # the next hour's pass: everything still queued or running


def test_a_scheduled_task_that_finds_its_page_running_is_skipped_without_a_run(ncbi, eager_celery):
    page = checked_page(ncbi)
    runs = RefreshRun.objects.count()
    refresh.mark_queued(page.pk, scheduled=True)

    with page_lock(page.pk):
        assert tasks.refresh_page.apply(args=[page.pk], kwargs={"scheduled": True}).get() == "skipped"

    assert RefreshRun.objects.count() == runs
    assert ncbi.requests == []
    assert not refresh.is_queued(page.pk, scheduled=True)  # started: the next pass may queue it


def test_the_hourly_task_refreshes_each_free_page_and_skips_the_busy_one(ncbi, eager_celery):
    one, two = make_page(query="query one"), make_page(query="query two")
    ncbi.set_search("query one", [INT_J_MOL_SCI])
    ncbi.set_search("query two", [GUT_2017])

    with page_lock(two.pk):
        assert tasks.refresh_all_pages.run() == 1

    assert [row[0] for row in listing_rows(one)] == [INT_J_MOL_SCI]
    assert not RefreshRun.objects.filter(page=two).exists()
    assert not refresh.is_queued(one.pk, scheduled=True)
    assert tasks.refresh_all_pages.run() == 2  # an hour later: one is quiet, two gets its list
    assert RefreshRun.objects.filter(page=one).count() == 1
    assert [row[0] for row in listing_rows(two)] == [GUT_2017]


def test_a_pass_goes_on_when_the_cache_is_unreachable(ncbi, settings):
    page = make_page()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    assert schedule_pass() == [(page.pk, 0)]  # each refresh's lock then says whether it may run


# The command


def test_the_command_runs_one_pass_and_full_records_every_page(ncbi):
    page = checked_page(ncbi)
    runs = RefreshRun.objects.count()
    stdout = io.StringIO()

    call_command("refresh_publications", "--all", stdout=stdout)

    assert stdout.getvalue().strip() == "pages ok: 1, failed: 0; publications new: 0"
    assert RefreshRun.objects.count() == runs
    call_command("refresh_publications", "--page", page.slug, "--full", stdout=io.StringIO())
    assert RefreshRun.objects.count() == runs + 1


# What readers and editors see


def test_readers_see_when_the_latest_research_was_checked(ncbi, client):
    page = checked_page(ncbi)
    checked = timezone.localtime(PageCheck.objects.get(page=page).last_checked_at)
    html = render(client, page)
    assert f'Latest research checked: <time datetime="{checked.isoformat()}">' in html
    assert checked.strftime("%d %B, %Y, %H:%M") in html


def test_a_pass_after_a_pmc_embargo_ended_shows_the_article_free(ncbi, client):
    """The page reads PMC status as of its list's date; once an embargo on a listed entry has ended since
    then, the next pass dates the list anew, so a page checked today never says "free after" a past day."""
    released = timezone.localdate() - datetime.timedelta(days=1)
    serve_with_pmc_release(ncbi, EMBARGOED, released)
    page = checked_page(ncbi, pmids=(EMBARGOED, GUT_2017))
    # The list was last changed three days ago, while the article was still under embargo.
    TreatmentPage.objects.filter(pk=page.pk).update(
        list_refreshed_at=page.list_refreshed_at - datetime.timedelta(days=3)
    )
    embargoed = f"Article available free on PMC after {released:%d/%m/%Y}"
    assert embargoed in entries(render(client, page))[0]["links"]

    refresh_page(TreatmentPage.objects.get(pk=page.pk))  # an hourly pass: PubMed has nothing new

    (first, _) = entries(render(client, page))
    assert "Free Access to Full Article" in first["links"]
    assert embargoed not in first["links"]
    only_free = client.get(f"{page.get_absolute_url()}?only=free").content.decode()
    assert [entry["pmid"] for entry in entries(only_free)] == [EMBARGOED, GUT_2017]


def test_editors_see_each_pages_last_check_and_change(ncbi, editor_client):
    page = checked_page(ncbi)
    refresh_page(page)
    check = PageCheck.objects.get(page=page)
    checked = f"{timezone.localtime(check.last_checked_at):%Y-%m-%d %H:%M}"
    changed = f"{timezone.localtime(check.last_changed_at):%Y-%m-%d %H:%M}"
    never_checked = make_page(query="")

    listing = editor_client.get("/admin/treatments/treatmentpage/").content.decode()
    assert "Last check (change)" in listing
    assert f"{checked} ({changed})" in listing
    assert "never" in listing  # the page without a check

    form = editor_client.get(f"/admin/treatments/treatmentpage/{page.pk}/change/").content.decode()
    assert f"Last checked {checked} (1 check with nothing new since the last change" in form
    assert "stored records last re-checked" in form
    new_form = editor_client.get(f"/admin/treatments/treatmentpage/{never_checked.pk}/change/")
    assert "Never refreshed." in new_form.content.decode()


# The quiet check reads the list as ``replace_for_page`` would write it


def _case_listings(page):
    listed = {pmid: PublicationFactory(pmid=pmid) for pmid in OTHERS[:6]}
    for position, pmid in enumerate(OTHERS[:3]):
        PageListingFactory(page=page, publication=listed[pmid], position=position)
    PageListingFactory(page=page, publication=listed[OTHERS[3]], position=7, pinned=True)
    PageListingFactory(page=page, publication=listed[OTHERS[4]], position=8, hidden=True)
    PublicationFactory(pmid=OTHERS[6])
    return listed


@pytest.mark.parametrize(
    ("search", "excluded", "unchanged"),
    [
        (OTHERS[:3], [], True),  # the pinned and hidden entries stay, whatever the search finds
        (OTHERS[:2], [], False),  # one leaves
        ([OTHERS[1], OTHERS[0], OTHERS[2]], [], False),  # reordered
        ([*OTHERS[:3], OTHERS[6]], [], False),  # one joins
        ([*OTHERS[:3], OTHERS[6]], [OTHERS[6]], True),  # ...but editors excluded it
        (OTHERS[:3], [OTHERS[3]], False),  # an excluded pin leaves
        ([OTHERS[0], OTHERS[5], OTHERS[1], OTHERS[2]], [OTHERS[5]], True),  # excluded: the rest keep place
    ],
)
def test_the_quiet_check_agrees_with_what_the_refresh_writes(search, excluded, unchanged):
    page = make_page()
    listed = _case_listings(page)
    for pmid in excluded:
        Exclusion.objects.create(page=page, pmid=pmid, reason="off topic")
    before = listing_rows(page)

    assert list_unchanged(page, search) is unchanged
    ranked = [(listed.get(pmid) or Publication.objects.get(pmid=pmid)).pk for pmid in search]
    PageListing.objects.replace_for_page(page, ranked)
    assert (listing_rows(page) == before) is unchanged


def test_an_entry_without_a_pmid_is_replaced_by_the_first_pass(ncbi):
    page = make_page()
    PageListingFactory(page=page, publication=PublicationFactory(pmid=None))
    ncbi.set_search(QUERY, [GUT_2017])
    assert refreshed(page).recorded
    assert [row[0] for row in listing_rows(page)] == [GUT_2017]
