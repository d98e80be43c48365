"""The ways a refresh is started: `manage.py refresh_publications`, the Celery tasks, the hourly schedule.

Each runs real refreshes against the fake NCBI server (the ``ncbi`` fixture), nothing mocked.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_celery_beat.models import PeriodicTask

from cancerindex.celery import app as celery_app
from publications import tasks
from publications.models import PageListing, Publication, RefreshRun
from tests.factories import SectionFactory, TreatmentPageFactory

pytestmark = pytest.mark.django_db

DEMO_QUERY = "(interleukin-2[tiab] OR aldesleukin[tiab]) AND neoplasms[mh]"
FIRST = [39769357, 34843274, 27797938]
SECOND = [27797938, 23657305]


def run_command(*args: str) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("refresh_publications", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def listed_pmids(page) -> list[int]:
    return list(
        PageListing.objects.filter(page=page).order_by("position").values_list("publication__pmid", flat=True)
    )


@pytest.fixture
def pages(ncbi):
    """Two published pages with queries, a draft with one and a published page without one."""
    ncbi.set_search("query one", FIRST)
    ncbi.set_search("query two", SECOND)
    ncbi.set_search("draft query", [23657305])
    return {
        "one": TreatmentPageFactory(pubmed_query="query one"),
        "two": TreatmentPageFactory(pubmed_query="query two"),
        "draft": TreatmentPageFactory(pubmed_query="draft query", published=False),
        "no query": TreatmentPageFactory(pubmed_query=""),
    }


# the command


def test_all_refreshes_every_published_page_with_a_query(pages):
    out, _err = run_command("--all")

    assert out.strip() == "pages ok: 2, failed: 0; publications new: 4"
    assert listed_pmids(pages["one"]) == FIRST
    assert listed_pmids(pages["two"]) == SECOND
    assert not RefreshRun.objects.filter(page__in=[pages["draft"], pages["no query"]]).exists()
    assert list(RefreshRun.objects.values_list("status", flat=True)) == ["ok", "ok"]


@pytest.mark.parametrize(
    "name", ["interleukin-2", "treatments/biological-therapies/interleukin-2", "/interleukin-2/"]
)
def test_page_by_slug_or_path(ncbi, demo_page, name):
    ncbi.set_search(DEMO_QUERY, FIRST)

    out, _err = run_command("--page", name)

    assert out.strip() == "pages ok: 1, failed: 0; publications new: 3"
    assert listed_pmids(demo_page) == FIRST
    assert not Publication.objects.filter(pmid__isnull=True).exists()  # the demo list is replaced


def test_several_pages_by_slug(pages):
    out, _err = run_command("--page", pages["two"].slug, "--page", pages["one"].path)

    assert out.strip() == "pages ok: 2, failed: 0; publications new: 4"
    assert listed_pmids(pages["one"]) == FIRST


def test_a_failing_page_fails_the_command_after_refreshing_the_others(ncbi, pages):
    broken = TreatmentPageFactory(pubmed_query="finds nothing", title="AAA first in order")
    ncbi.inject("400", endpoint="esearch")  # the first page refreshed: "AAA first in order"

    with pytest.raises(CommandError) as caught:
        run_command("--all")

    assert str(caught.value) == "1 of 3 pages failed to refresh."
    assert caught.value.returncode == 1  # manage.py exits non-zero
    assert RefreshRun.objects.get(page=broken).status == "failed"
    assert "Invalid query" in RefreshRun.objects.get(page=broken).error
    assert listed_pmids(pages["one"]) == FIRST
    assert listed_pmids(pages["two"]) == SECOND


def test_the_summary_and_each_failure_are_printed(ncbi, pages):
    broken = TreatmentPageFactory(pubmed_query="finds nothing")
    stdout, stderr = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError):
        call_command("refresh_publications", "--all", stdout=stdout, stderr=stderr)

    assert stdout.getvalue().strip() == "pages ok: 2, failed: 1; publications new: 4"
    assert f"{broken.path}: failed: PubMed found nothing for this query" in stderr.getvalue()


@pytest.mark.parametrize("args", [(), ("--all", "--page", "interleukin-2")], ids=["neither", "both"])
def test_page_or_all_is_required_but_not_both(ncbi, args):
    with pytest.raises(CommandError, match=r"--page SLUG .* or use --all"):
        run_command(*args)
    assert not RefreshRun.objects.exists()
    assert ncbi.requests == []


def test_an_unknown_page_is_named(ncbi, pages):
    with pytest.raises(CommandError) as caught:
        run_command("--page", pages["one"].slug, "--page", "no-such-page")

    assert "no-such-page" in str(caught.value) and "no page" in str(caught.value)
    assert not RefreshRun.objects.exists()  # nothing is refreshed when a name is wrong
    assert ncbi.requests == []


def test_an_ambiguous_slug_asks_for_the_path(ncbi):
    for section in (SectionFactory(slug="drugs", path="drugs"), SectionFactory(slug="other", path="other")):
        TreatmentPageFactory(section=section, slug="same-slug", pubmed_query="q")

    with pytest.raises(CommandError, match="same-slug: 2 pages"):
        run_command("--page", "same-slug")


# the Celery tasks


@pytest.fixture
def eager_celery(monkeypatch):
    """Run tasks in-process even when REDIS_URL makes Redis the broker, so tests never queue real jobs."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)


def test_refresh_all_pages_refreshes_one_page_per_published_page_with_a_query(pages, eager_celery):
    assert tasks.refresh_all_pages.run() == 2

    refreshed = dict(RefreshRun.objects.values_list("page_id", "status"))
    assert refreshed == {pages["one"].pk: "ok", pages["two"].pk: "ok"}
    assert listed_pmids(pages["one"]) == FIRST
    assert listed_pmids(pages["two"]) == SECOND


def test_the_page_task_returns_the_runs_status(pages, ncbi):
    assert tasks.refresh_page.apply(args=[pages["one"].pk]).get() == "ok"
    ncbi.inject("500", endpoint="esearch", times=3)
    assert tasks.refresh_page.apply(args=[pages["two"].pk]).get() == "failed"
    assert tasks.refresh_page.apply(args=[10**9]).get() == "page gone"
    assert listed_pmids(pages["one"]) == FIRST
    assert not PageListing.objects.filter(page=pages["two"]).exists()


def test_the_hourly_schedule_is_in_the_database():
    task = PeriodicTask.objects.select_related("crontab").get(
        name="Refresh publications of all published pages"
    )

    assert task.task == "publications.refresh_all_pages"
    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("*", "0")  # every hour (migration 0007)
    assert (task.crontab.day_of_week, task.crontab.day_of_month, task.crontab.month_of_year) == (
        "*",
        "*",
        "*",
    )
    assert str(task.crontab.timezone) == "America/New_York"
    assert task.task in celery_app.tasks  # beat would find the task it names
