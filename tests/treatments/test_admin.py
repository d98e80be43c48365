"""Editors (the "Editors" group) edit content in /admin/; nobody else gets in, and editors get no further."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask
from taggit.models import Tag, TaggedItem

from publications.models import PageListing, RefreshRun
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory
from treatments import workflow

pytestmark = pytest.mark.django_db


def test_anonymous_readers_are_sent_to_log_in():
    page = TreatmentPageFactory()
    for url in [
        "/admin/",
        f"/admin/treatments/treatmentpage/{page.pk}/change/",
        "/admin/publications/publication/",
    ]:
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_editors_edit_pages_and_see_publications(editor_client):
    page = TreatmentPageFactory()
    PageListingFactory(page=page)
    assert editor_client.get("/admin/").status_code == 200
    assert editor_client.get(f"/admin/treatments/treatmentpage/{page.pk}/change/").status_code == 200
    assert editor_client.get("/admin/treatments/section/add/").status_code == 200
    assert editor_client.get("/admin/publications/publication/").status_code == 200


def test_editors_cannot_touch_users_groups_or_the_schedule(editor_client):
    for url in ["/admin/auth/user/", "/admin/auth/group/", "/admin/django_celery_beat/periodictask/"]:
        assert editor_client.get(url).status_code == 403


def test_the_tag_admin_shows_pages_only_never_other_models_rows(editor_client, editor):
    page = TreatmentPageFactory(title="Interleukin 2")
    page.tags.add("cytokine")
    tag = Tag.objects.get(name="cytokine")
    schedule = PeriodicTask.objects.first()
    for obj in (editor, schedule):  # what a tagged-item inline used to let anyone point a tag at
        TaggedItem.objects.create(
            tag=tag, content_type=ContentType.objects.get_for_model(obj), object_id=obj.pk
        )
    html = editor_client.get(f"/admin/taggit/tag/{tag.pk}/change/").content.decode()
    assert "Interleukin 2" in html
    assert (
        schedule.name not in html and "content_type" not in html and "editor" not in html.split("<main")[-1]
    )
    response = editor_client.post(
        f"/admin/taggit/tag/{tag.pk}/change/",
        {"name": "cytokine", "slug": "cytokine", "taggit-taggeditem-content_type-object_id-TOTAL_FORMS": "1"},
    )
    assert response.status_code == 302
    assert not editor.has_perm("taggit.add_taggeditem") and not editor.has_perm("taggit.view_taggeditem")


def test_publications_are_searchable_by_pmid_title_and_author(editor_client):
    PublicationFactory(
        pmid=31171734, title="Back to the Future.", authors=[{"last_name": "Sullivan", "initials": "RJ"}]
    )
    PublicationFactory(pmid=30000001, title="Something else.")
    for term in ["31171734", "Future", "Sullivan"]:
        html = editor_client.get("/admin/publications/publication/", {"q": term}).content.decode()
        assert "Back to the Future." in html, term
        assert "Something else." not in html, term


def test_publication_source_fields_are_read_only(editor_client):
    publication = PublicationFactory(title="Original title.")
    url = f"/admin/publications/publication/{publication.pk}/change/"
    editor_client.post(url, {"title": "Changed by hand."})
    publication.refresh_from_db()
    assert publication.title == "Original title."


def _page_form(page, listings):
    data = {
        "section": page.section.pk, "title": page.title, "other_name": page.other_name, "slug": page.slug,
        "label": page.label, "published": "on", "tags": "cytokine", "description": page.description,
        "pubmed_query": page.pubmed_query, "publications_shown": page.publications_shown,
        "web_resources-TOTAL_FORMS": 0, "web_resources-INITIAL_FORMS": 0,
        "listings-TOTAL_FORMS": len(listings), "listings-INITIAL_FORMS": len(listings),
    }  # fmt: skip
    for i, listing in enumerate(listings):
        data.update({f"listings-{i}-id": listing.pk, f"listings-{i}-page": page.pk})
    return data


def test_editors_pin_and_hide_entries_and_the_page_records_the_change(editor_client):
    page = TreatmentPageFactory()
    first, second = PageListingFactory(page=page), PageListingFactory(page=page)
    before = page.content_changed_at
    data = _page_form(page, [first, second])
    data.update({"listings-0-hidden": "on", "listings-1-pinned": "on"})
    response = editor_client.post(f"/admin/treatments/treatmentpage/{page.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PageListing.objects.get(pk=first.pk).hidden
    assert PageListing.objects.get(pk=second.pk).pinned
    page.refresh_from_db()
    assert page.content_changed_at > before


def test_description_is_sanitized_on_save(editor_client):
    page = TreatmentPageFactory()
    data = _page_form(page, [])
    data["description"] = (
        '<p onclick="x()">Hi <a href="javascript:alert(1)">link</a><script>bad()</script></p>'
    )
    editor_client.post(f"/admin/treatments/treatmentpage/{page.pk}/change/", data)  # kept as a draft
    page.refresh_from_db()
    description = workflow.working_content(page)["description"]
    assert "script" not in description
    assert "onclick" not in description
    assert "javascript:" not in description
    assert "Hi" in description


def test_editors_see_when_each_page_last_refreshed_and_why_it_failed(editor_client):
    never, failing = TreatmentPageFactory(title="Never refreshed"), TreatmentPageFactory(title="Failing")
    RefreshRun.objects.create(page=failing, status="ok", pmids_found=30, publications_new=2)
    RefreshRun.objects.create(page=failing, status="failed", error="HTTP 400: Invalid query")
    changelist = editor_client.get("/admin/treatments/treatmentpage/").content.decode()
    assert "HTTP 400: Invalid query" in changelist
    assert "never" in changelist
    form = editor_client.get(f"/admin/treatments/treatmentpage/{failing.pk}/change/").content.decode()
    assert "HTTP 400: Invalid query" in form and "All refreshes" in form
    assert (
        "Never refreshed."
        in editor_client.get(f"/admin/treatments/treatmentpage/{never.pk}/change/").content.decode()
    )


def queries_for(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_page_list_costs_the_same_queries_for_one_page_or_many(editor_client):
    RefreshRun.objects.create(page=TreatmentPageFactory(), status="ok")
    one = queries_for(editor_client, "/admin/treatments/treatmentpage/")
    for page in TreatmentPageFactory.create_batch(10):
        RefreshRun.objects.create(page=page, status="failed", error="HTTP 500")
    assert queries_for(editor_client, "/admin/treatments/treatmentpage/") == one


def test_a_pages_form_costs_the_same_queries_for_one_listed_publication_or_forty(editor_client):
    page = TreatmentPageFactory()
    PageListingFactory(page=page)
    url = f"/admin/treatments/treatmentpage/{page.pk}/change/"
    one = queries_for(editor_client, url)
    PageListingFactory.create_batch(39, page=page)
    assert queries_for(editor_client, url) == one


def test_editors_see_what_readers_answered(editor_client):
    page = TreatmentPageFactory()
    for visitor, useful in [("a", True), ("b", True), ("c", False)]:
        page.feedback.create(visitor=visitor, useful=useful)
    form = editor_client.get(f"/admin/treatments/treatmentpage/{page.pk}/change/").content.decode()
    assert "2 yes, 1 no" in form


@pytest.fixture
def treatment():
    return TreatmentPageFactory(slug="il-2", title="Interleukin 2")


def test_tags_merged_into_one_of_themselves_stay_on_every_page(treatment, editor_client, client):
    """taggit took each page's link to the target tag, when it was one of those merged, for a duplicate
    of itself and deleted it: merging "cytokine" into "cytokines" left every page without either."""
    other = TreatmentPageFactory(section=treatment.section, slug="il-7", title="Interleukin 7")
    third = TreatmentPageFactory(section=treatment.section, slug="il-15", title="Interleukin 15")
    treatment.tags.add("cytokine")
    other.tags.add("cytokines")
    third.tags.add("cytokines", "cytokine")
    chosen = [tag.pk for tag in Tag.objects.filter(name__in=["cytokine", "cytokines"])]
    editor_client.post("/admin/taggit/tag/", {"action": "render_tag_form", "_selected_action": chosen})
    merged = editor_client.post("/admin/taggit/tag/merge-tags/", {"new_tag_name": "cytokines"})
    assert merged.status_code == 302
    for page in (treatment, other, third):
        assert list(page.tags.names()) == ["cytokines"], page
    assert b"Interleukin 7" in client.get("/tags/cytokines/").content


def test_a_merge_with_nothing_else_to_merge_says_so_and_changes_nothing(treatment, editor_client):
    treatment.tags.add("cytokines")
    chosen = [Tag.objects.get(name="cytokines").pk]
    editor_client.post("/admin/taggit/tag/", {"action": "render_tag_form", "_selected_action": chosen})
    merged = editor_client.post("/admin/taggit/tag/merge-tags/", {"new_tag_name": "cytokines"}, follow=True)
    assert "Choose at least one other tag" in merged.content.decode()
    assert list(treatment.tags.names()) == ["cytokines"]
    # A stale session (no selection at all) is the same message, not a server error.
    assert editor_client.post("/admin/taggit/tag/merge-tags/", {"new_tag_name": "x"}).status_code == 302


def test_merging_tags_needs_the_right_to_change_them(treatment, client, django_user_model):
    treatment.tags.add("cytokine", "cytokines")
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_tag"))
    client.force_login(viewer)
    session = client.session
    session["selected_tag_ids"] = ",".join(str(tag.pk) for tag in Tag.objects.all())
    session.save()
    assert client.post("/admin/taggit/tag/merge-tags/", {"new_tag_name": "cytokines"}).status_code == 403
    assert sorted(treatment.tags.names()) == ["cytokine", "cytokines"]
