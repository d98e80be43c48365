"""Stored records are fetched again once they are old, so later retractions and deletions reach readers."""

import datetime
import uuid

import pytest
from django.utils import timezone

from publications.locks import LOCK_SECONDS, page_lock
from publications.models import RECHECK_AFTER, RECHECK_EVERY, PageCheck, Publication, RefreshRun
from publications.refresh import refresh_page
from tests.factories import PageListingFactory, PublicationFactory
from tests.publications.test_refresh import (
    GUT_2017,
    QUERY,
    SEASON,
    article,
    listed_pmids,
    make_page,
    refreshed,
)
from treatments.changes import page_changed

pytestmark = pytest.mark.django_db

RETRACTED_LATER = 41_000_031


def age(pmids, *, by):
    Publication.objects.filter(pmid__in=pmids).update(updated_at=timezone.now() - by)


def a_day_passes(page):
    """The page's daily re-check is due again: the hourly passes in between re-check nothing."""
    PageCheck.objects.filter(page=page).update(last_recheck_at=timezone.now() - RECHECK_EVERY)


def test_old_records_are_fetched_again_and_updated(ncbi):
    page = make_page()
    ncbi.set_search(QUERY, [GUT_2017, SEASON])
    refreshed(page)
    Publication.objects.filter(pmid=GUT_2017).update(title="A stale title.")
    age([GUT_2017], by=RECHECK_AFTER + datetime.timedelta(days=1))
    a_day_passes(page)
    ncbi.requests.clear()

    run = refreshed(page)

    (efetch,) = ncbi.requests_to("efetch")
    assert efetch.params["id"] == str(GUT_2017), "only the old record is fetched again"
    assert run.status == "ok" and run.publications_new == 0
    assert Publication.objects.get(pmid=GUT_2017).title.startswith("Leucocyte telomere length")
    assert listed_pmids(page) == [GUT_2017, SEASON]


def test_recent_records_are_not_fetched_again(ncbi):
    page = make_page()
    ncbi.set_search(QUERY, [GUT_2017, SEASON])
    refreshed(page)
    age([GUT_2017, SEASON], by=RECHECK_AFTER - datetime.timedelta(days=1))
    ncbi.requests.clear()
    refreshed(page)
    assert ncbi.requests_to("efetch") == []


def test_a_record_retracted_after_it_was_stored_gets_its_warning(ncbi, client):
    page = make_page()
    ncbi.add_article(article(RETRACTED_LATER, title="Later retracted."))
    ncbi.set_search(QUERY, [RETRACTED_LATER])
    refreshed(page)
    assert not Publication.objects.get(pmid=RETRACTED_LATER).is_retracted

    ncbi.extra_articles[RETRACTED_LATER] = article(
        RETRACTED_LATER,
        title="Later retracted.",
        publication_types=("Journal Article", "Retracted Publication"),
    )
    age([RETRACTED_LATER], by=RECHECK_AFTER * 2)
    a_day_passes(page)
    refreshed(page)

    assert Publication.objects.get(pmid=RETRACTED_LATER).is_retracted
    assert "Retracted publication" in client.get(page.get_absolute_url()).content.decode()


def test_a_deletion_tells_every_page_that_listed_it(ncbi):
    refreshing, other = make_page(), make_page(query="something else")
    deleted = PublicationFactory(pmid=41_000_041)
    PageListingFactory(page=other, publication=deleted)
    PageListingFactory(page=refreshing, publication=deleted)
    age([deleted.pmid], by=RECHECK_AFTER * 2)
    ncbi.extra_articles[deleted.pmid] = (
        f'<DeleteCitation><PMID Version="1">{deleted.pmid}</PMID></DeleteCitation>'
    )
    ncbi.set_search(QUERY, [GUT_2017, deleted.pmid])
    changed = []
    page_changed.connect(receiver := lambda page, **kw: changed.append(page.pk), weak=False)
    try:
        run = refreshed(refreshing)
    finally:
        page_changed.disconnect(receiver)

    assert run.status == "ok", run.error
    assert not Publication.objects.filter(pmid=deleted.pmid).exists()
    assert listed_pmids(refreshing) == [GUT_2017]
    assert listed_pmids(other) == []
    assert sorted(changed) == sorted([refreshing.pk, other.pk])


def test_records_pubmed_found_but_did_not_send_are_reported(ncbi):
    page = make_page()
    ncbi.set_search(QUERY, [GUT_2017, 41_999_999])  # the fake has no such article, as NCBI sometimes
    run = refreshed(page)
    assert run.status == "ok"
    assert run.warnings == "PubMed found but did not return 1 record(s): PMID 41999999"
    assert listed_pmids(page) == [GUT_2017]


def test_a_run_left_running_by_a_dead_worker_is_closed_on_the_next_refresh(ncbi):
    """Whoever holds the page's lock knows every other "running" run of the page is dead."""
    page = make_page()
    dead = RefreshRun.objects.create(page=page, started_at=timezone.now() - datetime.timedelta(seconds=30))
    ncbi.set_search(QUERY, [GUT_2017])
    refreshed(page)
    dead.refresh_from_db()
    assert (dead.status, dead.error) == ("failed", "Interrupted: the worker stopped mid-refresh.")


def test_a_refresh_that_cannot_take_the_lock_leaves_the_running_one_alone(ncbi):
    page = make_page()
    live = RefreshRun.objects.create(page=page)  # a refresh under way elsewhere, holding the lock
    ncbi.set_search(QUERY, [GUT_2017])
    with page_lock(page.pk):
        assert refresh_page(page).status == "skipped"
    live.refresh_from_db()
    assert live.status == "running"
    long_ago = timezone.now() - datetime.timedelta(seconds=LOCK_SECONDS + 60)
    stale = RefreshRun.objects.create(page=page, started_at=long_ago)
    with page_lock(page.pk):
        refresh_page(page)
    stale.refresh_from_db()
    assert stale.status == "failed"  # older than any lock: closed even when the refresh is skipped


def test_a_pinned_entry_that_left_the_search_is_still_rechecked(ncbi):
    page = make_page()
    ncbi.set_search(QUERY, [GUT_2017, SEASON])
    refreshed(page)
    page.listings.filter(publication__pmid=GUT_2017).update(pinned=True)
    ncbi.set_search(QUERY, [SEASON])
    Publication.objects.filter(pmid=GUT_2017).update(title="A stale title.")
    age([GUT_2017], by=RECHECK_AFTER * 2)
    a_day_passes(page)
    ncbi.requests.clear()

    refreshed(page)

    (efetch,) = ncbi.requests_to("efetch")
    assert efetch.params["id"] == str(GUT_2017)
    assert Publication.objects.get(pmid=GUT_2017).title.startswith("Leucocyte telomere length")
    assert listed_pmids(page) == [GUT_2017, SEASON]


def test_due_for_recheck_is_two_indexed_queries_oldest_first_and_limited(
    django_assert_num_queries, monkeypatch
):
    page = make_page()
    searched = [PublicationFactory() for _ in range(3)]
    pinned, fresh_pinned, elsewhere = PublicationFactory(), PublicationFactory(), PublicationFactory()
    PageListingFactory(page=page, publication=pinned, pinned=True)
    PageListingFactory(page=page, publication=fresh_pinned, pinned=True)
    PageListingFactory(page=make_page(query="other"), publication=elsewhere, pinned=True)
    for days, publication in zip([40, 90, 60, 70, 35], [*searched, pinned, elsewhere], strict=True):
        age([publication.pmid], by=datetime.timedelta(days=days))
    found = [p.pmid for p in searched] + [pinned.pmid, 1]  # a pinned one the search found too

    with django_assert_num_queries(2):
        due = Publication.objects.due_for_recheck(page, found)

    assert due == [searched[1].pmid, pinned.pmid, searched[2].pmid, searched[0].pmid]
    monkeypatch.setattr("publications.models.RECHECK_PER_REFRESH", 2)
    assert Publication.objects.due_for_recheck(page, found) == due[:2]
    with django_assert_num_queries(1):
        assert Publication.objects.due_for_recheck(page, []) == [pinned.pmid]


def test_an_entry_a_recheck_changed_changes_on_every_page_that_shows_it(
    ncbi, client, settings, django_capture_on_commit_callbacks
):
    """Another page showing the same record must not keep a copy cached before, with the old title (or no
    retraction warning): a change purges every page showing a PMID it lists (``showing_as_related``)."""
    settings.PAGE_CACHE_ENABLED, settings.PAGE_CACHE_VERSION = True, f"test-{uuid.uuid4().hex}"
    page, other = make_page(), make_page(query="something else")
    ncbi.set_search(QUERY, [GUT_2017, SEASON])
    refreshed(page)
    PageListingFactory(page=other, publication=Publication.objects.get(pmid=GUT_2017))
    Publication.objects.filter(pmid=GUT_2017).update(title="A stale title.")
    age([GUT_2017], by=RECHECK_AFTER + datetime.timedelta(days=1))
    a_day_passes(page)
    assert "A stale title." in client.get(other.get_absolute_url()).content.decode()  # cached now

    with django_capture_on_commit_callbacks(execute=True):
        refreshed(page)

    shown = client.get(other.get_absolute_url()).content.decode()
    assert "A stale title." not in shown and "Leucocyte telomere length" in shown
