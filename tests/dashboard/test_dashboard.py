"""The editors' dashboard on the admin index: what needs attention, each a count and a link to exactly
those pages; the last changes and who made them; only for those allowed; the same queries at any size."""

import re
from datetime import timedelta

import pytest
import reversion
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from lxml import html as lxml_html

from dashboard import attention
from publications.models import RefreshRun
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory, WebResourceFactory
from treatments import workflow
from treatments.models import PageRevision, TreatmentPage
from treatments.review import mark_reviewed

pytestmark = pytest.mark.django_db

NOW = timezone.now()
TODAY = timezone.localdate()
CHANGELIST = "/admin/treatments/treatmentpage/"


def page(**fields) -> TreatmentPage:
    """A page with nothing to attend to unless ``fields`` say so: reviewed today, no query, live."""
    fields = {"last_reviewed_at": TODAY, "next_review_due": TODAY + timedelta(days=365), **fields}
    return TreatmentPageFactory(**fields)


def run(page, status, age=timedelta(hours=1)) -> RefreshRun:
    return RefreshRun.objects.create(page=page, status=status, started_at=NOW - age)


def build(n: int = 1) -> dict[str, set[int]]:
    """``n`` pages of each kind, and the pages each dashboard item must list, by the item's words."""
    words = (
        "refresh failed",
        "skipped",
        "7 days",
        "broken",
        "unpublished",
        "review",
        "retracted",
        "schedule",
    )
    expected = {key: set() for key in words}
    for _ in range(n):
        healthy = page(pubmed_query="healthy")
        run(healthy, "failed", age=timedelta(days=2))  # an older failure no longer needs anyone
        run(healthy, "ok")
        PageListingFactory(page=healthy)
        PageListingFactory(page=healthy, hidden=True, publication=PublicationFactory(is_retracted=True))

        failed = page(pubmed_query="failed")
        run(failed, "ok", age=timedelta(days=1))
        run(failed, "failed")
        expected["refresh failed"].add(failed.pk)

        skipped = page(pubmed_query="skipped")
        run(skipped, "ok", age=timedelta(days=1))
        run(skipped, "skipped")
        expected["skipped"].add(skipped.pk)

        stale = page(pubmed_query="stale")
        run(stale, "ok", age=timedelta(days=8))
        never = page(pubmed_query="never refreshed")
        expected["7 days"] |= {stale.pk, never.pk}
        page(pubmed_query="not live, not refreshed", published=False, first_published_at=NOW)
        page()  # live, no query: the nightly refresh leaves it alone

        broken = page()
        WebResourceFactory(page=broken, broken_since=NOW - timedelta(days=2), last_status="broken")
        WebResourceFactory(page=broken)
        WebResourceFactory(page=healthy, last_checked_at=NOW, last_status="ok")
        expected["broken"].add(broken.pk)

        changed = page(draft={"title": "A new title"})
        new = page(published=False)
        page(published=False, first_published_at=NOW - timedelta(days=30))  # taken off the site
        page(published=False, publish_at=NOW + timedelta(days=1))  # the schedule will publish it
        expected["unpublished"] |= {changed.pk, new.pk}

        never_reviewed = page(last_reviewed_at=None, next_review_due=None)
        overdue_review = page(last_reviewed_at=TODAY - timedelta(days=400), next_review_due=TODAY)
        expected["review"] |= {never_reviewed.pk, overdue_review.pk}

        retracted = page()
        PageListingFactory(page=retracted, publication=PublicationFactory(is_retracted=True))
        expected["retracted"].add(retracted.pk)

        failed_schedule = page(schedule_error="Scheduled publish failed: the page needs a title.")
        overdue_schedule = page(published=False, publish_at=NOW - timedelta(hours=1))
        expected["schedule"] |= {failed_schedule.pk, overdue_schedule.pk}
    return expected


def dashboard(client) -> list[tuple[int, str, str]]:
    """The "Needs attention" items as the index shows them: (count, words, link)."""
    doc = lxml_html.fromstring(client.get("/admin/").content.decode())
    return [
        (int(a.cssselect(".attention-count")[0].text), " ".join(a.text_content().split()[1:]), a.get("href"))
        for a in doc.cssselect(".attention-list a")
    ]


def listed(client, url) -> set[int]:
    """The pages the change list at ``url`` shows, by the links of its rows."""
    response = client.get(url)
    assert response.status_code == 200
    rows = lxml_html.fromstring(response.content.decode()).cssselect("#result_list tbody tr th a")
    return {int(re.fullmatch(rf"{CHANGELIST}(\d+)/change/(?:\?.*)?", a.get("href"))[1]) for a in rows}


def item_for(items, words: str):
    (match,) = [item for item in items if words in item[1]]
    return match


def test_each_item_counts_exactly_the_pages_its_link_lists(editor_client):
    expected = build()
    items = dashboard(editor_client)
    for words, pks in expected.items():
        count, _, url = item_for(items, words)
        assert (count, listed(editor_client, url)) == (len(pks), pks), words
    for count, _, url in items:  # every item, those without a case above too
        assert len(listed(editor_client, url)) == count


def test_the_words_agree_with_the_number(editor_client):
    failed = page(pubmed_query="x")
    run(failed, "failed")
    items = dashboard(editor_client)
    assert item_for(items, "last refresh failed")[:2] == (1, "page whose last refresh failed")
    assert item_for(items, "last refresh was skipped")[:2] == (0, "pages whose last refresh was skipped")


def test_the_change_list_offers_the_new_filters(editor_client):
    html = editor_client.get(CHANGELIST).content.decode()
    for words in (
        "By last refresh",
        "Not refreshed for 7 days",
        "By has broken links",
        "By lists a retracted paper",
    ):
        assert words in html
    assert "Unpublished changes or never published" in html


def test_an_unknown_filter_value_lists_every_page(editor_client):
    pks = {page().pk, page(pubmed_query="x").pk}
    assert listed(editor_client, f"{CHANGELIST}?last_refresh=whenever") == pks
    assert listed(editor_client, f"{CHANGELIST}?retracted=no") == pks
    assert listed(editor_client, f"{CHANGELIST}?broken_links=no") == pks


def test_a_refresh_running_now_is_neither_failed_nor_skipped(editor_client):
    busy = page(pubmed_query="x")
    run(busy, "failed", age=timedelta(hours=2))
    run(busy, "running")
    assert listed(editor_client, f"{CHANGELIST}?last_refresh=failed") == set()
    assert listed(editor_client, f"{CHANGELIST}?last_refresh=stale") == {busy.pk}


# --- Recent changes -------------------------------------------------------------------------------


def recent_rows(client) -> list[list[str]]:
    doc = lxml_html.fromstring(client.get("/admin/").content.decode())
    return [
        [" ".join(cell.text_content().split()) for cell in row]
        for row in doc.cssselect(".recent-changes tbody tr")
    ]


def test_recent_changes_say_when_who_which_page_and_what(editor_client, editor):
    draft = page(published=False, title="Interleukin 2")
    with reversion.create_revision():
        reversion.set_user(editor)
        workflow.publish(draft)
    mark_reviewed(draft, editor)

    rows = recent_rows(editor_client)
    assert rows[0][1:] == ["editor", "Interleukin 2", "Marked as reviewed"]
    assert rows[1][1:3] == ["editor", "Interleukin 2"] and rows[1][3] not in ("", "—")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows[0][0])
    doc = lxml_html.fromstring(editor_client.get("/admin/").content.decode())
    link = doc.cssselect(".recent-changes tbody tr th[scope=row] a")[0]
    assert link.get("href") == f"/admin/treatments/treatmentpage/{draft.pk}/change/"


def test_changes_made_outside_the_admin_show_with_no_one(editor_client):
    page(title="Imported page")  # a save with no user: an import, the schedule, a script
    assert recent_rows(editor_client)[0][1:3] == ["—", "Imported page"]


def test_a_deleted_page_shows_its_deletion_and_its_old_changes_without_a_link(editor_client):
    gone = page(title="Gone soon")
    response = editor_client.post(f"/admin/treatments/treatmentpage/{gone.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not TreatmentPage.objects.filter(pk=gone.pk).exists()

    rows = recent_rows(editor_client)
    assert rows[0][1:] == ["editor", "Gone soon", "Deleted the page"]
    assert rows[1][2] == "Gone soon (deleted)"
    doc = lxml_html.fromstring(editor_client.get("/admin/").content.decode())
    assert not doc.cssselect(".recent-changes tbody a")


def test_only_the_last_twenty_changes_newest_first(editor_client):
    pages = [page(title=f"Page {n:02}") for n in range(25)]
    rows = recent_rows(editor_client)
    assert [row[2] for row in rows] == [p.title for p in reversed(pages)][:20]


def test_the_recent_changes_table_is_labelled_for_screen_readers(editor_client):
    page()
    doc = lxml_html.fromstring(editor_client.get("/admin/").content.decode())
    section = doc.cssselect("section.recent-changes")[0]
    heading = doc.get_element_by_id(section.get("aria-labelledby"))
    assert heading.tag == "h2" and heading.text == "Recent changes"
    assert section.cssselect("table caption")[0].text_content().startswith("The last 1 changes")
    assert [th.get("scope") for th in section.cssselect("thead th")] == ["col"] * 4
    attention_section = doc.cssselect("section.attention")[0]
    assert doc.get_element_by_id(attention_section.get("aria-labelledby")).text == "Needs attention"
    # Above the app list, so it is the first thing editors read.
    main = doc.get_element_by_id("content-main")
    assert list(main).index(attention_section) < list(main).index(main.cssselect(".app-treatments")[0])


# --- Who sees it ----------------------------------------------------------------------------------


def staff_client(*codenames: str) -> Client:
    user = User.objects.create_user("someone", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_staff_without_permission_on_pages_see_neither_counts_nor_changes():
    page(last_reviewed_at=None)
    client = staff_client("view_publication")
    html = client.get("/admin/").content.decode()
    assert "Needs attention" not in html and "Recent changes" not in html
    assert client.get(f"{CHANGELIST}?review_due=yes").status_code == 403


def test_permission_to_view_pages_is_enough_to_see_them():
    due = page(last_reviewed_at=None)
    client = staff_client("view_treatmentpage")
    assert item_for(dashboard(client), "due for review")[0] == 1
    assert listed(client, f"{CHANGELIST}?review_due=yes") == {due.pk}
    assert "Recent changes" in client.get("/admin/").content.decode()


def test_readers_are_sent_to_log_in():
    response = Client().get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


# --- Bounded --------------------------------------------------------------------------------------


def index_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    return len(queries)


def test_the_index_runs_the_same_queries_for_one_page_of_each_kind_or_twenty(
    editor_client, django_assert_num_queries
):
    build(1)
    mark_reviewed(TreatmentPage.objects.first(), User.objects.get(username="editor"))
    queries = index_queries(editor_client)
    build(19)
    with django_assert_num_queries(queries):
        editor_client.get("/admin/")


@pytest.mark.parametrize("size", [1, 20])
def test_the_dashboard_is_one_query_per_item_and_three_for_the_changes(
    size, editor, rf, django_assert_num_queries
):
    build(size)
    request = rf.get("/admin/")
    request.user = editor
    assert attention._page_admin(request, attention.admin.site)  # permissions read, cached on the user
    with django_assert_num_queries(len(attention.PAGE_ITEMS)):
        items = attention.needs_attention(request)
    assert {item.count for item in items if "due for review" in item.label} == {2 * size}
    with django_assert_num_queries(3):
        changes = attention.recent_changes(request)
    assert len(changes) == min(20, PageRevision.objects.count())
