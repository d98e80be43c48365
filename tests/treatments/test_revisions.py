"""Every save is a revision: who, when, what changed; any two compare field by field; any one restores."""

import pytest
import reversion
from django.test import Client
from reversion.models import Revision, Version

from tests.factories import PageListingFactory, TreatmentPageFactory
from tests.treatments.editing import change_url, form_data, live_page
from treatments import revisions, workflow
from treatments.models import PageRevision, TreatmentPage

pytestmark = pytest.mark.django_db


def newest(page):
    return revisions.history(page.pk).first()


def test_a_save_through_the_model_api_is_a_revision():
    page = TreatmentPageFactory(title="By the API")
    assert newest(page).changes == ["Created and published"]
    page.web_resources.create(title="NCI", url="https://www.cancer.gov/")
    assert newest(page).changes == ["Web resource added: NCI"]
    page.title = "Renamed by the API"
    page.save()
    assert newest(page).changes == ["Title changed"]
    assert revisions.history(page.pk).count() == 3


def test_an_admin_save_records_who_and_what_changed(editor_client, editor):
    page = live_page()
    editor_client.post(
        change_url(page), form_data(page, description="<p>Reworded.</p>", tags="cytokine, IL-2")
    )
    revision = newest(page)
    assert revision.revision.user == editor
    assert revision.changes == ["Description changed", "Tag added: IL-2", "Saved as a draft"]
    assert revision.has_draft and revision.live


def test_the_history_offers_compare_and_restore(editor_client):
    page = live_page()
    editor_client.post(change_url(page), form_data(page, description="<p>Second words.</p>"))
    html = editor_client.get(change_url(page, "history")).content.decode()
    assert ">Compare</button>" in html and ">Restore</button>" in html
    assert "Description changed" in html and "editor" in html


def test_compare_shows_a_readable_field_by_field_diff(editor_client):
    page = live_page()
    first = newest(page)
    data = form_data(page, description="<p>The revised text.</p>", tags="cytokine, IL-2")
    data |= {"web_resources-TOTAL_FORMS": 0}
    editor_client.post(change_url(page), data)
    second = newest(page)
    html = editor_client.get(
        change_url(page, "compare"), {"revision": [second.pk, first.pk]}
    ).content.decode()
    assert "<del>published</del>" in html and "<ins>revised</ins>" in html
    assert "Web resources" in html and "NCI" in html
    assert "Tags" in html and "IL-2" in html


def test_compare_marks_every_paragraph_of_a_change_that_spans_paragraphs(editor_client):
    """Each paragraph is its own <p>: a <del> opened in one and closed in the next was dropped by the
    browser at the first </p>, and the later paragraphs' removed words looked unchanged."""
    page = TreatmentPageFactory(
        description="<p>Given by infusion.</p><p>Fever is common.</p><p>Kept as is.</p>"
    )
    first = newest(page)
    editor_client.post(
        change_url(page), form_data(page, description="<p>Given orally.</p><p>Kept as is.</p>")
    )
    html = editor_client.get(
        change_url(page, "compare"), {"revision": [first.pk, newest(page).pk]}
    ).content.decode()
    assert "<p>Given <del>by infusion.</del></p><p><del>Fever is common.</del></p><p>Kept as is.</p>" in html
    assert "<p>Given <ins>orally.</ins></p><p>Kept as is.</p>" in html


def test_compare_needs_two_revisions_of_this_page(editor_client):
    page, other = live_page(), live_page()
    response = editor_client.get(
        change_url(page, "compare"), {"revision": [newest(page).pk, newest(other).pk]}
    )
    assert response.status_code == 302 and response["Location"] == change_url(page, "history")


def test_restore_makes_an_old_revision_the_draft_in_one_click(editor_client):
    page = live_page()
    original = newest(page)
    editor_client.post(change_url(page), form_data(page, description="<p>Mistake.</p>", button="_publish"))
    assert "Mistake." in Client().get(page.get_absolute_url()).content.decode()

    response = editor_client.post(f"{change_url(page, 'restore')}{original.pk}/")
    assert response.status_code == 302
    page.refresh_from_db()
    assert page.description == "<p>Mistake.</p>"  # still live until someone publishes
    assert page.draft["description"] == "<p>The published text.</p>"
    assert "Restored the revision of" in newest(page).revision.comment

    editor_client.post(change_url(page), form_data(page, button="_publish"))
    assert "The published text." in Client().get(page.get_absolute_url()).content.decode()


def test_restore_is_a_post_and_only_for_this_pages_revisions(editor_client):
    page, other = live_page(), live_page()
    assert editor_client.get(f"{change_url(page, 'restore')}{newest(page).pk}/").status_code == 405
    assert editor_client.post(f"{change_url(page, 'restore')}{newest(other).pk}/").status_code == 404


def test_pinning_and_hiding_are_in_the_pages_history_with_who(editor_client, editor):
    page = live_page()
    listing = PageListingFactory(page=page)
    data = form_data(page)
    data |= {"listings-TOTAL_FORMS": 1, "listings-INITIAL_FORMS": 1}
    data |= {"listings-0-id": listing.pk, "listings-0-page": page.pk, "listings-0-pinned": "on"}
    editor_client.post(change_url(page), data)
    revision = newest(page)
    assert revision.revision.user == editor
    assert revision.changes == [f"Pinned: {listing.publication.title_text[:80]}"]


def test_one_import_or_workflow_step_is_one_revision():
    page = live_page()
    before = Revision.objects.count()
    workflow.publish(page)
    assert Revision.objects.count() == before + 1
    with reversion.create_revision():
        page.title = "Two saves"
        page.save()
        page.web_resources.create(title="More", url="https://example.org/more")
    assert Revision.objects.count() == before + 2
    assert newest(page).changes == ["Title changed", "Web resource added: More"]


def test_a_deleted_pages_revisions_stay_for_recovery(editor_client):
    page = live_page()
    pk = page.pk
    editor_client.post(change_url(page, "delete"), {"post": "yes"})
    assert not TreatmentPage.objects.filter(pk=pk).exists()
    assert PageRevision.objects.filter(page_pk=pk).exists()


def submitted(response) -> dict:
    """What the admin form in ``response`` posts back as it is shown."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data |= {management.add_prefix(key): value for key, value in management.initial.items()}
        forms += inline.formset.forms
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if name == "tags" and not isinstance(value, str):
                value = ", ".join(sorted(tag.name for tag in value))
            if value is True:
                value = "on"
            if value not in (None, False):
                data[form.add_prefix(name)] = getattr(value, "pk", value)
    return data


def test_reversions_own_revert_page_is_history_and_reverts_nothing(editor_client):
    page = live_page()
    section = page.section
    with reversion.create_revision():
        section.title = "Renamed since"
        section.save()
    old = Version.objects.get_for_object(page).order_by("pk").first()
    url = f"/admin/treatments/treatmentpage/{page.pk}/history/{old.pk}/"
    for response in (editor_client.get(url), editor_client.post(url, form_data(page))):
        assert response.status_code == 302 and response.url == change_url(page, "history")
    section_version = Version.objects.get_for_object(section).order_by("pk").first()
    editor_client.post(f"/admin/treatments/treatmentpage/{page.pk}/history/{section_version.pk}/", {})
    section.refresh_from_db()
    assert section.title == "Renamed since"


def test_recovering_a_deleted_page_brings_back_it_alone_with_its_links_and_tags(editor_client, tmp_path):
    page, other = live_page(title="Interleukin 2"), live_page(title="Interferon")
    with reversion.create_revision():  # one revision holding both pages, as an import's does
        for each in (page, other):
            each.description = "<p>Both, in one revision.</p>"
            each.save()
    with reversion.create_revision():
        other.description = "<p>Interferon, edited since.</p>"
        other.save()
    editor_client.post(change_url(page, "delete"), {"post": "yes"})
    version = Version.objects.get_for_object_reference(TreatmentPage, page.pk).first()
    url = f"/admin/treatments/treatmentpage/recover/{version.pk}/"
    response = editor_client.get(url)
    assert response.status_code == 200
    assert editor_client.post(url, submitted(response)).status_code == 302
    recovered = TreatmentPage.objects.get(pk=page.pk)
    assert recovered.description == "<p>Both, in one revision.</p>"
    assert recovered.published  # as it was
    assert [r.url for r in recovered.web_resources.all()] == ["https://www.cancer.gov/il2"]
    assert list(recovered.tags.names()) == ["cytokine"]
    other.refresh_from_db()
    assert other.description == "<p>Interferon, edited since.</p>"  # the rest of that revision untouched
    with reversion.create_revision():
        recovered.section.save()
    section_version = Version.objects.get_for_object(recovered.section).first()
    assert (
        editor_client.get(f"/admin/treatments/treatmentpage/recover/{section_version.pk}/").status_code == 404
    )
    response = editor_client.get(url)  # not deleted any more
    assert response.status_code == 302 and response.url == change_url(page)


def test_a_sections_old_version_never_reverts_its_revision(editor_client):
    """An import's revision holds its sections and its pages: reverting it from a section's history put
    the pages back live, past their drafts."""
    page = live_page()
    section = page.section
    with reversion.create_revision():  # one revision, as an import's
        section.title = "Old title"
        section.save()
        page.description = "<p>Old text.</p>"
        page.save()
    with reversion.create_revision():
        section.title = "New title"
        section.save()
    page.description = "<p>New text.</p>"
    page.save()
    old = Version.objects.get_for_object(section).order_by("pk").first()
    url = f"/admin/treatments/section/{section.pk}/history/{old.pk}/"
    response = editor_client.post(url, {"title": "Old title", "slug": section.slug, "position": 0})
    assert response.status_code == 302 and response.url == f"/admin/treatments/section/{section.pk}/change/"
    section.refresh_from_db()
    page.refresh_from_db()
    assert (section.title, page.description) == ("New title", "<p>New text.</p>")
    assert editor_client.get(f"/admin/treatments/section/recover/{old.pk}/").status_code == 302
