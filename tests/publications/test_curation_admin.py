"""Curating a page's list in the admin: each entry as readers see it, with its flags; pins moved up and
down; exclusions made, listed and removed; publications looked up, shown, then added by PMID or DOI.

Every change is a POST with the CSRF token by an editor who may change the page.
"""

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from lxml import html as lxml_html

from publications import curation
from publications.models import Exclusion, PageListing
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory
from tests.treatments.editing import change_url, form_data
from treatments.models import PageRevision

from .test_curation import DELETE_CITATION, DELETED, TDXD, TERT, TERT_DOI

pytestmark = pytest.mark.django_db

LISTINGS = "/admin/publications/pagelisting/"


@pytest.fixture
def page():
    return TreatmentPageFactory(title="Interleukin 2", pubmed_query="interleukin-2", publications_shown=10)


def curation_url(page, view, *args):
    return change_url(page, "curation/" + "/".join([view, *map(str, args)]))


def rows(page, client):
    """The page form's list: (pk, row classes, text) per row, top to bottom."""
    doc = lxml_html.fromstring(client.get(change_url(page)).content)
    found = []
    for row in doc.cssselect("#listings-group tbody tr.form-row"):
        pk = row.cssselect("input[name$='-id']")[0].get("value")
        found.append((int(pk), row.get("class").split(), " ".join(row.text_content().split())))
    return found


# --- The list on the page form -----------------------------------------------------------------------


def test_each_entry_shows_as_readers_see_it_with_its_flags(page, editor, editor_client):
    flagged = PublicationFactory(
        pmid=31171734, title="Back to the <i>Future</i>.", is_retracted=True, in_pmc=True, pmcid="PMC1",
        publication_types=["Journal Article", "Corrected and Republished Article"],
        authors=[{"last_name": "Sullivan", "initials": "RJ"}, {"collective_name": "IL-2 Study Group"}],
    )  # fmt: skip
    pinned = PageListingFactory(page=page, publication=flagged, position=3)
    hidden, by_hand = PageListingFactory(page=page, position=1), PageListingFactory(page=page, position=2)
    old_site = PageListingFactory(page=page, publication=PublicationFactory(pmid=None), position=4)
    curation.pin(page, [pinned], user=editor)
    curation.hide(page, [hidden], user=editor)
    PageListing.objects.filter(pk=by_hand.pk).update(added_by_hand=True)

    html = editor_client.get(change_url(page)).content.decode()
    assert "<i>Future</i>" in html and "Sullivan RJ, IL-2 Study Group" in html
    assert "Cancer Res. 2019; 79(1):1-10 · PMID 31171734" in html
    assert "#5" not in html and "Interleukin 2 #" not in html
    found = {pk: (classes, text) for pk, classes, text in rows(page, editor_client)}
    classes, text = found[pinned.pk]
    for flag in ("Retracted", "Corrected and republished", "Free full text", "Pinned #1"):
        assert flag in text
    assert "listing-pinned" in classes and "listing-hidden" not in classes
    assert "listing-hidden" in found[hidden.pk][0] and "Hidden from readers" in found[hidden.pk][1]
    assert "Added by hand" in found[by_hand.pk][1]
    assert "no PMID (an old-site entry)" in found[old_site.pk][1] and "Exclude…" not in found[old_site.pk][1]


def test_pins_have_up_and_down_buttons_outside_the_page_form(page, editor, editor_client):
    first, second, _loose = (PageListingFactory(page=page, position=n) for n in range(3))
    curation.pin(page, [first, second], user=editor)
    doc = lxml_html.fromstring(editor_client.get(change_url(page)).content)
    buttons = doc.cssselect("button.curation-move")
    assert [button.get("formaction") for button in buttons] == [
        curation_url(page, "pins", listing.pk, direction)
        for listing in (first, second) for direction in ("up", "down")
    ]  # fmt: skip
    assert {button.get("form") for button in buttons} == {"curation-form"}
    curation_form = doc.get_element_by_id("curation-form")
    assert curation_form.get("method") == "post" and curation_form.cssselect("[name=csrfmiddlewaretoken]")
    page_form = doc.get_element_by_id("treatmentpage_form")
    assert not page_form.cssselect("#curation-form")  # never nested in the page's form
    # Enter in a field submits the page form's first submit button: it must still be "Save draft".
    first_submit = page_form.xpath(
        ".//input[@type='submit'] | .//button[not(@form) and (@type='submit' or not(@type))]"
    )
    assert first_submit[0].get("name") == "_save_draft"


def test_moving_a_pin_up_and_down(page, editor, editor_client):
    first, second = (PageListingFactory(page=page, position=n) for n in range(2))
    curation.pin(page, [first, second], user=editor)
    response = editor_client.post(curation_url(page, "pins", second.pk, "up"))
    assert response.status_code == 302 and response.url == change_url(page) + "#listings-group"
    assert [pk for pk, *_ in rows(page, editor_client)] == [second.pk, first.pk]
    response = editor_client.post(curation_url(page, "pins", second.pk, "up"), follow=True)
    assert "is already the first pin." in response.content.decode()
    response = editor_client.post(curation_url(page, "pins", second.pk, "sideways"), follow=True)
    assert "Move a pin up or down" in response.content.decode()
    assert editor_client.get(curation_url(page, "pins", second.pk, "down")).status_code == 405
    other = PageListingFactory(pinned=True)
    assert editor_client.post(curation_url(page, "pins", other.pk, "up")).status_code == 404


def test_the_page_form_refuses_an_entry_pinned_and_hidden(page, editor_client):
    listing = PageListingFactory(page=page)
    data = form_data(page) | {"listings-TOTAL_FORMS": 1, "listings-INITIAL_FORMS": 1}
    data |= {"listings-0-id": listing.pk, "listings-0-page": page.pk}
    data |= {"listings-0-pinned": "on", "listings-0-hidden": "on"}
    response = editor_client.post(change_url(page), data)
    assert response.status_code == 200
    assert "An entry is pinned or hidden, not both" in response.content.decode()
    listing.refresh_from_db()
    assert not (listing.pinned or listing.hidden)


def test_pinning_on_the_page_form_puts_the_pin_last_and_records_who(page, editor, editor_client):
    first, second = (PageListingFactory(page=page, position=n) for n in range(2))
    curation.pin(page, [second], user=editor)
    data = form_data(page) | {"listings-TOTAL_FORMS": 2, "listings-INITIAL_FORMS": 2}
    for i, listing in enumerate([second, first]):
        data |= {f"listings-{i}-id": listing.pk, f"listings-{i}-page": page.pk, f"listings-{i}-pinned": "on"}
    assert editor_client.post(change_url(page), data).status_code == 302
    assert [row.pk for row in PageListing.objects.pins(page)] == [second.pk, first.pk]
    newest = PageRevision.objects.filter(page_pk=page.pk).select_related("revision__user").first()
    assert newest.revision.user == editor and f"Pinned: {first.publication.title_text}" in newest.changes


def test_unpinning_on_the_page_form_closes_up_the_other_pins(page, editor, editor_client):
    """As Unpin on the whole list does: the first pin left read "Pinned #2", and a new pin went fourth."""
    first, second, third = (PageListingFactory(page=page, position=n) for n in range(3))
    curation.pin(page, [first, second, third], user=editor)
    data = form_data(page) | {"listings-TOTAL_FORMS": 3, "listings-INITIAL_FORMS": 3}
    for i, listing in enumerate([first, second, third]):
        data |= {f"listings-{i}-id": listing.pk, f"listings-{i}-page": page.pk}
    data |= {"listings-1-pinned": "on", "listings-2-pinned": "on"}
    assert editor_client.post(change_url(page), data).status_code == 302
    shown = [re.search(r"Pinned #\d+", text).group() for _, _, text in rows(page, editor_client)[:2]]
    assert shown == ["Pinned #1", "Pinned #2"]
    assert curation.pin(page, [first], user=editor).done[0].endswith("position 3")


def as_a_browser_submits(html: bytes, form_id="treatmentpage_form") -> dict[str, list[str]]:
    """The form's fields as a browser posts them: ticked boxes only, no buttons."""
    doc, data = lxml_html.fromstring(html), {}
    for field in doc.xpath(
        f'//form[@id="{form_id}"]//*[self::input or self::textarea or self::select][@name]'
    ):
        kind = (field.get("type") or "text").lower()
        if field.tag == "select":
            values = [option.get("value") for option in field.xpath(".//option[@selected]")]
        elif field.tag == "textarea":
            values = [field.text or ""]
        elif kind == "checkbox":
            values = ["on"] if field.get("checked") is not None else []
        else:
            values = [] if kind in ("submit", "button", "file") else [field.get("value", "")]
        data.setdefault(field.get("name"), []).extend(values)
    return data


def test_a_page_with_a_long_list_and_many_links_can_still_be_saved(editor_client):
    """The form carries each entry it shows (up to 200), hidden (up to 100) or added by hand, and each
    link: past Django's default of 1,000 fields, Save answered "Bad Request (400)" and the edits were lost."""
    page = TreatmentPageFactory(publications_shown=200, pubmed_query="interleukin-2")
    for n in range(320):
        PageListingFactory(page=page, position=n, hidden=200 <= n < 300, added_by_hand=n >= 300)
    for n in range(40):
        page.web_resources.create(title=f"Link {n}", url=f"https://example.org/{n}")
    data = as_a_browser_submits(editor_client.get(change_url(page)).content)
    data |= {"description": ["<p>Rewritten.</p>"], "_save_draft": ["1"]}
    assert sum(map(len, data.values())) > 1000
    response = editor_client.post(change_url(page), data)
    assert response.status_code == 302
    page.refresh_from_db()
    assert page.draft["description"] == "<p>Rewritten.</p>"


# --- Exclusions ----------------------------------------------------------------------------------------


def test_excluding_from_the_list_with_a_reason(page, editor_client):
    listing = PageListingFactory(
        page=page, publication=PublicationFactory(title="An <i>off</i> topic study.")
    )
    pmid = listing.publication.pmid
    doc = lxml_html.fromstring(editor_client.get(change_url(page)).content)
    link = doc.cssselect(f"#listings-group a.curation-exclude[href$='?pmid={pmid}']")[0].get("href")

    form = editor_client.get(link).content.decode()
    assert f'value="{pmid}"' in form and "An <i>off</i> topic study." in form

    response = editor_client.post(curation_url(page, "exclude"), {"pmid": pmid, "reason": ""})
    assert response.status_code == 400 and "Say why" in response.content.decode()
    assert PageListing.objects.filter(pk=listing.pk).exists()

    response = editor_client.post(curation_url(page, "exclude"), {"pmid": pmid, "reason": "Off topic"})
    assert response.status_code == 302
    assert not PageListing.objects.filter(pk=listing.pk).exists()
    html = editor_client.get(change_url(page)).content.decode()
    doc = lxml_html.fromstring(html)
    row = doc.get_element_by_id(f"exclusion-{pmid}")
    assert [" ".join(cell.text_content().split()) for cell in row.cssselect("td")][:3] == [
        str(pmid), "Off topic", "editor"
    ]  # fmt: skip
    assert (
        f"Excluded: PMID {pmid}: Off topic" in editor_client.get(change_url(page, "history")).content.decode()
    )


def test_an_exclusion_is_removed_from_the_page_form(page, editor, editor_client):
    curation.exclude(page, 123, "off topic", user=editor)
    exclusion = Exclusion.objects.get()
    doc = lxml_html.fromstring(editor_client.get(change_url(page)).content)
    button = doc.cssselect("#exclusion-123 button")[0]
    assert button.get("form") == "curation-form"
    assert editor_client.get(button.get("formaction")).status_code == 405
    response = editor_client.post(button.get("formaction"), follow=True)
    assert "Exclusion removed: PMID 123" in response.content.decode()
    assert not Exclusion.objects.exists()
    response = editor_client.post(curation_url(page, "exclusions", exclusion.pk, "remove"), follow=True)
    assert "That exclusion was removed already." in response.content.decode()
    assert "None: refreshes may list any PMID" in response.content.decode()


def test_a_pmid_not_listed_can_be_excluded_ahead(page, editor_client):
    form = editor_client.get(curation_url(page, "exclude") + "?pmid=999")
    assert form.status_code == 200 and "On this page's list now" not in form.content.decode()
    response = editor_client.post(curation_url(page, "exclude"), {"pmid": "999", "reason": "known bad"})
    assert response.status_code == 302 and Exclusion.objects.get().pmid == 999


# --- Adding by PMID or DOI -----------------------------------------------------------------------------


def test_adding_looks_up_shows_and_then_adds(page, editor_client, ncbi):
    ncbi.add_article(DELETE_CITATION)
    url = curation_url(page, "add")
    response = editor_client.get(url, {"ids": f"{TERT}, {TERT_DOI} 99999998 {DELETED} not-an-id"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<i>TERT</i>" in html and "Free Access to Full Article" in html  # as readers will see it
    for error in (
        "PMID 99999998: PubMed has no article with this PMID.",
        f"PMID {DELETED}: PubMed has deleted this citation.",
        "“not-an-id” is neither a PMID",
    ):
        assert error in html
    doc = lxml_html.fromstring(response.content)
    assert [i.get("value") for i in doc.cssselect("input[name=pmid]")] == [str(TERT)]  # the DOI is the same
    assert not PageListing.objects.exists()

    response = editor_client.post(url, {"pmid": [TERT]}, follow=True)
    assert f"(PMID {TERT}), pinned at position 1" not in response.content.decode()
    listing = PageListing.objects.get(page=page)
    assert (listing.publication.pmid, listing.added_by_hand, listing.pinned) == (TERT, True, False)
    assert "Added by hand" in response.content.decode()
    history = editor_client.get(change_url(page, "history")).content.decode()
    assert "Added by hand: Leucocyte telomere length" in history and "editor" in history


def test_adding_pinned_and_by_doi(page, editor_client, ncbi):
    url = curation_url(page, "add")
    doc = lxml_html.fromstring(editor_client.get(url, {"ids": TERT_DOI}).content)
    assert doc.cssselect("input[name=pin]")[0].get("checked") is not None  # pinned unless unticked
    response = editor_client.post(url, {"pmid": [TERT, "junk"], "pin": "on"}, follow=True)
    assert f"(PMID {TERT}), pinned at position 1" in response.content.decode()
    assert PageListing.objects.get(page=page).pinned


def test_adding_nothing_or_what_is_gone_says_so(page, editor_client, ncbi):
    url = curation_url(page, "add")
    response = editor_client.post(url, {"pmid": ["junk"]}, follow=True)
    assert "Nothing to add: look the publications up first." in response.content.decode()
    response = editor_client.post(url, {"pmid": [99999998]}, follow=True)
    assert "PubMed has no article with this PMID." in response.content.decode()
    assert not PageListing.objects.exists()
    form = editor_client.get(url)
    assert form.status_code == 200 and 'name="ids"' in form.content.decode() and TDXD


# --- Who may -------------------------------------------------------------------------------------------


def test_curation_needs_the_permission_to_change_the_page(page, ncbi):
    listing = PageListingFactory(page=page, pinned=True)
    viewer = User.objects.create_user("viewer", password="a-long-passphrase", is_staff=True)
    client = Client()
    client.force_login(viewer)
    for url in (curation_url(page, "add"), curation_url(page, "exclude")):
        assert client.get(url).status_code == 403
    assert client.post(curation_url(page, "pins", listing.pk, "up")).status_code == 403
    assert client.post(curation_url(page, "exclude"), {"pmid": 1, "reason": "x"}).status_code == 403
    assert not Exclusion.objects.exists() and ncbi.requests == []


def test_curation_posts_need_the_csrf_token(page, editor):
    listing = PageListingFactory(page=page, pinned=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    assert client.post(curation_url(page, "pins", listing.pk, "up")).status_code == 403
    assert client.post(curation_url(page, "exclude"), {"pmid": 1, "reason": "x"}).status_code == 403
    assert not Exclusion.objects.exists()


# --- The whole list (PageListing admin) ----------------------------------------------------------------


def test_the_whole_list_shows_entries_as_readers_see_them_and_refuses_pinning_hidden_ones(
    page, editor_client
):
    hidden = PageListingFactory(
        page=page, hidden=True, publication=PublicationFactory(title="A <i>hidden</i> one.")
    )
    html = editor_client.get(LISTINGS, {"page__id__exact": page.pk}).content.decode()
    assert "A <i>hidden</i> one." in html and "Hidden from readers" in html
    response = editor_client.post(
        f"{LISTINGS}?page__id__exact={page.pk}",
        {"action": "pin", "_selected_action": [hidden.pk]},
        follow=True,
    )
    assert "0 entries changed." in response.content.decode()
    assert "is hidden: show it before pinning it." in response.content.decode()
    assert not PageListing.objects.get(pk=hidden.pk).pinned
    for action in ("show", "pin", "unpin", "hide"):
        editor_client.post(
            f"{LISTINGS}?page__id__exact={page.pk}", {"action": action, "_selected_action": [hidden.pk]}
        )
    assert PageListing.objects.filter(pk=hidden.pk, hidden=True, pinned=False).exists()


def test_entries_are_not_deleted_from_the_whole_list_but_excluded_or_hidden(page, editor_client):
    """Deleted there, an entry left no trace in the page's history, readers' cached page kept it, and
    the next refresh listed it again as new: the delete looked done and was not."""
    listing = PageListingFactory(page=page)
    html = editor_client.get(LISTINGS, {"page__id__exact": page.pk}).content.decode()
    assert "delete_selected" not in html and "Hide the selected entries" in html
    editor_client.post(
        LISTINGS, {"action": "delete_selected", "_selected_action": [listing.pk], "post": "yes"}
    )
    assert editor_client.get(f"{LISTINGS}{listing.pk}/delete/").status_code == 403
    assert PageListing.objects.filter(pk=listing.pk).exists()


def test_the_exclusions_cost_one_query_however_many(page, editor, editor_client):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert editor_client.get(change_url(page)).status_code == 200
        return sum(bool(re.search(r"publications_exclusion", q["sql"])) for q in queries)

    curation.exclude(page, 1, "one", user=editor)
    assert count() == 1
    for pmid in range(2, 30):
        Exclusion.objects.create(page=page, pmid=pmid, reason="more", created_by=editor)
    assert count() == 1


def test_a_new_page_has_no_curation_yet(editor_client):
    html = editor_client.get("/admin/treatments/treatmentpage/add/").content.decode()
    assert "Excluded PMIDs" not in html and 'id="curation-form"' not in html


def test_an_entry_that_left_the_list_after_the_form_was_opened_does_not_stop_the_save(page, editor_client):
    """A refresh (or another editor) removed an entry while the form was open: the rest is saved, the
    editor is told; the form used to fail on the row's hidden id, with no error shown anywhere."""
    first, gone, last = (PageListingFactory(page=page, position=n) for n in range(3))
    data = form_data(page) | {"listings-TOTAL_FORMS": 3, "listings-INITIAL_FORMS": 3}
    for i, listing in enumerate([first, gone, last]):
        data |= {f"listings-{i}-id": listing.pk, f"listings-{i}-page": page.pk}
    data |= {"listings-1-pinned": "on", "listings-2-hidden": "on"}
    gone.delete()
    response = editor_client.post(change_url(page), data, follow=True)
    assert response.redirect_chain and response.redirect_chain[0][1] == 302
    assert "1 entry left the list after you opened this form" in response.content.decode()
    last.refresh_from_db()
    first.refresh_from_db()
    assert last.hidden and not first.pinned and not first.hidden


def test_the_whole_lists_actions_say_how_many_entries_changed_in_good_english(page, editor_client):
    one, two = PageListingFactory(page=page, position=1), PageListingFactory(page=page, position=2)
    url = f"{LISTINGS}?page__id__exact={page.pk}"
    response = editor_client.post(url, {"action": "hide", "_selected_action": [one.pk]}, follow=True)
    assert "1 entry changed." in response.content.decode()
    response = editor_client.post(url, {"action": "show", "_selected_action": [one.pk, two.pk]}, follow=True)
    assert "1 entry changed." in response.content.decode()  # the other one was shown already
    response = editor_client.post(url, {"action": "hide", "_selected_action": [one.pk, two.pk]}, follow=True)
    assert "2 entries changed." in response.content.decode()
