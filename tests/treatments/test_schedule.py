"""Scheduled publishing: the minutely run publishes and unpublishes what is due, once, never unseen."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from reversion.models import Version

from tests.factories import TreatmentPageFactory
from tests.treatments.editing import change_url, form_data
from treatments import admin_filters, scheduling, tasks, workflow
from treatments.models import TreatmentPage

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def ago(**delta):
    return NOW - timedelta(**delta)


def later(**delta):
    return NOW + timedelta(**delta)


def draft_page(**fields):
    """A live page with an editor's unpublished change to its description."""
    page = TreatmentPageFactory(description="<p>Old text.</p>")
    workflow.save_draft(page, {**workflow.content_of(page), "description": "<p>New text.</p>"})
    TreatmentPage.objects.filter(pk=page.pk).update(**fields)
    page.refresh_from_db()
    return page


def reader_sees(client, page) -> str | None:
    response = client.get(page.get_absolute_url())
    return response.content.decode() if response.status_code == 200 else None


def test_a_publish_whose_time_has_come_makes_the_draft_what_readers_see(client):
    page = draft_page(publish_at=ago(minutes=1))
    assert "Old text." in reader_sees(client, page)

    summary = scheduling.run_publishing_schedule(now=NOW)

    assert summary.published == [page.pk]
    page.refresh_from_db()
    assert (page.draft, page.publish_at, page.schedule_error) == (None, None, "")
    assert page.last_published_at is not None
    html = reader_sees(client, page)
    assert "New text." in html and "Old text." not in html


def test_a_new_page_goes_live_at_its_time(client):
    page = TreatmentPageFactory(published=False, publish_at=ago(seconds=1))
    assert reader_sees(client, page) is None

    scheduling.run_publishing_schedule(now=NOW)

    assert "About this treatment." in reader_sees(client, page)
    page.refresh_from_db()
    assert page.first_published_at == page.last_published_at


def test_a_publish_in_the_future_waits(client):
    page = draft_page(publish_at=later(minutes=1))

    summary = scheduling.run_publishing_schedule(now=NOW)

    assert str(summary) == "published 0, unpublished 0, failed 0"
    page.refresh_from_db()
    assert page.publish_at == later(minutes=1) and page.draft is not None
    assert "Old text." in reader_sees(client, page)
    assert workflow.state(page) == workflow.State.SCHEDULED
    assert admin_filters.schedule_status(page, now=NOW).startswith("Publishes at ")


def test_unpublish_at_takes_the_page_off_the_site(client):
    page = TreatmentPageFactory(unpublish_at=ago(minutes=2))
    assert reader_sees(client, page) is not None

    summary = scheduling.run_publishing_schedule(now=NOW)

    assert summary.unpublished == [page.pk]
    page.refresh_from_db()
    assert (page.published, page.unpublish_at) == (False, None)
    assert reader_sees(client, page) is None


@pytest.mark.parametrize(
    ("publish_at", "unpublish_at", "live"),
    [(ago(hours=2), ago(hours=1), False), (ago(hours=1), ago(hours=2), True)],
    ids=["publish-then-unpublish", "unpublish-then-publish"],
)
def test_both_due_are_carried_out_in_the_order_of_their_times(publish_at, unpublish_at, live):
    page = draft_page(publish_at=publish_at, unpublish_at=unpublish_at)

    scheduling.run_publishing_schedule(now=NOW)

    page.refresh_from_db()
    assert (page.published, page.publish_at, page.unpublish_at) == (live, None, None)


def test_a_page_that_cannot_be_published_says_why_and_stays_overdue(client):
    page = TreatmentPageFactory(published=False, description="", publish_at=ago(minutes=10))
    healthy = TreatmentPageFactory(published=False, publish_at=ago(minutes=10))

    summary = tasks.run_publishing_schedule()  # the task, as beat runs it (eagerly here)

    assert summary == "published 1, unpublished 0, failed 1"
    page.refresh_from_db()
    assert page.publish_at == ago(minutes=10) and not page.published
    assert page.schedule_error.startswith("Scheduled publish failed at ")
    assert page.schedule_error.endswith(": The page needs a description before it can be published.")
    assert list(TreatmentPage.objects.schedule_problems()) == [page]
    assert list(TreatmentPage.objects.schedule_failed()) == [page]
    assert admin_filters.schedule_status(page) == page.schedule_error  # not "is beat running?": it ran
    assert any("failed for 1 page:" in warning for warning in admin_filters.schedule_warnings())
    assert reader_sees(client, page) is None
    assert reader_sees(client, healthy) is not None


def test_a_failure_is_retried_every_run_and_keeps_the_time_it_first_happened():
    page = TreatmentPageFactory(published=False, description="", publish_at=ago(minutes=10))
    scheduling.run_publishing_schedule(now=NOW)
    first_error = TreatmentPage.objects.get(pk=page.pk).schedule_error

    scheduling.run_publishing_schedule(now=later(minutes=1))
    assert TreatmentPage.objects.get(pk=page.pk).schedule_error == first_error

    TreatmentPage.objects.filter(pk=page.pk).update(description="<p>Written at last.</p>")
    summary = scheduling.run_publishing_schedule(now=later(minutes=2))

    assert summary.published == [page.pk]
    page.refresh_from_db()
    assert (page.published, page.publish_at, page.schedule_error) == (True, None, "")


def test_an_editor_who_clears_or_moves_a_failed_schedule_is_no_longer_told_it_failed(editor_client):
    """The failure is about the time the run tried: kept, the page list warned of it on every visit and
    the page showed it, with nothing scheduled any more (or instead of the new time)."""
    page = TreatmentPageFactory(published=False, description="", publish_at=ago(minutes=10))
    scheduling.run_publishing_schedule(now=NOW)
    page.refresh_from_db()
    assert page.schedule_error

    response = editor_client.post(change_url(page), form_data(page, publish_at_0="", publish_at_1=""))
    assert response.status_code == 302
    page.refresh_from_db()
    assert (page.publish_at, page.schedule_error) == (None, "")
    html = editor_client.get("/admin/treatments/treatmentpage/").content.decode()
    assert "Scheduled publish failed" not in html and "unpublish failed for" not in html
    assert list(TreatmentPage.objects.schedule_problems()) == []

    TreatmentPage.objects.filter(pk=page.pk).update(publish_at=ago(minutes=10), schedule_error="x")
    scheduling.run_publishing_schedule(now=NOW)
    page.refresh_from_db()
    tomorrow = timezone.localtime(later(days=1))
    moved = {"publish_at_0": f"{tomorrow:%Y-%m-%d}", "publish_at_1": f"{tomorrow:%H:%M:%S}"}
    editor_client.post(change_url(page), form_data(page, **moved))
    page.refresh_from_db()
    assert page.schedule_error == "" and admin_filters.schedule_status(page).startswith("Publishes at ")


def test_an_unexpected_error_is_recorded_for_editors_and_the_other_pages_still_run(monkeypatch, caplog):
    broken = TreatmentPageFactory(published=False, publish_at=ago(minutes=1))
    fine = TreatmentPageFactory(published=False, publish_at=ago(minutes=1))
    publish = workflow.publish

    def failing_publish(page, **kwargs):
        if page.pk == broken.pk:
            raise RuntimeError("disk full")
        publish(page, **kwargs)

    monkeypatch.setattr(workflow, "publish", failing_publish)

    summary = scheduling.run_publishing_schedule(now=NOW)

    assert (summary.published, summary.failed) == ([fine.pk], [broken.pk])
    broken.refresh_from_db()
    assert "An unexpected error (RuntimeError)" in broken.schedule_error
    assert broken.publish_at is not None
    assert "Scheduled publish of page" in caplog.text and "disk full" in caplog.text


def test_a_schedule_beat_never_ran_shows_as_overdue():
    overdue = TreatmentPageFactory(published=False, publish_at=ago(minutes=6))
    due_now = TreatmentPageFactory(published=False, publish_at=ago(minutes=1))
    TreatmentPageFactory(unpublish_at=later(days=1))

    assert list(TreatmentPage.objects.schedule_overdue(now=NOW)) == [overdue]
    assert list(TreatmentPage.objects.schedule_problems(now=NOW)) == [overdue]
    assert TreatmentPage.objects.scheduled().count() == 3
    status = admin_filters.schedule_status(overdue, now=NOW)
    assert status.startswith("Scheduled publish is overdue (due ")
    assert status.endswith("— is Celery beat running?")
    assert admin_filters.schedule_status(due_now, now=NOW).startswith("Publishes at ")
    (warning,) = admin_filters.schedule_warnings(now=NOW)
    assert warning.startswith("Scheduled publish is overdue — is Celery beat running? (1 page;")


def test_a_second_run_finds_nothing_left_to_do():
    page = draft_page(publish_at=ago(minutes=1))
    TreatmentPageFactory(unpublish_at=ago(minutes=1))
    scheduling.run_publishing_schedule(now=NOW)
    page.refresh_from_db()
    versions = Version.objects.count()

    summary = scheduling.run_publishing_schedule(now=NOW)

    assert str(summary) == "published 0, unpublished 0, failed 0"
    assert Version.objects.count() == versions
    assert TreatmentPage.objects.get(pk=page.pk).last_published_at == page.last_published_at


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks (SELECT ... FOR UPDATE SKIP LOCKED) need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_publish_a_page_once(monkeypatch):
    page = draft_page(publish_at=ago(minutes=1))
    entered, release = threading.Event(), threading.Event()
    calls, summaries = [], {}
    publish = workflow.publish

    def slow_publish(page_, **kwargs):
        calls.append(page_.pk)
        entered.set()
        release.wait(10)  # the first run holds the page's row lock here
        publish(page_, **kwargs)

    monkeypatch.setattr(workflow, "publish", slow_publish)

    def run(name):
        try:
            summaries[name] = scheduling.run_publishing_schedule(now=NOW)
        finally:
            connection.close()

    first = threading.Thread(target=run, args=["first"])
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=run, args=["second"])
    second.start()
    second.join(10)
    second_waited = second.is_alive()
    release.set()
    first.join(10)
    second.join(10)

    assert not second_waited, "the second run waited for the first one's lock instead of skipping the page"
    assert calls == [page.pk]
    assert summaries["first"].published == [page.pk]
    assert str(summaries["second"]) == "published 0, unpublished 0, failed 0"
    page.refresh_from_db()
    assert (page.published, page.publish_at, page.draft) == (True, None, None)
