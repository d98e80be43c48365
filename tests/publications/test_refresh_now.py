"""The admin's "Refresh now": from the page form and as an action, its status page and JSON, and its run.

Celery is eager in embedded mode, so the queued refresh runs in the request, against the fake NCBI.
"""

from __future__ import annotations

import datetime
import json
from urllib.parse import parse_qsl, urlsplit

import lxml.html
import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, TestCase
from django.utils import timezone

from publications import admin_tools, refresh
from publications.models import PageListing, RefreshRun
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory
from tests.publications.test_refresh import GUT_2017, INT_J_MOL_SCI, OTHERS, QUERY, SEASON
from tests.treatments.editing import form_data
from treatments import workflow
from treatments.models import TreatmentPage

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/treatments/treatmentpage/"
STATUS = f"{CHANGELIST}refresh-status/"


def url(page: TreatmentPage, view: str) -> str:
    return f"{CHANGELIST}{page.pk}/{view}/"


def text(html: str) -> str:
    return " ".join(lxml.html.fromstring(html).text_content().split())


@pytest.fixture(autouse=True)
def _no_queued_marks():
    cache.clear()  # the queued marks live in the cache, which outlives each test's transaction


@pytest.fixture(autouse=True)
def _refresh_in_process(celery_eager):
    """What the editor sees once the refresh ran; the queue itself is tested with real workers."""


@pytest.fixture
def editor_client(editor_client):
    """The editor's client, each post followed by what its commit runs: Refresh now sends the refresh
    at the commit (``delay_on_commit``), and a test's transaction never commits."""
    post = editor_client.post

    def post_and_commit(path, data=None, follow=False, **extra):
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = post(path, data, **extra)
        while follow and response.status_code in (301, 302, 303):  # what the editor's browser loads next
            response = editor_client.get(response["Location"])
        return response

    editor_client.post = post_and_commit
    return editor_client


@pytest.fixture
def treatment(db) -> TreatmentPage:
    page = TreatmentPageFactory(pubmed_query=QUERY)
    for pmid in (INT_J_MOL_SCI, 30000001, 30000002):
        PageListingFactory(page=page, publication=PublicationFactory(pmid=pmid))
    return page


# --- What a run records ----------------------------------------------------------------------------


def test_a_refresh_records_entries_added_and_dropped_and_a_changed_query(ncbi, treatment):
    ncbi.set_search(QUERY, [INT_J_MOL_SCI, GUT_2017, SEASON])
    first = refresh.refresh_page(treatment)
    assert (first.publications_added, first.publications_dropped, first.query_changed) == (2, 2, False)
    assert first.outcome() == "Refreshed: 2 new, 2 dropped (PubMed found 3; 2 new to the site)."

    TreatmentPage.objects.filter(pk=treatment.pk).update(pubmed_query="aldesleukin")
    treatment.refresh_from_db()
    ncbi.set_search("aldesleukin", [GUT_2017, *OTHERS[:2]])
    second = refresh.refresh_page(treatment)
    assert (second.publications_added, second.publications_dropped) == (2, 2)
    assert (second.query_changed, second.previous_query) == (True, QUERY)
    assert second.outcome().endswith("The query had changed since the last refresh.")
    third = refresh.refresh_page(treatment)
    assert (third.publications_added, third.publications_dropped, third.query_changed) == (0, 0, False)


def test_a_run_says_what_happened_in_words(treatment):
    run = RefreshRun.objects.start(treatment)
    assert run.outcome().startswith("Refreshing since ") and not run.done
    assert run.fail("PubMed could not be reached.").outcome() == "Failed: PubMed could not be reached."
    assert RefreshRun(page=treatment, status="failed").outcome() == "Failed."
    skipped = RefreshRun.objects.start(treatment).skip("Another refresh of this page is running.")
    assert skipped.outcome() == "Skipped: Another refresh of this page is running."
    done = RefreshRun.objects.start(treatment).finish(found=5, new=1, added=1, dropped=0, warnings=["a", "b"])
    assert done.outcome().endswith("new to the site). 2 warnings.") and done.warning_list == ["a", "b"]
    one = RefreshRun.objects.start(treatment).finish(found=5, new=1, warnings=["a"])
    assert one.outcome().endswith(" 1 warning.")


# --- Refresh now from the page form, without JavaScript -------------------------------------------------


def test_refresh_now_runs_the_refresh_and_shows_its_outcome(ncbi, editor_client, treatment):
    ncbi.set_search(QUERY, [INT_J_MOL_SCI, GUT_2017, SEASON])

    response = editor_client.post(url(treatment, "refresh-now"))

    assert response.status_code == 302
    status_url = response["Location"]
    assert urlsplit(status_url).path == STATUS
    status = editor_client.get(status_url)
    html = status.content.decode()
    assert "Refreshed: 2 new, 2 dropped (PubMed found 3; 2 new to the site)." in text(html)
    assert 'http-equiv="refresh"' not in html  # done: it stops reloading
    run = RefreshRun.objects.get(page=treatment)
    assert f"/admin/publications/refreshrun/{run.pk}/change/" in html
    assert sorted(
        PageListing.objects.filter(page=treatment).values_list("publication__pmid", flat=True)
    ) == sorted([INT_J_MOL_SCI, GUT_2017, SEASON])
    assert not refresh.is_queued(treatment.pk)  # the run started: the mark is gone


def test_refresh_now_without_javascript_saves_the_edits_typed_before_it(ncbi, editor_client, treatment):
    """It posted the page form to its own view, which ignored the form: the edits were lost unsaid."""
    ncbi.set_search(QUERY, [INT_J_MOL_SCI])
    doc = lxml.html.fromstring(editor_client.get(url(treatment, "change")).content)
    button = doc.cssselect("#treatmentpage_form input[type=submit][value='Refresh now']")[0]
    data = form_data(treatment, button.get("name"), description="<p>Typed before refreshing.</p>")
    response = editor_client.post(button.get("formaction") or url(treatment, "change"), data, follow=True)
    assert "Refreshed: 0 new, 2 dropped (PubMed found 1" in text(response.content.decode())
    treatment.refresh_from_db()
    assert workflow.working_content(treatment)["description"] == "<p>Typed before refreshing.</p>"
    assert RefreshRun.objects.get(page=treatment).status == RefreshRun.Status.OK


def test_refresh_now_never_starts_a_second_refresh_of_a_page(ncbi, editor_client, treatment):
    running = RefreshRun.objects.start(treatment)

    response = editor_client.post(url(treatment, "refresh-now"), follow=True)

    said = [str(message) for message in response.context["messages"]]
    assert said == ["A refresh of this page is already running."]
    assert ncbi.requests == [] and RefreshRun.objects.count() == 1
    html = response.content.decode()
    assert f"Refreshing since {timezone.localtime(running.started_at):%H:%M:%S}" in text(html)
    assert '<meta http-equiv="refresh" content="2">' in html  # reloads itself while it runs

    running.fail("Stopped.")
    assert refresh.mark_queued(treatment.pk)  # queued and not started: a second click queues nothing
    response = editor_client.post(url(treatment, "refresh-now"), follow=True)
    assert [str(m) for m in response.context["messages"]] == ["A refresh of this page is already queued."]
    assert "Queued: waiting for a worker…" in text(response.content.decode())
    assert ncbi.requests == []


def test_a_run_of_a_worker_that_died_does_not_block_refresh_now(ncbi, editor_client, treatment):
    RefreshRun.objects.create(page=treatment, started_at=timezone.now() - datetime.timedelta(hours=1))
    ncbi.set_search(QUERY, [INT_J_MOL_SCI])
    editor_client.post(url(treatment, "refresh-now"))
    assert RefreshRun.objects.filter(page=treatment).newest_first().first().status == RefreshRun.Status.OK


def test_a_page_without_a_query_is_not_refreshed(ncbi, editor_client, treatment):
    TreatmentPage.objects.filter(pk=treatment.pk).update(pubmed_query="")
    response = editor_client.post(url(treatment, "refresh-now"))
    assert response["Location"] == url(treatment, "change")
    assert RefreshRun.objects.count() == 0 and ncbi.requests == []
    answer = editor_client.post(url(treatment, "refresh-now"), HTTP_ACCEPT="application/json").json()
    assert answer == {
        "queued": False,
        "message": "This page has no PubMed query: add one and save first.",
        "status_url": "",
    }


def test_refresh_now_needs_change_permission_and_a_post(ncbi, editor_client, treatment):
    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(*_permissions("view_treatmentpage"))
    client = Client()
    client.force_login(viewer)
    assert client.post(url(treatment, "refresh-now")).status_code == 403
    assert editor_client.get(url(treatment, "refresh-now")).status_code == 405
    assert RefreshRun.objects.count() == 0
    # A viewer sees no Refresh now button, only Test query (the form is read-only for them).
    html = client.get(url(treatment, "change")).content.decode()
    assert "Refresh now" not in html


def _permissions(*codenames):
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename__in=codenames)


# --- With JavaScript: JSON to follow --------------------------------------------------------------------


def test_refresh_now_answers_json_and_the_status_json_says_when_it_is_done(ncbi, editor_client, treatment):
    ncbi.set_search(QUERY, [INT_J_MOL_SCI, GUT_2017], warnings={"OutputMessage": "Something to note."})

    answer = editor_client.post(url(treatment, "refresh-now"), HTTP_ACCEPT="application/json").json()

    assert (answer["queued"], answer["message"]) == (True, "Refresh queued.")
    status = editor_client.get(answer["status_url"], HTTP_ACCEPT="application/json").json()
    run = RefreshRun.objects.get(page=treatment)
    assert status["done"] is True
    [state] = status["pages"]
    assert state["state"] == "ok" and state["message"] == run.outcome()
    assert state["run"] | {"url": None} == {
        "id": run.pk, "found": 2, "new": 1, "added": 1, "dropped": 2, "query_changed": False, "error": "",
        "warnings": [], "url": None,
    }  # fmt: skip


def test_the_status_json_follows_a_running_run_to_its_end(editor_client, treatment):
    before = RefreshRun.objects.start(treatment).finish(found=1, new=0)
    running = RefreshRun.objects.start(treatment)
    status_url = f"{STATUS}?page={treatment.pk}&after={before.pk}&format=json"
    first = editor_client.get(status_url).json()
    assert (first["done"], first["pages"][0]["state"]) == (False, "running")
    running.fail("PubMed could not be reached (HTTP 502).")
    last = editor_client.get(status_url).json()
    assert (last["done"], last["pages"][0]["message"]) == (
        True,
        "Failed: PubMed could not be reached (HTTP 502).",
    )


def test_a_refresh_that_never_started_is_reported_not_waited_for(editor_client, treatment):
    status = editor_client.get(f"{STATUS}?page={treatment.pk}&after=0&format=json").json()
    assert status["done"] is True
    assert (
        status["pages"][0]["message"] == "No refresh has started: the workers may be down. Try again later."
    )
    assert editor_client.get(f"{STATUS}?page=x&after=0&format=json").json() == {"done": True, "pages": []}
    assert "No refresh to show." in text(editor_client.get(STATUS).content.decode())


# --- The admin action on selected pages --------------------------------------------------------------------


def test_the_admin_action_refreshes_the_selected_pages_once_each(ncbi, editor_client, treatment):
    other = TreatmentPageFactory(pubmed_query="melanoma")
    busy = TreatmentPageFactory(pubmed_query="nevus", title="Busy page")
    busy_run = RefreshRun.objects.start(busy)
    ncbi.set_search(QUERY, [INT_J_MOL_SCI])
    ncbi.set_search("melanoma", [GUT_2017, SEASON])

    response = editor_client.post(
        CHANGELIST, {"action": "refresh_now_action", "_selected_action": [treatment.pk, other.pk, busy.pk]}
    )

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == STATUS
    assert sorted(int(value) for name, value in parse_qsl(location.query) if name == "page") == sorted(
        [treatment.pk, other.pk, busy.pk]
    )
    html = editor_client.get(response["Location"]).content.decode()
    shown = text(html)
    assert f"{treatment}: Refreshed: 0 new, 2 dropped" in shown  # one of its three is still found
    assert f"{other}: Refreshed: 2 new, 0 dropped" in shown
    assert "Busy page: Refreshing since" in shown  # already running: followed, not started again
    assert 'http-equiv="refresh"' in html
    assert RefreshRun.objects.filter(page=busy).get() == busy_run
    assert "Busy page: A refresh of this page is already running." in shown  # the admin's message


def test_the_admin_action_says_which_selected_pages_it_did_not_refresh(ncbi, editor_client, monkeypatch):
    """It queues at most MAX_REFRESHES_AT_ONCE pages: the rest of a larger selection were left silently."""
    monkeypatch.setattr(admin_tools, "MAX_REFRESHES_AT_ONCE", 2)
    pages = [TreatmentPageFactory(pubmed_query=QUERY, title=f"Page {n}") for n in range(3)]
    ncbi.set_search(QUERY, [INT_J_MOL_SCI])
    response = editor_client.post(
        CHANGELIST, {"action": "refresh_now_action", "_selected_action": [p.pk for p in pages]}, follow=True
    )
    shown = text(response.content.decode())
    assert "Page 0: Refreshed" in shown and "Page 1: Refreshed" in shown and "Page 2: Refreshed" not in shown
    assert "At most 2 pages are refreshed at once: Page 2 was not. Select it again to refresh it." in shown
    assert not RefreshRun.objects.filter(page=pages[2]).exists()


def test_the_admin_action_with_nothing_to_follow_stays_on_the_list(editor_client, treatment):
    TreatmentPage.objects.filter(pk=treatment.pk).update(pubmed_query="")
    response = editor_client.post(
        CHANGELIST, {"action": "refresh_now_action", "_selected_action": [treatment.pk]}
    )
    assert response.status_code == 302 and response["Location"] == CHANGELIST


# --- The refresh runs' list ---------------------------------------------------------------------------


def test_a_long_error_is_shortened_in_the_list_and_whole_on_the_runs_page(editor_client, treatment):
    error = "PubMed could not be reached: " + "a very long explanation " * 40 + "THE END."
    run = RefreshRun.objects.start(treatment).fail(error)
    listing = editor_client.get("/admin/publications/refreshrun/").content.decode()
    cell = lxml.html.fromstring(listing).cssselect("td.field-short_error")[0].text_content()
    assert len(cell) <= 120 and cell.endswith("…") and "THE END." not in listing
    whole = editor_client.get(f"/admin/publications/refreshrun/{run.pk}/change/").content.decode()
    assert "THE END." in whole
    form = editor_client.get(url(treatment, "change")).content.decode()
    assert "THE END." not in form  # the page form's recent refreshes are shortened too
    pages = editor_client.get(CHANGELIST).content.decode()
    cell = lxml.html.fromstring(pages).cssselect("td.field-last_refresh")[0].text_content()
    assert "PubMed could not be reached" in cell and "THE END." not in cell  # and the page list's column


def test_the_queued_mark_survives_an_unreachable_cache(ncbi, editor_client, treatment, settings):
    ncbi.set_search(QUERY, [INT_J_MOL_SCI])
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    answer = editor_client.post(url(treatment, "refresh-now"), HTTP_ACCEPT="application/json")
    assert answer.status_code == 200 and answer.json()["queued"] is True
    run = RefreshRun.objects.get(page=treatment)
    assert run.status == RefreshRun.Status.FAILED and "cache" in run.error
    assert editor_client.get(answer.json()["status_url"], HTTP_ACCEPT="application/json").json()["done"]
    after_it = editor_client.get(f"{STATUS}?page={treatment.pk}&after={run.pk}&format=json").json()
    assert after_it["pages"][0]["state"] == "lost"  # no run since, and no queued mark to be read
    assert json.dumps(answer.json())


def test_refresh_now_from_the_page_form_waits_for_the_edits_to_commit(
    ncbi, editor, treatment, django_capture_on_commit_callbacks
):
    """Queued inside the form's transaction, a worker could start before the edits were committed and
    refresh the page as it was: the refresh is sent once they are."""
    ncbi.set_search(QUERY, [INT_J_MOL_SCI])
    data = form_data(treatment, "_refresh_now", description="<p>Typed before refreshing.</p>")
    client = Client()
    client.force_login(editor)
    with django_capture_on_commit_callbacks() as at_commit:
        client.post(url(treatment, "change"), data)
    assert not RefreshRun.objects.filter(page=treatment).exists()  # nothing ran, nor was sent, before
    for callback in at_commit:
        callback()
    assert RefreshRun.objects.get(page=treatment).status == RefreshRun.Status.OK
