"""Review dates: marking a page reviewed, what readers see, and finding the pages whose review is due."""

from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.utils import timezone
from lxml import html as lxml_html
from reversion.models import Version

from tests.conftest import DEMO_PAGE_URL
from tests.factories import TreatmentPageFactory
from treatments.admin_actions import mark_reviewed_action
from treatments.admin_filters import ReviewDueFilter, StateFilter
from treatments.models import TreatmentPage
from treatments.review import mark_reviewed
from treatments.workflow import State

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture
def editor():
    return User.objects.create_user("reviewer", is_staff=True)


def footer_lines(client, url) -> list[str]:
    doc = lxml_html.fromstring(client.get(url).content.decode())
    return [" ".join(p.text_content().split()) for p in doc.cssselect(".last-updated, .last-reviewed")]


def test_marking_reviewed_sets_the_date_the_reviewer_and_the_next_review_in_a_revision(editor):
    page = TreatmentPageFactory()
    changed_at = TreatmentPage.objects.get(pk=page.pk).content_changed_at

    mark_reviewed(page, editor, on=date(2024, 3, 5))

    page = TreatmentPage.objects.get(pk=page.pk)
    assert (page.last_reviewed_at, page.last_reviewed_by, page.next_review_due) == (
        date(2024, 3, 5),
        editor,
        date(2025, 3, 5),
    )
    assert page.content_changed_at == changed_at  # a review is not an edit
    revision = Version.objects.get_for_object(page).first().revision
    assert (revision.comment, revision.user) == ("Marked as reviewed", editor)


def test_marking_reviewed_defaults_to_today(editor):
    page = TreatmentPageFactory()
    mark_reviewed(page, editor)
    page.refresh_from_db()
    assert (page.last_reviewed_at, page.next_review_due) == (TODAY, TODAY + timedelta(days=365))


def test_readers_see_the_last_review_beside_the_last_update(client, demo_page, editor):
    assert footer_lines(client, DEMO_PAGE_URL) == ["Page last updated: 02 September, 2019"]

    mark_reviewed(demo_page, editor, on=date(2024, 3, 5))

    assert footer_lines(client, DEMO_PAGE_URL) == [
        "Page last updated: 02 September, 2019",
        "Page last reviewed: 05 March, 2024",
    ]


def reviewed_pages():
    """Never reviewed, due yesterday, due today, due tomorrow, by title."""
    pages = {"never": TreatmentPageFactory(title="never")}
    for title, due in [("yesterday", -1), ("today", 0), ("tomorrow", 1)]:
        pages[title] = TreatmentPageFactory(
            title=title,
            last_reviewed_at=TODAY - timedelta(days=300),
            next_review_due=TODAY + timedelta(days=due),
        )
    return pages


def titles(queryset) -> set[str]:
    return set(queryset.values_list("title", flat=True))


def test_review_is_due_when_never_reviewed_or_on_and_after_its_date():
    reviewed_pages()
    assert titles(TreatmentPage.objects.review_due()) == {"never", "yesterday", "today"}
    assert titles(TreatmentPage.objects.review_due(on=TODAY + timedelta(days=1))) == {
        "never",
        "yesterday",
        "today",
        "tomorrow",
    }


def apply_filter(filter_class, rf, value):
    model_admin = admin.site._registry[TreatmentPage]
    list_filter = filter_class(
        rf.get("/"), {filter_class.parameter_name: [value]}, TreatmentPage, model_admin
    )
    return list_filter.queryset(None, TreatmentPage.objects.all())


def test_the_review_due_filter(rf):
    reviewed_pages()
    assert titles(apply_filter(ReviewDueFilter, rf, "yes")) == {"never", "yesterday", "today"}
    assert titles(apply_filter(ReviewDueFilter, rf, "no")) == {"tomorrow"}


def test_the_review_due_filter_in_the_change_list(admin_client):
    reviewed_pages()
    response = admin_client.get("/admin/treatments/treatmentpage/", {"review_due": "yes"})
    assert response.status_code == 200
    assert {page.title for page in response.context["cl"].result_list} == {"never", "yesterday", "today"}


def pages_in_each_state(now):
    """A page in each state the list shows: draft, live, changed, and waiting to publish or unpublish."""
    TreatmentPageFactory(title="draft", published=False)
    TreatmentPageFactory(title="live")
    TreatmentPageFactory(title="changed", draft={"title": "changed"})
    TreatmentPageFactory(title="to publish", published=False, publish_at=now + timedelta(hours=1))
    TreatmentPageFactory(title="to unpublish", unpublish_at=now + timedelta(hours=1))


def test_the_state_filter(rf):
    now = timezone.now()
    pages_in_each_state(now)
    TreatmentPageFactory(title="overdue", published=False, publish_at=now - timedelta(hours=1))
    TreatmentPageFactory(title="failed", published=False, publish_at=now, schedule_error="Scheduled...")

    assert titles(apply_filter(StateFilter, rf, "draft")) == {"draft"}
    assert titles(apply_filter(StateFilter, rf, "published")) == {"live", "to unpublish"}
    assert titles(apply_filter(StateFilter, rf, "changed")) == {"changed"}
    assert titles(apply_filter(StateFilter, rf, "scheduled")) == {"to publish", "overdue", "failed"}
    assert titles(apply_filter(StateFilter, rf, "schedule_problem")) == {"overdue", "failed"}


def test_each_page_is_under_the_one_state_filter_its_state_column_shows(rf, admin_client):
    """A live page with only "Unpublish at" set said Published and was listed under both Published and
    Scheduled."""
    now = timezone.now()
    pages_in_each_state(now)
    TreatmentPageFactory(title="changed, to unpublish", draft={"title": "x"}, unpublish_at=now)
    TreatmentPageFactory(title="both", publish_at=now, unpublish_at=now + timedelta(days=1))
    TreatmentPageFactory(title="draft, to unpublish", published=False, unpublish_at=now)

    html = admin_client.get("/admin/treatments/treatmentpage/").content.decode()
    rows = lxml_html.fromstring(html).cssselect("#result_list tbody tr")
    column = {
        row.cssselect(".field-display_title")[0].text_content(): row.cssselect(".field-state")[
            0
        ].text_content()
        for row in rows
    }
    assert column["to unpublish"] == "Published"
    filtered = {title: set() for title in column}
    for value, label in State.LABELS.items():
        for title in titles(apply_filter(StateFilter, rf, value)):
            filtered[title].add(label)
    assert filtered == {title: {label} for title, label in column.items()}


def test_the_mark_as_reviewed_action(rf, admin_user):
    first, second = TreatmentPageFactory(), TreatmentPageFactory()
    request = rf.post("/admin/treatments/treatmentpage/")
    request.user, request.session = admin_user, {}
    request._messages = FallbackStorage(request)
    model_admin = admin.site._registry[TreatmentPage]

    mark_reviewed_action(model_admin, request, TreatmentPage.objects.filter(pk__in=[first.pk, second.pk]))

    for page in (first, second):
        page.refresh_from_db()
        assert (page.last_reviewed_at, page.last_reviewed_by) == (TODAY, admin_user)
    (message,) = get_messages(request)
    assert str(message).startswith("Marked 2 pages as reviewed; next review due ")
