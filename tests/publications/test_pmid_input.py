"""A PMID an editor types is ASCII digits only: "²" or a footnote mark ("31171700¹") pass
``str.isdigit()`` but ``int()`` refuses them, and Arabic-Indic "١٢٣" passes both and reads as 123.
Each is refused with the message any non-PMID gets (or, in a search, is text), never a 500 and never
another PMID; a plain PMID still works.
"""

import pytest
from lxml import html as lxml_html

from publications import curation
from publications.models import Exclusion, PageListing
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory
from tests.treatments.editing import change_url

from .test_curation import TERT

pytestmark = pytest.mark.django_db

NOT_PMIDS = ["²", "31171700¹", "١٢٣", "٣١١٧١٧٠٠"]
PUBLICATIONS = "/admin/publications/publication/"
LISTINGS = "/admin/publications/pagelisting/"
NOT_A_PMID = "is not a PMID: a PMID is a whole number"


@pytest.fixture
def page():
    return TreatmentPageFactory(title="Interleukin 2", pubmed_query="interleukin-2", publications_shown=10)


@pytest.fixture
def listed_123(page):
    """What "١٢٣" would silently become: PMID 123, listed on the page."""
    return PageListingFactory(page=page, publication=PublicationFactory(pmid=123, title="Wrong one."))


def curation_url(page, view):
    return change_url(page, f"curation/{view}")


@pytest.mark.parametrize("text", ["31171700", " 31171700 ", "1", str(curation.MAX_PMID)])
def test_typed_id_reads_ascii_digits(text):
    assert curation.typed_id(text) == int(text)
    assert curation.parse_pmid(text) == int(text)


@pytest.mark.parametrize(
    "text", [*NOT_PMIDS, "", "0", "-1", "+5", "1.0", "abc", "1 2", str(curation.MAX_PMID + 1), "9" * 5000]
)
def test_typed_id_refuses_anything_else(text):
    assert curation.typed_id(text) is None
    with pytest.raises(curation.CurationError, match="is not a PMID"):
        curation.parse_pmid(text)


# --- Excluding -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", NOT_PMIDS)
def test_the_exclude_form_refuses_unicode_digits(page, listed_123, editor_client, typed):
    form = editor_client.get(curation_url(page, "exclude"), {"pmid": typed})
    assert form.status_code == 200
    assert "On this page's list now" not in form.content.decode()
    assert "Wrong one." not in form.content.decode()

    response = editor_client.post(curation_url(page, "exclude"), {"pmid": typed, "reason": "off topic"})
    assert response.status_code == 400
    assert f"“{typed}” {NOT_A_PMID}" in response.content.decode()
    assert "Wrong one." not in response.content.decode()
    assert not Exclusion.objects.exists()
    assert PageListing.objects.filter(pk=listed_123.pk).exists()


def test_the_exclude_form_still_takes_a_plain_pmid(page, editor_client):
    PageListingFactory(page=page, publication=PublicationFactory(pmid=31171700, title="Off topic."))
    form = editor_client.get(curation_url(page, "exclude"), {"pmid": "31171700"})
    assert form.status_code == 200 and "Off topic." in form.content.decode()
    response = editor_client.post(curation_url(page, "exclude"), {"pmid": "31171700", "reason": "off topic"})
    assert response.status_code == 302
    assert Exclusion.objects.get().pmid == 31171700 and not PageListing.objects.exists()


# --- Adding --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", NOT_PMIDS)
def test_looking_up_unicode_digits_says_they_are_not_pmids(page, editor_client, ncbi, typed):
    response = editor_client.get(curation_url(page, "add"), {"ids": typed})
    assert response.status_code == 200
    errors = lxml_html.fromstring(response.content.decode()).cssselect("ul.curation-errors li")
    assert [error.text_content() for error in errors] == [
        f"“{typed}” {NOT_A_PMID}, such as 31171700."
    ]  # fmt: skip
    assert ncbi.requests == [] and not PageListing.objects.exists()


@pytest.mark.parametrize("typed", NOT_PMIDS)
def test_adding_unicode_digits_adds_nothing(page, editor_client, ncbi, typed):
    response = editor_client.post(curation_url(page, "add"), {"pmid": [typed]}, follow=True)
    assert response.status_code == 200
    assert "Nothing to add: look the publications up first." in response.content.decode()
    assert ncbi.requests == [] and not PageListing.objects.exists()


def test_adding_a_plain_pmid_still_works(page, editor_client, ncbi):
    response = editor_client.get(curation_url(page, "add"), {"ids": f"{TERT} ²"})
    assert response.status_code == 200 and f"“²” {NOT_A_PMID}" in response.content.decode()
    doc = lxml_html.fromstring(response.content)
    assert [i.get("value") for i in doc.cssselect("input[name=pmid]")] == [str(TERT)]
    response = editor_client.post(curation_url(page, "add"), {"pmid": [str(TERT), "²", "١٢٣"]}, follow=True)
    assert response.status_code == 200
    assert [listing.publication.pmid for listing in PageListing.objects.filter(page=page)] == [TERT]


# --- Searching publications ----------------------------------------------------------------------------


def found(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("typed", NOT_PMIDS)
def test_a_search_for_unicode_digits_is_a_text_search(editor_client, typed):
    PublicationFactory(pmid=123, title="Wrong one.")
    PublicationFactory(pmid=31171700, title="Right one.")
    PublicationFactory(pmid=31171701, title=f"Cited as {typed} in the text.")
    html = found(editor_client, PUBLICATIONS, q=typed)
    assert f"Cited as {typed}" in html
    assert "Wrong one." not in html and "Right one." not in html


def test_a_search_for_plain_pmids_still_finds_them(editor_client):
    PublicationFactory(pmid=123, title="Wrong one.")
    PublicationFactory(pmid=31171700, title="Right one.")
    PublicationFactory(pmid=31171701, title="Also right.")
    html = found(editor_client, PUBLICATIONS, q="31171700, 31171701")
    assert "Right one." in html and "Also right." in html and "Wrong one." not in html


# --- The whole list, by page ---------------------------------------------------------------------------


@pytest.mark.parametrize("typed", [*NOT_PMIDS, "abc"])
def test_the_page_filter_ignores_unicode_digits_as_it_ignores_words(editor_client, typed):
    pages = TreatmentPageFactory(pk=123), TreatmentPageFactory(pk=124)
    for page in pages:
        PageListingFactory(page=page, publication=PublicationFactory(title=f"On page {page.pk}."))
    html = found(editor_client, LISTINGS, page__id__exact=typed)
    assert "On page 123." in html and "On page 124." in html  # not filtered, as for "abc"
    assert found(editor_client, "/admin/publications/refreshrun/", page__id__exact=typed)


def test_the_page_filter_still_takes_a_plain_id(editor_client):
    pages = TreatmentPageFactory(pk=123), TreatmentPageFactory(pk=124)
    for page in pages:
        PageListingFactory(page=page, publication=PublicationFactory(title=f"On page {page.pk}."))
    html = found(editor_client, LISTINGS, page__id__exact="123")
    assert "On page 123." in html and "On page 124." not in html


@pytest.mark.parametrize("typed", NOT_PMIDS)
def test_searching_the_whole_list_for_unicode_digits_finds_nothing(editor_client, typed):
    PageListingFactory(publication=PublicationFactory(pmid=123, title="Wrong one."))
    assert "Wrong one." not in found(editor_client, LISTINGS, q=typed)
