"""Editors never publish blind: a live page's changes wait as a draft until someone publishes."""

import datetime
import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from lxml import html as lxml_html

from tests.factories import FeedbackFactory, TreatmentPageFactory
from tests.treatments.editing import change_url, form_data, live_page, reader_sees
from treatments import previews, scheduling, workflow
from treatments.models import TreatmentPage

pytestmark = pytest.mark.django_db


def test_saving_a_live_page_keeps_readers_on_the_published_version(editor_client):
    page = live_page()
    response = editor_client.post(
        change_url(page), form_data(page, description="<p>A careful rewrite.</p>", tags="cytokine, IL-2")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    page.refresh_from_db()
    assert page.description == "<p>The published text.</p>" and page.draft is not None
    assert "The published text." in reader_sees(page) and "careful rewrite" not in reader_sees(page)
    form = editor_client.get(change_url(page)).content.decode()
    assert "A careful rewrite." in form and "Published, with unpublished changes" in form


def test_links_edited_in_a_draft_wait_too_and_publish_in_their_new_order(editor_client):
    page = live_page()
    data = form_data(page)
    data |= {"web_resources-TOTAL_FORMS": 2, "web_resources-1-title": "Macmillan"}
    data |= {"web_resources-1-url": "https://www.macmillan.org.uk/il2", "web_resources-1-position": "0"}
    data["web_resources-0-position"] = "1"
    editor_client.post(change_url(page), data)
    assert [r.title for r in page.web_resources.all()] == ["NCI"]
    assert [r["title"] for r in TreatmentPage.objects.get(pk=page.pk).draft["web_resources"]] == [
        "Macmillan",
        "NCI",
    ]
    page.refresh_from_db()
    editor_client.post(change_url(page), form_data(page, button="_publish"))
    assert [r.title for r in page.web_resources.all()] == ["Macmillan", "NCI"]
    assert "Macmillan" in reader_sees(page)


def test_publish_makes_the_draft_live_and_clears_it(editor_client):
    page = live_page()
    editor_client.post(change_url(page), form_data(page, description="<p>Version two.</p>"))
    page.refresh_from_db()
    response = editor_client.post(change_url(page), form_data(page, button="_publish"))
    assert response.status_code == 302
    page.refresh_from_db()
    assert (page.description, page.draft, page.published) == ("<p>Version two.</p>", None, True)
    assert "Version two." in reader_sees(page)
    assert page.last_published_at is not None


def test_preview_shows_the_draft_with_the_public_template_to_editors_only(editor_client):
    page = live_page()
    response = editor_client.post(
        change_url(page), form_data(page, button="_preview", description="<p>Draft words.</p>")
    )
    assert response["Location"] == change_url(page, "preview")
    preview = editor_client.get(change_url(page, "preview"))
    html = preview.content.decode()
    assert "Draft words." in html and "The published text." not in html
    assert "Preview" in html and 'class="preview-banner"' in html
    assert "Web Resources" in html and 'name="robots" content="noindex' in html
    assert Client().get(change_url(page, "preview")).status_code == 302  # to the login page


def test_a_new_page_starts_as_a_draft_readers_cannot_see_but_editors_can_view(editor_client, editor):
    section = TreatmentPageFactory().section
    data = {
        "section": section.pk, "slug": "new-drug", "title": "New drug", "description": "<p>Text.</p>",
        "publications_shown": 30, "web_resources-TOTAL_FORMS": 0, "web_resources-INITIAL_FORMS": 0,
        "listings-TOTAL_FORMS": 0, "listings-INITIAL_FORMS": 0, "_save_draft": "1",
    }  # fmt: skip
    response = editor_client.post("/admin/treatments/treatmentpage/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    page = TreatmentPage.objects.get(slug="new-drug")
    assert not page.published and page.description == "<p>Text.</p>"
    assert Client().get(page.get_absolute_url()).status_code == 404
    form = editor_client.get(change_url(page)).content.decode()
    assert change_url(page, "preview") in form  # "View on site" opens the preview, never a 404
    assert editor_client.get(change_url(page, "preview")).status_code == 200
    assert "State: <strong>Draft</strong>" in form


def test_an_empty_description_cannot_be_published(editor_client):
    page = live_page()
    response = editor_client.post(
        change_url(page), form_data(page, button="_publish", description="<p> </p>")
    )
    assert response.status_code == 200
    assert "needs a description" in response.content.decode()
    page.refresh_from_db()
    assert page.description == "<p>The published text.</p>"


def test_unpublish_takes_the_page_off_the_site_and_keeps_its_content(editor_client):
    page = live_page()
    editor_client.post(change_url(page), form_data(page, button="_unpublish"))
    page.refresh_from_db()
    assert not page.published and page.description == "<p>The published text.</p>"
    assert Client().get(page.get_absolute_url()).status_code == 404


def test_the_change_list_shows_and_filters_each_pages_state(editor_client):
    live_page(title="Live one")
    changed = live_page(title="Changed one")
    workflow.save_draft(changed, {**workflow.content_of(changed), "description": "<p>New.</p>"})
    TreatmentPageFactory(title="Draft one", published=False)
    TreatmentPageFactory(
        title="Scheduled one", published=False, publish_at=timezone.now() + datetime.timedelta(days=1)
    )
    html = editor_client.get("/admin/treatments/treatmentpage/").content.decode()
    for state in ["Published", "Published, with unpublished changes", "Draft", "Scheduled"]:
        assert f'<td class="field-state">{state}</td>' in html
    assert (
        editor_client.get("/admin/treatments/treatmentpage/?q=cytokine").content.decode().count("field-state")
        == 2
    )


def test_a_shared_preview_link_lets_a_reviewer_read_the_draft_without_an_account(editor_client):
    page = live_page()
    workflow.save_draft(page, {**workflow.content_of(page), "description": "<p>For review.</p>"})
    response = editor_client.post(change_url(page, "share"), follow=True)
    link = re.search(r"http://testserver(/preview/[^/\s]+/)", response.content.decode()).group(1)
    shared = Client().get(link)
    assert shared.status_code == 200 and "For review." in shared.content.decode()
    assert "no-store" in shared["Cache-Control"] or "max-age=0" in shared["Cache-Control"]
    assert shared["X-Robots-Tag"].startswith("noindex")
    assert Client().post(link).status_code in (200, 405)  # read only: nothing to post to
    assert Client().get(link[:-3] + "xx/").status_code == 404


def press(client, page, label, **changes):
    """The editor edits the form, then presses the button labelled ``label``: it posts the page form
    where the button says (its formaction, else the form's own address), with its name."""
    doc = lxml_html.fromstring(client.get(change_url(page)).content)
    button = doc.xpath(f'//form[@id="treatmentpage_form"]//input[@type="submit"][@value="{label}"]')[0]
    data = form_data(page, button.get("name") or "_no_name", **changes)
    return client.post(button.get("formaction") or change_url(page), data, follow=True)


@pytest.mark.parametrize("published", [True, False])
def test_share_and_mark_as_reviewed_keep_the_edits_made_before_pressing_them(editor_client, published):
    """They posted the page form to views that ignored it: the edits were lost, and the link shared
    the draft as it was before them."""
    page = live_page(published=published)
    response = press(editor_client, page, "Share preview link", description="<p>Fixed before sharing.</p>")
    link = re.search(r"http://testserver(/preview/[^/\s]+/)", response.content.decode()).group(1)
    assert "Fixed before sharing." in Client().get(link).content.decode()
    page.refresh_from_db()
    response = press(editor_client, page, "Mark as reviewed", description="<p>Fixed while reviewing.</p>")
    assert "Marked as reviewed" in response.content.decode()
    page.refresh_from_db()
    assert workflow.working_content(page)["description"] == "<p>Fixed while reviewing.</p>"
    assert page.last_reviewed_at == timezone.localdate()
    assert "Fixed before sharing." not in Client().get(link).content.decode()  # that draft changed since


def test_a_shared_preview_link_expires(settings):
    page = live_page()
    workflow.save_draft(page, {**workflow.content_of(page), "description": "<p>For review.</p>"})
    link = previews.share_url(page)
    assert Client().get(link).status_code == 200
    with pytest.MonkeyPatch.context() as patch:
        later = timezone.now().timestamp() + (previews.SHARE_DAYS + 1) * 24 * 3600
        patch.setattr("time.time", lambda: later)
        assert Client().get(link).status_code == 404


def test_a_shared_preview_link_shows_only_the_draft_it_was_made_for():
    page = live_page()
    workflow.save_draft(page, {**workflow.content_of(page), "description": "<p>For review.</p>"})
    link = previews.share_url(page)
    assert "For review." in Client().get(link).content.decode()
    workflow.save_draft(page, {**workflow.content_of(page), "description": "<p>Not shared yet.</p>"})
    later = Client().get(link)
    assert later.status_code == 404 and b"Not shared yet." not in later.content
    forged = signing.dumps({"page": page.pk}, salt="treatments.preview", compress=True)  # no draft named
    assert Client().get(f"/preview/{forged}/").status_code == 404


def test_a_shared_preview_link_opens_the_live_page_once_its_draft_is_published():
    """It kept showing the published text marked "Preview: this is a draft, not what readers see"."""
    page = live_page()
    workflow.save_draft(page, {**workflow.content_of(page), "description": "<p>For review.</p>"})
    link = previews.share_url(page)
    assert "this is a draft" in Client().get(link).content.decode()
    workflow.publish(page)
    shared = Client().get(link)
    assert shared.status_code == 302 and shared["Location"] == page.get_absolute_url()
    shown = Client().get(link, follow=True).content.decode()
    assert "For review." in shown and "this is a draft" not in shown
    workflow.save_draft(page, {**workflow.content_of(page), "description": "<p>Next draft.</p>"})
    assert Client().get(link)["Location"] == page.get_absolute_url()  # what it showed is still live
    workflow.unpublish(page)
    assert Client().get(link).status_code == 404  # gone from readers; a later draft: not this link's


def test_editors_find_pages_by_other_name_label_and_tag(editor_client):
    page = live_page(title="Interleukin 2", other_name="Aldesleukin", label="IL2")
    page.tags.add("Proleukin")
    TreatmentPageFactory(title="Something else")
    for term in ["Aldesleukin", "IL2", "Proleukin"]:
        html = editor_client.get(f"/admin/treatments/treatmentpage/?q={term}").content.decode()
        assert "Interleukin 2" in html and "Something else" not in html, term


def test_editors_delete_a_page_with_its_votes_and_can_recover_it(editor_client):
    page = live_page()
    FeedbackFactory(page=page)
    page.refresh_runs.create(status="ok")
    confirm = editor_client.get(change_url(page, "delete"))
    assert confirm.status_code == 200 and "Yes, I’m sure" in confirm.content.decode()
    response = editor_client.post(change_url(page, "delete"), {"post": "yes"})
    assert response.status_code == 302
    assert not TreatmentPage.objects.filter(pk=page.pk).exists()
    recover = editor_client.get("/admin/treatments/treatmentpage/recover/").content.decode()
    assert page.title in recover


def test_mark_as_reviewed_on_the_form_dates_the_review_for_readers(editor_client, editor):
    page = live_page()
    response = editor_client.post(change_url(page, "reviewed"))
    assert response.status_code == 302
    page.refresh_from_db()
    assert page.last_reviewed_by == editor and page.last_reviewed_at == timezone.localdate()
    assert page.next_review_due == timezone.localdate() + datetime.timedelta(days=365)
    assert f">{timezone.localdate():%d %B, %Y}</time>" in reader_sees(page).split("Page last reviewed:")[1]
    assert editor_client.get(change_url(page, "reviewed")).status_code == 405


def test_a_draft_left_by_unpublish_becomes_the_page_itself(editor_client):
    page = live_page()
    editor_client.post(change_url(page), form_data(page, description="<p>Pending.</p>", button="_unpublish"))
    page.refresh_from_db()
    assert not page.published and workflow.working_content(page)["description"] == "<p>Pending.</p>"
    editor_client.post(change_url(page), form_data(page, description="<p>Edited offline.</p>"))
    page.refresh_from_db()
    assert (page.draft, page.description) == (None, "<p>Edited offline.</p>")
    editor_client.post(change_url(page), form_data(page, button="_publish"))
    assert "Edited offline." in reader_sees(page)


def test_a_page_whose_section_was_deleted_too_can_still_be_recovered(editor_client):
    page = live_page()
    section = page.section
    editor_client.post(change_url(page, "delete"), {"post": "yes"})
    section.delete()  # empty now
    recover_list = editor_client.get("/admin/treatments/treatmentpage/recover/").content.decode()
    version = re.search(r"/admin/treatments/treatmentpage/recover/(\d+)/", recover_list).group(1)
    response = editor_client.get(f"/admin/treatments/treatmentpage/recover/{version}/")
    assert response.status_code == 200 and page.title in response.content.decode()


def test_recovering_a_page_whose_address_another_page_now_has_says_so(editor_client):
    """Opening Recover put the old row back to show it: a server error on the unique address."""
    page = live_page(slug="il-2")
    editor_client.post(change_url(page, "delete"), {"post": "yes"})
    newer = TreatmentPageFactory(section=page.section, slug="il-2", title="Newer")
    recover_list = editor_client.get("/admin/treatments/treatmentpage/recover/").content.decode()
    version = re.search(r"/admin/treatments/treatmentpage/recover/(\d+)/", recover_list).group(1)
    response = editor_client.get(f"/admin/treatments/treatmentpage/recover/{version}/", follow=True)
    assert response.redirect_chain[-1][0] == "/admin/treatments/treatmentpage/recover/"
    assert f"“{newer}” has this page’s address now" in response.content.decode()
    newer.slug = "il-2-new"
    newer.save()
    response = editor_client.get(f"/admin/treatments/treatmentpage/recover/{version}/")
    assert response.status_code == 200 and page.title in response.content.decode()


def test_a_tag_longer_than_a_tag_can_be_is_a_form_error_not_a_server_error(editor_client):
    page = live_page()
    for button in ("_save_draft", "_publish"):
        response = editor_client.post(
            change_url(page), form_data(page, button, tags="cytokine, " + "x" * 101)
        )
        assert response.status_code == 200, button
        assert "A tag must be at most 100 characters; this one has 101" in response.content.decode()
    page.refresh_from_db()
    assert page.draft is None and list(page.tags.names()) == ["cytokine"]
    response = editor_client.post(change_url(page), form_data(page, tags="cytokine, " + "x" * 100))
    assert response.status_code == 302  # at the limit: saved


@pytest.mark.parametrize(
    "url", ["abc/preview/", "²/preview/", "99999999999999999999/preview/", "{pk}/compare/?revision=abc",
            "{pk}/compare/?revision=99999999999999999999", "{pk}/compare/?revision=1&revision=²"],
)  # fmt: skip
def test_a_hand_typed_admin_url_with_a_bad_id_is_a_404(editor_client, url):
    page = live_page()
    assert (
        editor_client.get(change_url(page).replace(f"{page.pk}/change/", url.format(pk=page.pk))).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", "abc/test-query/"), ("post", "abc/refresh-now/"), ("get", "abc/curation/add/"),
     ("get", "²/curation/exclude/"), ("post", "99999999999999999999/curation/exclusions/1/remove/")],
)  # fmt: skip
def test_a_hand_typed_url_of_the_pages_tools_with_a_bad_id_is_a_404(editor_client, method, url):
    page = live_page()
    response = getattr(editor_client, method)(change_url(page).replace(f"{page.pk}/change/", url))
    assert response.status_code == 404


def test_the_refresh_status_of_a_page_id_no_page_can_have_is_empty_not_a_server_error(editor_client):
    page = live_page()
    status = "/admin/treatments/treatmentpage/refresh-status/?format=json&page={}&after=0"
    response = editor_client.get(status.format("99999999999999999999"))
    assert response.status_code == 200 and response.json()["pages"] == []
    assert editor_client.get(status.format(page.pk)).json()["pages"][0]["page"] == page.pk


def opened_form(client, page) -> str:
    """The change form as an editor opens it: what it sends back as ``edited_from``."""
    html = client.get(change_url(page)).content.decode()
    return re.search(r'name="edited_from" value="([0-9a-f]+)"', html).group(1)


@pytest.mark.parametrize("has_draft", [False, True])
@pytest.mark.parametrize("button", ["_save_draft", "_publish"])
def test_a_form_opened_before_another_editors_save_cannot_put_back_what_they_changed(
    editor_client, has_draft, button
):
    page = live_page(title="Interleukin 2")
    if has_draft:
        workflow.save_draft(page, {**workflow.content_of(page), "label": "IL2"})
    other = Client()
    second = get_user_model().objects.create_user("second", password="x", is_staff=True, is_superuser=True)
    other.force_login(second)
    mine, theirs = opened_form(editor_client, page), opened_form(other, page)
    assert mine == theirs
    response = other.post(change_url(page), form_data(page, description="<p>Theirs.</p>", edited_from=theirs))
    assert response.status_code == 302
    page.refresh_from_db()
    response = editor_client.post(
        change_url(page),
        form_data(page, button, title="Mine", description="<p>The published text.</p>", edited_from=mine),
    )
    html = response.content.decode()
    assert response.status_code == 200 and "This page was changed by second at" in html
    assert "nothing was saved" in html and 'value="Mine"' in html  # the editor's own edits still shown
    page.refresh_from_db()
    content = workflow.working_content(page)
    assert content["description"] == "<p>Theirs.</p>" and content["title"] == "Interleukin 2"
    # Reloaded: the latest version, and the save goes through.
    response = editor_client.post(
        change_url(page), form_data(page, title="Mine", edited_from=opened_form(editor_client, page))
    )
    assert response.status_code == 302
    page.refresh_from_db()
    assert workflow.working_content(page)["title"] == "Mine"
    assert workflow.working_content(page)["description"] == "<p>Theirs.</p>"


def import_description(page, tmp_path, description: str) -> None:
    """An import that changes only the live page's description (imports leave drafts alone)."""
    spec = {"pages": [{"section": page.section.path, "slug": page.slug, "title": page.title,
                       "description": description}]}  # fmt: skip
    (tmp_path / "import.json").write_text(json.dumps(spec))
    call_command("import_pages", str(tmp_path / "import.json"), stdout=io.StringIO())


def test_publishing_a_draft_started_before_an_import_asks_before_putting_back_the_old_text(
    editor_client, tmp_path
):
    page = live_page(title="Interleukin 2")
    editor_client.post(change_url(page), form_data(page, label="IL2"))  # a draft, from the live text
    import_description(page, tmp_path, "<p>Imported since.</p>")
    page.refresh_from_db()
    assert (
        page.description == "<p>Imported since.</p>"
        and page.draft["description"] == "<p>The published text.</p>"
    )
    response = editor_client.post(change_url(page), form_data(page, "_publish"))
    html = response.content.decode()
    assert response.status_code == 200 and "The live page changed after this draft was started" in html
    assert 'type="checkbox" name="replace_live"' in html
    page.refresh_from_db()
    assert page.description == "<p>Imported since.</p>" and page.draft is not None  # nothing published
    response = editor_client.post(change_url(page), form_data(page, "_publish", replace_live="on"))
    assert response.status_code == 302
    page.refresh_from_db()
    assert (page.draft, page.draft_base, page.label) == (None, "", "IL2")
    assert page.description == "<p>The published text.</p>"  # the editor chose the draft's text


def test_a_draft_saved_again_with_the_live_page_unchanged_publishes_without_asking(editor_client, tmp_path):
    page = live_page()
    editor_client.post(change_url(page), form_data(page, label="IL2"))
    page.refresh_from_db()
    editor_client.post(change_url(page), form_data(page, label="IL-2"))  # the same draft, saved again
    page.refresh_from_db()
    response = editor_client.post(change_url(page), form_data(page, "_publish"))
    assert response.status_code == 302
    page.refresh_from_db()
    assert page.label == "IL-2" and page.draft is None


def test_a_scheduled_publish_of_a_draft_the_live_page_outgrew_waits_for_an_editor(tmp_path):
    page = live_page()
    workflow.save_draft(page, {**workflow.content_of(page), "label": "IL2"})
    import_description(page, tmp_path, "<p>Imported since.</p>")
    TreatmentPage.objects.filter(pk=page.pk).update(publish_at=timezone.now() - datetime.timedelta(minutes=1))
    summary = scheduling.run_publishing_schedule()
    assert summary.failed == [page.pk] and not summary.published
    page.refresh_from_db()
    assert page.description == "<p>Imported since.</p>" and page.draft["label"] == "IL2"
    assert "The live page changed after this draft was started" in page.schedule_error


def test_the_import_report_says_a_page_it_changed_has_an_older_draft(tmp_path):
    page = live_page(title="Interleukin 2")
    workflow.save_draft(page, {**workflow.content_of(page), "label": "IL2"})
    spec = {"pages": [{"section": page.section.path, "slug": page.slug, "title": page.title,
                       "description": "<p>Imported.</p>"}]}  # fmt: skip
    (tmp_path / "import.json").write_text(json.dumps(spec))
    out = io.StringIO()
    call_command("import_pages", str(tmp_path / "import.json"), stdout=out)
    assert "note: an editor's unpublished draft of this page is left as it is" in out.getvalue()


def test_a_save_locks_the_pages_row_until_it_commits(editor_client):
    """What makes the ``edited_from`` check hold for two saves at once: the second waits for the first."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks (SELECT ... FOR UPDATE) are PostgreSQL's")
    page = live_page()
    with CaptureQueriesContext(connection) as queries:
        response = editor_client.post(change_url(page), form_data(page, label="IL2"))
    assert response.status_code == 302
    locks = [q["sql"] for q in queries if "FOR UPDATE" in q["sql"] and "treatments_treatmentpage" in q["sql"]]
    assert locks, "the page's row was not locked"
