"""Trying a PubMed query before saving it: "Test query", the page form's check, and the list's diff.

The fake NCBI answers over real HTTP with NCBI's own esearch shapes (QueryTranslation, ErrorList,
WarningList, <ERROR>); nothing is mocked.
"""

from __future__ import annotations

import json

import httpx
import lxml.html
import pytest
from django.contrib.auth.models import User
from django.test import Client

from publications import query_tools, refresh
from publications.models import Exclusion, PageListing, Publication, RefreshRun
from publications.pubmed import parse_esearch
from publications.query_tools import ListDiff, describe_ncbi_message, preview_diff, syntax_problems
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory
from tests.fakes.eutils import FakeEutils
from tests.publications.test_refresh import (
    COLLECTIVE,
    GUT_2017,
    INT_J_MOL_SCI,
    JCI_ELOCATION,
    OTHERS,
    QUERY,
    SEASON,
    article,
    entry_html,
    refreshed,
)
from treatments.models import TreatmentPage

pytestmark = pytest.mark.django_db

TRANSLATION = '"interleukin 2"[MeSH Terms] AND "neoplasms"[MeSH Terms]'
MANY = [INT_J_MOL_SCI, COLLECTIVE, JCI_ELOCATION, GUT_2017, SEASON, *OTHERS]  # 13 real articles
NEW_QUERY = "aldesleukin[tiab]"


def change_url(page: TreatmentPage, view: str = "change") -> str:
    return f"/admin/treatments/treatmentpage/{page.pk}/{view}/"


def text(html: str) -> str:
    return " ".join(lxml.html.fromstring(html).text_content().split())


def page_form(page: TreatmentPage, **changes) -> dict:
    """The page form as an editor submits it with Save draft."""
    data = {
        "section": page.section_id, "slug": page.slug, "title": page.title, "other_name": page.other_name,
        "label": page.label, "tags": "", "description": page.description, "pubmed_query": page.pubmed_query,
        "publications_shown": page.publications_shown, "confirm_query": "False",
        "web_resources-TOTAL_FORMS": 0, "web_resources-INITIAL_FORMS": 0,
        "listings-TOTAL_FORMS": 0, "listings-INITIAL_FORMS": 0, "_save_draft": "1",
    }  # fmt: skip
    return data | changes


@pytest.fixture
def treatment(db) -> TreatmentPage:
    return TreatmentPageFactory(pubmed_query=QUERY, published=False)


# --- The fake server speaks NCBI's esearch ------------------------------------------------------------


def esearch(fake: FakeEutils, term: str, retmax: int = 20):
    return parse_esearch(
        httpx.get(f"{fake.base_url}esearch.fcgi", params={"term": term, "retmax": retmax}).content
    )


def test_the_fake_esearch_answers_with_the_translation_errors_and_warnings_it_was_given(fake_eutils):
    fake_eutils.set_search(
        "stem cells AND abcxyz",
        [GUT_2017],
        translation='"stem cells"[MeSH Terms]',
        translation_set=[("stem cells", '"stem cells"[MeSH Terms]')],
        errors={"PhraseNotFound": ["abcxyz"], "FieldNotFound": "zz"},
        warnings=[("OutputMessage", "Some terms were not found."), ("QuotedPhraseNotFound", '"a b"')],
    )
    found = esearch(fake_eutils, "stem cells AND abcxyz")
    assert (found.count, found.pmids, found.query_translation) == (1, [GUT_2017], '"stem cells"[MeSH Terms]')
    assert found.errors == ["PhraseNotFound: abcxyz", "FieldNotFound: zz"]
    # In the DTD's order, whatever order the test gave them in.
    assert found.warnings == ['QuotedPhraseNotFound: "a b"', "OutputMessage: Some terms were not found."]
    with pytest.raises(ValueError, match="unknown tag"):
        fake_eutils.set_search("x", [], errors={"NoSuchTag": "x"})


def test_the_fake_esearch_keeps_ncbis_shapes_for_no_results_and_for_an_error(fake_eutils):
    nothing = esearch(fake_eutils, "abcXYZ")
    assert (nothing.count, nothing.query_translation) == (0, "(abcXYZ[All Fields])")
    assert (nothing.errors, nothing.warnings) == (
        ["PhraseNotFound: abcXYZ"],
        ["OutputMessage: No items found."],
    )
    fake_eutils.set_search("found", [1, 2, 3], translation="found[All Fields]")
    assert esearch(fake_eutils, "found", retmax=2).pmids == [1, 2]
    fake_eutils.set_search("broken((", [], error="Invalid query")
    with pytest.raises(Exception, match="Invalid query"):
        esearch(fake_eutils, "broken((")


def test_the_fake_esearch_finds_an_article_by_its_doi(fake_eutils):
    doi = "10.1136/gutjnl-2016-312510"  # GUT_2017's own DOI
    assert esearch(fake_eutils, f"{doi}[doi]").pmids == [GUT_2017]
    assert esearch(fake_eutils, f' "{doi.upper()}"[AID] ').pmids == [GUT_2017]
    assert esearch(fake_eutils, "10.9999/nothing[doi]").pmids == []
    assert esearch(fake_eutils, "10.7717/peerj.5807[doi]").pmids == [30386702]
    assert esearch(fake_eutils, "10.3354/meps12446[doi]").pmids == []  # only cited in its references
    hand_built = article(41000001).replace(
        '<ArticleId IdType="pubmed">41000001</ArticleId>',
        '<ArticleId IdType="pubmed">41000001</ArticleId><ArticleId IdType="doi">10.1/hand.built</ArticleId>',
    )
    fake_eutils.add_article(hand_built)
    assert esearch(fake_eutils, "10.1/HAND.BUILT[doi]").pmids == [41000001]
    fake_eutils.set_search(f"{doi}[doi]", [SEASON])  # a scripted search wins
    assert esearch(fake_eutils, f"{doi}[doi]").pmids == [SEASON]
    fake_eutils.extra_articles[1] = "<not xml"
    assert fake_eutils.pmids_with_doi(doi) == [GUT_2017]


# --- test_query: what PubMed makes of a query ---------------------------------------------------------


def test_a_query_test_gives_the_count_translation_and_first_ten_entries_as_readers_see_them(ncbi, client):
    page = TreatmentPageFactory(pubmed_query=QUERY, published=True)
    ncbi.set_search(QUERY, MANY, translation=TRANSLATION)
    stored_before = Publication.objects.count()

    result = query_tools.test_query(QUERY)

    assert (result.count, result.translation, result.problems) == (13, TRANSLATION, [])
    assert not result.needs_confirmation and result.unavailable == "" and result.diff is None
    assert len(result.entries) == 10
    assert Publication.objects.count() == stored_before  # nothing stored
    assert [len(request.params["id"].split(",")) for request in ncbi.requests_to("efetch")] == [10]
    # The same markup the public page shows once a refresh has stored them.
    refreshed(page)
    public = entry_html(client.get(page.get_absolute_url()).content.decode())
    sample = entry_html("<ol>" + "".join(result.entries) + "</ol>")
    assert [entry.strip() for entry in sample] == [entry.strip() for entry in public[:10]]


def test_ncbis_errors_and_warnings_are_problems_in_words(ncbi):
    ncbi.set_search(
        'melanoma AND "tumour cels" AND abcxyz AND foo[zz]',
        [GUT_2017],
        errors={"PhraseNotFound": "abcxyz", "FieldNotFound": "zz"},
        warnings={"QuotedPhraseNotFound": '"tumour cels"', "OutputMessage": "Quoted phrase not found."},
    )
    result = query_tools.test_query('melanoma AND "tumour cels" AND abcxyz AND foo[zz]')
    assert result.problems == [
        "PubMed found no match for abcxyz",
        "PubMed does not know the field zz",
        'PubMed found no match for the quoted phrase "tumour cels"',
        "PubMed says: Quoted phrase not found.",
    ]
    assert result.needs_confirmation and result.count == 1 and len(result.entries) == 1


def test_a_query_with_no_results_shows_ncbis_own_message(ncbi):
    result = query_tools.test_query("abcXYZ")
    assert result.count == 0 and result.entries == []
    assert result.problems == ["PubMed found no match for abcXYZ", "PubMed says: No items found."]
    assert ncbi.requests_to("efetch") == []


@pytest.mark.parametrize(
    ("query", "problems"),
    [
        ("(melanoma OR nevus", ["Unbalanced brackets: a “(” is never closed."]),
        ("melanoma)", ["Unbalanced brackets: a “)” closes nothing."]),
        ("melanoma[tiab", ["Unbalanced brackets: a “[” is never closed."]),
        (
            "(melanoma[tiab)]",
            ["Unbalanced brackets: a “)” closes nothing.", "Unbalanced brackets: a “(” is never closed."],
        ),
        ('"skin cancer[tiab]', ['Unbalanced quotes: a “"” is never closed.']),
        ('"skin (cancer"[tiab] AND (melanoma[mh])', []),  # brackets inside quotes are words
    ],
)
def test_unbalanced_brackets_and_quotes_are_caught_here(query, problems):
    assert syntax_problems(query) == problems


def test_a_query_ncbi_refuses_outright_shows_its_message(ncbi):
    ncbi.set_search("melanoma[[", [], error="Invalid query syntax")
    result = query_tools.test_query("melanoma[[")
    assert result.problems[-1] == "PubMed rejected the query: Invalid query syntax"
    assert "Unbalanced brackets" in result.problems[0]
    ncbi.inject("400", endpoint="esearch")
    assert query_tools.test_query("melanoma").problems == ["PubMed rejected the query: Invalid query"]
    assert query_tools.test_query("   ").problems == ["The query is empty."]


def test_pubmed_out_of_reach_is_no_problem_with_the_query(ncbi):
    ncbi.inject("500", endpoint="esearch", times=5)
    result = query_tools.test_query(QUERY)
    assert result.unavailable.startswith("PubMed could not be asked:")
    assert not result.needs_confirmation
    ncbi.reset()
    ncbi.inject("malformed", endpoint="esearch")
    assert "could not be read" in query_tools.test_query(QUERY).unavailable


def test_a_record_pubmed_does_not_send_is_left_out_of_the_titles(ncbi):
    ncbi.set_search(QUERY, [GUT_2017, 99999999, SEASON])  # 99999999: found, but efetch has nothing
    with refresh.make_client() as client:
        result = query_tools.test_query(QUERY, client=client)
    assert result.count == 3 and len(result.entries) == 2


def test_titles_that_cannot_be_fetched_leave_the_count(ncbi):
    ncbi.set_search(QUERY, MANY)
    ncbi.inject("500", endpoint="efetch", times=5)
    result = query_tools.test_query(QUERY)
    assert result.count == 13 and result.entries == []
    assert result.titles_unavailable.startswith("The titles could not be fetched")


def test_describe_leaves_an_unknown_message_as_ncbi_wrote_it():
    assert describe_ncbi_message("SomethingNew: text") == "SomethingNew: text"
    assert describe_ncbi_message("PhraseIgnored: and") == "PubMed ignored and"


# --- preview_diff: what the next refresh would change ---------------------------------------------------


def test_the_diff_counts_entries_the_next_refresh_would_bring_in_and_drop(ncbi, treatment):
    kept = [PublicationFactory(pmid=pmid) for pmid in (INT_J_MOL_SCI, COLLECTIVE)]
    for publication in kept:
        PageListingFactory(page=treatment, publication=publication)
    for _ in range(3):
        PageListingFactory(page=treatment)  # not found by the new query: dropped
    PageListingFactory(page=treatment, pinned=True)  # pinned, hidden and hand-added entries stay
    PageListingFactory(page=treatment, hidden=True)
    PageListingFactory(page=treatment, added_by_hand=True)
    ncbi.set_search(NEW_QUERY, [INT_J_MOL_SCI, COLLECTIVE, *OTHERS[:7]])

    diff = preview_diff(treatment, NEW_QUERY)

    assert diff == ListDiff(added=7, dropped=3) and str(diff) == "7 new, 3 dropped"
    assert query_tools.test_query(NEW_QUERY, page=treatment).diff == diff
    assert preview_diff(treatment, "nothing found") is None
    # And the refresh with that query records the same diff.
    TreatmentPage.objects.filter(pk=treatment.pk).update(pubmed_query=NEW_QUERY)
    treatment.refresh_from_db()
    run = refreshed(treatment)
    assert (run.publications_added, run.publications_dropped) == (7, 3)


def test_the_diff_leaves_out_pmids_excluded_from_the_page(ncbi, treatment):
    Exclusion.objects.create(page=treatment, pmid=OTHERS[0], reason="Not about this treatment.")
    ncbi.set_search(NEW_QUERY, OTHERS[:3])
    assert preview_diff(treatment, NEW_QUERY) == ListDiff(added=2, dropped=0)


# --- The admin's "Test query", with and without JavaScript -------------------------------------------


def test_test_query_without_javascript_shows_a_result_page(ncbi, editor_client, treatment):
    ncbi.set_search("melanoma[mh]", MANY, translation='"melanoma"[MeSH Terms]')
    PageListingFactory(page=treatment)

    response = editor_client.post(
        change_url(treatment, "test-query"), page_form(treatment, pubmed_query="melanoma[mh]")
    )

    assert response.status_code == 200
    html = response.content.decode()
    shown = text(html)
    assert "13 publications found in PubMed." in shown
    assert 'PubMed\'s translation: "melanoma"[MeSH Terms]' in shown
    assert "the next refresh would bring 13 new, 1 dropped" in shown
    assert len(lxml.html.fromstring(html).cssselect("ol.query-sample li.publication")) == 10
    assert "Nothing was saved" in shown
    treatment.refresh_from_db()
    assert treatment.pubmed_query == QUERY  # the form's other fields were not saved either
    assert RefreshRun.objects.count() == 0
    form = editor_client.get(change_url(treatment, "test-query"))
    assert form.status_code == 200 and 'value="Test query"' in form.content.decode()


def test_test_query_with_javascript_answers_json_with_the_fragment(ncbi, editor_client, treatment):
    ncbi.set_search("abc AND melanoma", [GUT_2017], errors={"PhraseNotFound": "abc"})
    response = editor_client.post(
        change_url(treatment, "test-query"),
        {"pubmed_query": "abc AND melanoma"},
        HTTP_ACCEPT="application/json",
    )
    answer = json.loads(response.content)
    assert (answer["count"], answer["needs_confirmation"], answer["entries"]) == (1, True, 1)
    assert answer["problems"] == ["PubMed found no match for abc"]
    assert "PubMed found no match for abc" in text(answer["html"])
    assert "Save this query despite PubMed's warning" in text(answer["html"])


def test_test_query_works_on_a_new_page_and_needs_the_right_permissions(ncbi, editor_client, treatment):
    ncbi.set_search("melanoma", [GUT_2017])
    response = editor_client.post("/admin/treatments/treatmentpage/test-query/", {"pubmed_query": "melanoma"})
    assert "1 publication found in PubMed." in text(response.content.decode())
    assert "next refresh" not in text(response.content.decode())  # no list to compare with
    outsider = Client()
    outsider.force_login(User.objects.create_user("staff", is_staff=True))
    assert outsider.post(change_url(treatment, "test-query"), {"pubmed_query": "x"}).status_code == 403
    assert (
        outsider.post("/admin/treatments/treatmentpage/test-query/", {"pubmed_query": "x"}).status_code == 403
    )


def test_the_page_form_has_the_buttons_beside_the_query(editor_client, treatment):
    html = editor_client.get(change_url(treatment)).content.decode()
    doc = lxml.html.fromstring(html)
    tools = doc.cssselect(".field-pubmed_query .pubmed-tools input[type=submit]")
    assert [(button.get("value"), button.get("formaction")) for button in tools] == [
        ("Test query", change_url(treatment, "test-query")),
        ("Refresh now", None),  # without JavaScript: the page form's, saving its edits first
    ]
    assert tools[1].get("data-pubmed-url") == change_url(treatment, "refresh-now")  # pubmed_tools.js's
    assert "/static/js/pubmed_tools.js" in html
    # Enter in a field saves a draft: the form's first submit button is a hidden Save draft.
    first = doc.cssselect("#treatmentpage_form input[type=submit]")[0]
    assert (first.get("name"), first.get("hidden")) == ("_save_draft", "")
    confirm = doc.cssselect("input[name=confirm_query]")[0]
    assert confirm.get("type") == "hidden"  # the checkbox appears only when a query needs a yes
    new = lxml.html.fromstring(editor_client.get("/admin/treatments/treatmentpage/add/").content.decode())
    assert [b.get("value") for b in new.cssselect(".pubmed-tools input[type=submit]")] == ["Test query"]


# --- The page form's check of a changed query ---------------------------------------------------------------


def test_saving_a_query_pubmed_warns_about_needs_an_explicit_yes(ncbi, editor_client, treatment):
    ncbi.set_search('"tumour cels"', [], warnings={"QuotedPhraseNotFound": '"tumour cels"'}, errors=())

    response = editor_client.post(change_url(treatment), page_form(treatment, pubmed_query='"tumour cels"'))

    assert response.status_code == 200  # the form again
    doc = lxml.html.fromstring(response.content.decode())
    errors = text(lxml.html.tostring(doc.cssselect(".field-pubmed_query")[0], encoding="unicode"))
    assert 'PubMed found no match for the quoted phrase "tumour cels"' in errors
    assert 'PubMed read it as: ("tumour cels"[All Fields])' in errors
    checkbox = doc.cssselect("input[name=confirm_query]")[0]
    assert checkbox.get("type") == "checkbox" and checkbox.get("checked") is None
    assert "Save this query despite PubMed's warning" in text(response.content.decode())
    treatment.refresh_from_db()
    assert treatment.pubmed_query == QUERY

    response = editor_client.post(
        change_url(treatment), page_form(treatment, pubmed_query='"tumour cels"', confirm_query="on")
    )
    assert response.status_code == 302
    treatment.refresh_from_db()
    assert treatment.pubmed_query == '"tumour cels"'


def test_an_unbalanced_query_needs_a_yes_too(ncbi, editor_client, treatment):
    ncbi.set_search("(melanoma", [], error="Unmatched parenthesis")
    response = editor_client.post(change_url(treatment), page_form(treatment, pubmed_query="(melanoma"))
    shown = text(response.content.decode())
    assert "Unbalanced brackets: a “(” is never closed." in shown
    assert "PubMed rejected the query: Unmatched parenthesis" in shown
    assert "PubMed read it as" not in shown  # NCBI sent no translation
    treatment.refresh_from_db()
    assert treatment.pubmed_query == QUERY


def test_a_good_new_query_saves_and_says_what_the_next_refresh_would_change(ncbi, editor_client, treatment):
    PageListingFactory(page=treatment)
    ncbi.set_search(NEW_QUERY, OTHERS[:4])
    response = editor_client.post(
        change_url(treatment), page_form(treatment, pubmed_query=NEW_QUERY), follow=True
    )
    treatment.refresh_from_db()
    assert treatment.pubmed_query == NEW_QUERY
    said = [str(message) for message in response.context["messages"]]
    assert "the next refresh would bring 4 new, 1 dropped (4 found in PubMed)" in " ".join(said)
    assert PageListing.objects.filter(page=treatment).count() == 1  # nothing changes until the refresh


def test_pubmed_out_of_reach_never_blocks_saving(ncbi, editor_client, treatment):
    ncbi.inject("reset", endpoint="esearch", times=5)
    response = editor_client.post(
        change_url(treatment), page_form(treatment, pubmed_query=NEW_QUERY), follow=True
    )
    treatment.refresh_from_db()
    assert treatment.pubmed_query == NEW_QUERY
    said = " ".join(str(message) for message in response.context["messages"])
    assert "The query was saved without being checked. PubMed could not be asked" in said


def test_an_unchanged_query_is_not_checked_again(ncbi, editor_client, treatment):
    response = editor_client.post(change_url(treatment), page_form(treatment, title="A new title"))
    assert response.status_code == 302
    assert ncbi.requests == []


def test_a_new_page_with_a_query_is_checked_too(ncbi, editor_client, treatment):
    ncbi.set_search("nothing here", [])
    data = page_form(treatment, slug="new-treatment", title="New treatment", pubmed_query="nothing here")
    response = editor_client.post("/admin/treatments/treatmentpage/add/", data)
    assert "PubMed found no match for nothing here" in text(response.content.decode())
    assert not TreatmentPage.objects.filter(slug="new-treatment").exists()
    response = editor_client.post("/admin/treatments/treatmentpage/add/", data | {"confirm_query": "on"})
    assert response.status_code == 302
    assert TreatmentPage.objects.get(slug="new-treatment").pubmed_query == "nothing here"
