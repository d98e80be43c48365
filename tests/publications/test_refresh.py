"""Refreshing a page's list from PubMed, end to end: the fake NCBI over real HTTP, the database, the page.

Nothing is mocked: ``refresh_page`` builds its client from settings (the ``ncbi`` fixture points
them at the fake server) and the rendered treatment page is what readers would see.
"""

from __future__ import annotations

import datetime
import re
import threading
import time

import lxml.html
import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from publications.locks import page_lock
from publications.models import PageListing, Publication, RefreshRun
from publications.refresh import refresh_page
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory
from tests.fakes.eutils import fixture_articles
from treatments.models import TreatmentPage

QUERY = "(interleukin-2[tiab] OR aldesleukin[tiab]) AND neoplasms[mh]"

# Real fixture articles, newest first as PubMed's pub_date sort would give them.
GUT_2017 = 27797938  # biopython-pubmed4: <i>TERT</i> in the title, p<sub>trend</sub>, PMC free since 2018
EMBARGOED = 37552767  # metapub-37552767, served with its PMC release date moved into the future
INT_J_MOL_SCI = 39769357  # one author; pages are its e-location (pii) 13596
COLLECTIVE = 34843274  # a collective author only
JCI_ELOCATION = 35358095  # no MedlinePgn: cited by its pii e154225
DENTISTRY_SUP = 29226023  # Oral Essentials<sup>®</sup> in the abstract; pages from its pii "448"
SEASON = 23657305  # PubDate with a Season: "2013 Jan-Mar"
NEWEST_FIRST = [INT_J_MOL_SCI, EMBARGOED, COLLECTIVE, JCI_ELOCATION, DENTISTRY_SUP, GUT_2017, SEASON]

# More real articles, for lists that change between refreshes.
OTHERS = [39479534, 39382274, 39345789, 39337530, 39302109, 39236155, 39142283, 39077977]

pytestmark = pytest.mark.django_db


# helpers


def make_page(query: str = QUERY, **fields) -> TreatmentPage:
    return TreatmentPageFactory(pubmed_query=query, **fields)


def listing_rows(page: TreatmentPage) -> list[tuple]:
    """The page's listings in reading order: (pmid, position, pinned, hidden, first listed at)."""
    return list(
        PageListing.objects.filter(page=page)
        .order_by("-pinned", "position", "pk")
        .values_list("publication__pmid", "position", "pinned", "hidden", "first_listed_at")
    )


def listed_pmids(page: TreatmentPage) -> list[int]:
    return [row[0] for row in listing_rows(page)]


def publication_rows() -> list[tuple]:
    return sorted(Publication.objects.values_list("pk", "pmid", "title", "updated_at"))


def render(client, page: TreatmentPage) -> str:
    response = client.get(page.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def _text(element) -> str:
    return " ".join(element.text_content().split())


def _inner_html(element) -> str:
    html = lxml.html.tostring(element, encoding="unicode", with_tail=False)
    return html[html.index(">") + 1 : html.rindex("<")]


def entries(html: str) -> list[dict]:
    """The page's publication entries as a reader sees them."""
    doc = lxml.html.fromstring(html)
    result = []
    for li in doc.cssselect("li.publication"):
        pubmed_link = li.cssselect(".citation a")[0].get("href")
        warning = li.cssselect(".retraction-warning")
        result.append(
            {
                "pmid": int(pubmed_link.rstrip("/").rsplit("/", 1)[-1])
                if "?term=" not in pubmed_link
                else None,
                "authors": _text(li.cssselect(".authors")[0]),
                "title": _inner_html(li.cssselect(".title")[0]),
                "source": _text(li.cssselect(".citation .source")[0]),
                "links": {_text(a): a.get("href") for a in li.cssselect(".citation a")},
                "abstract": [_inner_html(p) for p in li.cssselect(".abstract p")],
                "warning": _text(warning[0]) if warning else "",
            }
        )
    return result


def entry_html(html: str) -> list[str]:
    """Each entry's markup exactly as rendered."""
    return [
        lxml.html.tostring(li, encoding="unicode")
        for li in lxml.html.fromstring(html).cssselect("li.publication")
    ]


def article(
    pmid: int | str,
    *,
    title: str = "A hand-built article about interleukin-2.",
    publication_types: tuple[str, ...] = ("Journal Article",),
    retraction_in: tuple[str, int] | None = None,
    with_article: bool = True,
) -> str:
    """A minimal PubmedArticle shaped like NCBI's, for cases no public fixture has."""
    types = "".join(f'<PublicationType UI="D0">{kind}</PublicationType>' for kind in publication_types)
    comments = ""
    if retraction_in:
        source, notice_pmid = retraction_in
        comments = (
            '<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn">'
            f'<RefSource>{source}</RefSource><PMID Version="1">{notice_pmid}</PMID>'
            "</CommentsCorrections></CommentsCorrectionsList>"
        )
    body = (
        '<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Internet"><Volume>12</Volume>'
        "<Issue>3</Issue><PubDate><Year>2024</Year><Month>Mar</Month></PubDate></JournalIssue>"
        "<Title>Journal of tests</Title><ISOAbbreviation>J Tests</ISOAbbreviation></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle><Pagination><MedlinePgn>100-10</MedlinePgn></Pagination>"
        '<AuthorList CompleteYN="Y"><Author ValidYN="Y"><LastName>Doe</LastName><ForeName>Jane</ForeName>'
        "<Initials>J</Initials></Author></AuthorList><Language>eng</Language>"
        f"<PublicationTypeList>{types}</PublicationTypeList></Article>"
        if with_article
        else ""
    )
    return (
        f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
        f"{body}<MedlineJournalInfo><Country>England</Country><MedlineTA>J Tests</MedlineTA>"
        f"</MedlineJournalInfo>{comments}</MedlineCitation><PubmedData><PublicationStatus>ppublish"
        f'</PublicationStatus><ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList>'
        "</PubmedData></PubmedArticle>"
    )


def serve_with_pmc_release(fake, pmid: int, release: datetime.date) -> None:
    """Serve a real fixture article with its PMC release date changed to ``release``."""
    original = fixture_articles()[pmid]
    replaced, count = re.subn(
        r'<PubMedPubDate PubStatus="pmc-release">.*?</PubMedPubDate>',
        f'<PubMedPubDate PubStatus="pmc-release"><Year>{release.year}</Year><Month>{release.month}</Month>'
        f"<Day>{release.day}</Day></PubMedPubDate>",
        original,
        flags=re.DOTALL,
    )
    assert count == 1
    fake.add_article(replaced)


def refreshed(page: TreatmentPage) -> RefreshRun:
    """Refresh and insist it worked (the message says why not)."""
    run = refresh_page(page)
    assert (run.status, run.error) == (RefreshRun.Status.OK, "")
    return run


# 1. A refresh fills the page


def test_a_refresh_lists_the_search_results_in_order_and_cites_them_like_the_seed(ncbi, client):
    page = make_page()
    embargo_ends = timezone.localdate() + datetime.timedelta(days=400)
    serve_with_pmc_release(ncbi, EMBARGOED, embargo_ends)
    ncbi.set_search(QUERY, NEWEST_FIRST)

    before = timezone.now()
    run = refresh_page(page)

    assert run.status == RefreshRun.Status.OK
    assert (run.error, run.warnings, run.query) == ("", "", QUERY)
    assert (run.pmids_found, run.publications_new) == (7, 7)
    assert run.finished_at >= run.started_at
    page.refresh_from_db()
    assert page.list_refreshed_at >= before
    assert listed_pmids(page) == NEWEST_FIRST
    assert [row[1] for row in listing_rows(page)] == list(range(7))
    assert Publication.objects.count() == 7

    shown = entries(render(client, page))
    assert [entry["pmid"] for entry in shown] == NEWEST_FIRST
    by_pmid = {entry["pmid"]: entry for entry in shown}

    gut = by_pmid[GUT_2017]
    assert gut["authors"] == "Bao Y, Prescott J, Yuan C, et al."  # 21 authors
    assert gut["source"] == "Gut. 2017; 66(6):1116-1122"
    assert gut["title"] == (
        "Leucocyte telomere length, genetic variants at the <i>TERT</i> gene region"
        " and risk of pancreatic cancer."
    )
    results = next(p for p in gut["abstract"] if p.startswith('<span class="abstract-label">RESULTS:</span>'))
    assert "p<sub>trend</sub>=0.048" in results
    assert "r<sup>2</sup>&lt;0.25" in results
    assert gut["links"] == {
        "[PubMed]": "https://pubmed.ncbi.nlm.nih.gov/27797938/",
        "Free Access to Full Article": "https://pmc.ncbi.nlm.nih.gov/articles/PMC5442267/",
        "Related Publications": "https://pubmed.ncbi.nlm.nih.gov/?linkname=pubmed_pubmed&from_uid=27797938",
    }

    season = by_pmid[SEASON]
    assert season["authors"] == "Costa-Matos L, Batista P, Monteiro N, et al."  # 6 authors
    assert season["source"] == "Arq Gastroenterol. 2013 Jan-Mar; 50(1):35-41"
    assert set(season["links"]) == {"[PubMed]", "Related Publications"}  # not in PMC

    collective = by_pmid[COLLECTIVE]
    assert collective["authors"] == "Guideline Development Panel for the Treatment of Depressive Disorders"
    assert collective["source"] == "Am Psychol. 2022; 77(6):770-780"

    jci = by_pmid[JCI_ELOCATION]
    assert jci["authors"] == "Denorme F, Portier I, Rustad JL, et al."
    assert jci["source"] == "J Clin Invest. 2022; 132(10):e154225"
    assert jci["links"]["Free Access to Full Article"] == "https://pmc.ncbi.nlm.nih.gov/articles/PMC9106355/"

    single = by_pmid[INT_J_MOL_SCI]
    assert (single["authors"], single["source"]) == ("Burkovski A", "Int J Mol Sci. 2024; 25(24):13596")
    assert single["title"] == "Host-Pathogen Interaction 5.0."

    dentistry = by_pmid[DENTISTRY_SUP]
    assert dentistry["authors"] == "Takesh T, Sargsyan A, Lee M, et al."
    assert dentistry["source"] == "Dentistry (Sunnyvale). 2017; 7(8):448"
    assert any("Oral Essentials<sup>®</sup> Whitening Strips" in p for p in dentistry["abstract"])

    embargoed = by_pmid[EMBARGOED]
    assert embargoed["authors"] == "Gauthier T, Yao C, Dowdy T, et al."
    assert embargoed["source"] == "Sci Signal. 2023; 16(797):eade0385"
    assert embargoed["title"].startswith("TGF-β uncouples glycolysis")
    label = f"Article available free on PMC after {embargo_ends:%d/%m/%Y}"
    assert embargoed["links"][label] == "https://pmc.ncbi.nlm.nih.gov/articles/PMC11145950/"
    assert "Free Access to Full Article" not in embargoed["links"]
    assert not any(entry["warning"] for entry in shown)


def test_pmc_status_is_as_of_the_day_of_the_refresh(ncbi, client):
    """PMC status is shown as of the page's last refresh, not as of the day a reader looks."""
    page = make_page()
    ends = timezone.localdate() + datetime.timedelta(days=1)
    serve_with_pmc_release(ncbi, EMBARGOED, ends)
    ncbi.set_search(QUERY, [EMBARGOED])
    refreshed(page)
    label = f"Article available free on PMC after {ends:%d/%m/%Y}"
    assert label in entries(render(client, page))[0]["links"]

    # Had the list been refreshed two days later, past the release date, the article would read as free.
    page.refresh_from_db()
    TreatmentPage.objects.filter(pk=page.pk).update(
        list_refreshed_at=page.list_refreshed_at + datetime.timedelta(days=2)
    )
    assert "Free Access to Full Article" in entries(render(client, page))[0]["links"]


# 2. The demo list


def test_the_first_refresh_replaces_the_demo_list(ncbi, demo_page, client):
    assert Publication.objects.filter(pmid__isnull=True).count() == 30
    assert len(entries(render(client, demo_page))) == 30
    ncbi.set_search(demo_page.pubmed_query, NEWEST_FIRST)

    refreshed(demo_page)

    assert not Publication.objects.filter(pmid__isnull=True).exists()
    assert listed_pmids(demo_page) == NEWEST_FIRST
    assert [entry["pmid"] for entry in entries(render(client, demo_page))] == NEWEST_FIRST


# 3. Idempotent


def test_a_second_refresh_with_the_same_results_changes_nothing_and_fetches_nothing(ncbi):
    page = make_page()
    ncbi.set_search(QUERY, NEWEST_FIRST)
    refreshed(page)
    first_rows, first_publications = listing_rows(page), publication_rows()
    listing_pks = list(
        PageListing.objects.filter(page=page).order_by("position").values_list("pk", flat=True)
    )
    assert len(ncbi.requests_to("efetch")) == 1

    run = refreshed(page)

    assert (run.pmids_found, run.publications_new) == (7, 0)
    assert listing_rows(page) == first_rows
    assert publication_rows() == first_publications
    assert list(PageListing.objects.filter(page=page).order_by("position").values_list("pk", flat=True)) == (
        listing_pks
    )
    assert len(ncbi.requests_to("efetch")) == 1  # everything was stored already
    assert len(ncbi.requests_to("esearch")) == 2

    # Two new articles at the top: only they are fetched.
    ncbi.set_search(QUERY, [OTHERS[0], OTHERS[1], *NEWEST_FIRST])
    run = refreshed(page)
    assert run.publications_new == 2
    assert ncbi.requests_to("efetch")[-1].params["id"] == f"{OTHERS[0]},{OTHERS[1]}"
    assert listed_pmids(page) == [OTHERS[0], OTHERS[1], *NEWEST_FIRST]
    first_listed = {row[0]: row[4] for row in first_rows}
    assert {row[0]: row[4] for row in listing_rows(page)[2:]} == first_listed


# 4. Shared publications


def test_pages_share_one_publication_per_pmid(ncbi):
    first, second = make_page("query one"), make_page("query two")
    ncbi.set_search("query one", [INT_J_MOL_SCI, COLLECTIVE, GUT_2017])
    ncbi.set_search("query two", [GUT_2017, SEASON])

    refreshed(first)
    run = refreshed(second)

    assert run.publications_new == 1
    assert ncbi.requests_to("efetch")[-1].params["id"] == str(SEASON)
    assert Publication.objects.count() == 4
    shared = Publication.objects.get(pmid=GUT_2017)
    assert sorted(shared.listings.values_list("page_id", flat=True)) == sorted([first.pk, second.pk])
    assert listed_pmids(first) == [INT_J_MOL_SCI, COLLECTIVE, GUT_2017]
    assert listed_pmids(second) == [GUT_2017, SEASON]


# 5. Pinned and hidden entries


def test_pinned_entries_stay_on_top_and_hidden_ones_stay_hidden(ncbi, client):
    page = make_page()
    ncbi.set_search(QUERY, OTHERS[:5])
    refreshed(page)
    first_listed = {row[0]: row[4] for row in listing_rows(page)}
    PageListing.objects.filter(page=page, publication__pmid=OTHERS[4]).update(pinned=True)
    PageListing.objects.filter(page=page, publication__pmid=OTHERS[1]).update(hidden=True)

    # The pinned article and the hidden one drop out of the search; a new one arrives.
    ncbi.set_search(QUERY, [OTHERS[5], OTHERS[0], OTHERS[2]])
    refreshed(page)

    rows = {row[0]: row for row in listing_rows(page)}
    assert set(rows) == {OTHERS[4], OTHERS[1], OTHERS[5], OTHERS[0], OTHERS[2]}  # OTHERS[3] left
    assert rows[OTHERS[4]][2] is True and rows[OTHERS[1]][3] is True
    for pmid in (OTHERS[4], OTHERS[1], OTHERS[0], OTHERS[2]):
        assert rows[pmid][4] == first_listed[pmid]
    assert rows[OTHERS[5]][4] > first_listed[OTHERS[0]]
    assert [entry["pmid"] for entry in entries(render(client, page))] == [
        OTHERS[4],
        OTHERS[5],
        OTHERS[0],
        OTHERS[2],
    ]

    # The hidden article comes back in the search: it stays hidden.
    ncbi.set_search(QUERY, [OTHERS[5], OTHERS[1], OTHERS[0], OTHERS[2]])
    refreshed(page)
    hidden = PageListing.objects.get(page=page, publication__pmid=OTHERS[1])
    assert (hidden.hidden, hidden.position, hidden.first_listed_at) == (True, 1, first_listed[OTHERS[1]])
    assert [entry["pmid"] for entry in entries(render(client, page))] == [
        OTHERS[4],
        OTHERS[5],
        OTHERS[0],
        OTHERS[2],
    ]


def test_hidden_entries_do_not_shorten_the_list(ncbi, client):
    page = make_page(publications_shown=3)
    ncbi.set_search(QUERY, OTHERS[:6])
    refreshed(page)
    assert ncbi.requests_to("esearch")[-1].params["retmax"] == "23"  # shown + hidden + headroom
    PageListing.objects.filter(page=page, publication__pmid__in=OTHERS[:2]).update(hidden=True)

    refreshed(page)

    assert ncbi.requests_to("esearch")[-1].params["retmax"] == "25"
    assert [entry["pmid"] for entry in entries(render(client, page))] == OTHERS[2:5]


# 6. DeleteCitation


def test_a_deleted_citation_leaves_every_list(ncbi, client):
    first, second = make_page("query one"), make_page("query two")
    ncbi.set_search("query one", [INT_J_MOL_SCI, JCI_ELOCATION, GUT_2017])
    ncbi.set_search("query two", [COLLECTIVE, JCI_ELOCATION, SEASON])
    refreshed(first)
    refreshed(second)
    PageListing.objects.filter(page=second, publication__pmid=JCI_ELOCATION).update(pinned=True)
    assert Publication.objects.get(pmid=JCI_ELOCATION).listings.count() == 2

    # NCBI deletes JCI_ELOCATION (and a PMID the search still finds): efetch answers for the new PMID
    # with a DeleteCitation naming both, in the same PubmedArticleSet as a normal article.
    withdrawn = 41_000_001
    ncbi.add_article(
        f'<DeleteCitation><PMID Version="1">{withdrawn}</PMID><PMID Version="1">{JCI_ELOCATION}</PMID>'
        "</DeleteCitation>"
    )
    ncbi.set_search("query one", [withdrawn, OTHERS[0], INT_J_MOL_SCI, JCI_ELOCATION, GUT_2017])

    run = refreshed(first)

    assert ncbi.requests_to("efetch")[-1].params["id"] == f"{withdrawn},{OTHERS[0]}"
    assert run.publications_new == 1
    assert not Publication.objects.filter(pmid__in=[withdrawn, JCI_ELOCATION]).exists()
    assert listed_pmids(first) == [OTHERS[0], INT_J_MOL_SCI, GUT_2017]
    assert listed_pmids(second) == [COLLECTIVE, SEASON]
    for page in (first, second):
        assert JCI_ELOCATION not in [entry["pmid"] for entry in entries(render(client, page))]


# 7. Retractions


def test_retracted_publications_carry_a_warning(ncbi, client):
    page = make_page()
    by_type = ncbi.add_article(
        article(
            41_000_011,
            title="Retracted by type.",
            publication_types=("Journal Article", "Retracted Publication"),
        )
    )
    by_notice = ncbi.add_article(
        article(
            41_000_012, title="Retracted by notice.", retraction_in=("Cancer Res. 2025;85(1):1", 41_000_099)
        )
    )
    ncbi.set_search(QUERY, [by_type, by_notice, SEASON])

    refreshed(page)

    assert Publication.objects.get(pmid=by_type).is_retracted
    notice = Publication.objects.get(pmid=by_notice)
    assert notice.is_retracted
    assert notice.retraction_notices == ["Cancer Res. 2025;85(1):1 PMID: 41000099"]
    assert not Publication.objects.get(pmid=SEASON).is_retracted
    shown = {entry["pmid"]: entry for entry in entries(render(client, page))}
    assert shown[by_type]["warning"] == (
        "Retracted publication: this article has been retracted. Do not rely on its findings."
    )
    assert shown[by_notice]["warning"] == (
        "Retracted publication: this article has been retracted (Cancer Res. 2025;85(1):1 PMID: 41000099). "
        "Do not rely on its findings."
    )
    assert shown[by_type]["source"] == "J Tests. 2024; 12(3):100-10"
    assert shown[SEASON]["warning"] == ""


# 8. Faults: the list stays exactly as it was


RETRYABLE = {"429", "500", "502", "slow", "drip", "html", "reset"}
FAULTS = [
    # (endpoint, fault, words the editor reads in the run's error)
    ("esearch", "429", ["esearch", "429", "rate limit", "Try again later"]),
    ("esearch", "500", ["esearch", "HTTP 500", "Try again later"]),
    ("esearch", "502", ["esearch", "HTTP 502"]),
    ("esearch", "slow", ["esearch", "timed out"]),
    ("esearch", "truncated", ["PubMed", "not well-formed"]),
    ("esearch", "malformed", ["PubMed", "not well-formed"]),
    ("esearch", "bomb", ["PubMed", "entity"]),
    ("esearch", "empty", ["found nothing", "No items found", "list was kept"]),
    ("esearch", "400", ["esearch", "Invalid query"]),
    ("esearch", "html", ["esearch", "HTML page"]),
    ("esearch", "reset", ["esearch", "connection lost"]),
    ("efetch", "429", ["efetch", "429", "rate limit"]),
    ("efetch", "500", ["efetch", "HTTP 500"]),
    ("efetch", "slow", ["efetch", "timed out"]),
    ("efetch", "drip", ["efetch", "still sending after"]),
    ("efetch", "truncated", ["PubMed", "not well-formed"]),
    ("efetch", "malformed", ["PubMed", "not well-formed"]),
    ("efetch", "bomb", ["PubMed", "entity"]),
    ("efetch", "empty", ["returned none of the records", "list was kept"]),
    ("efetch", "400", ["efetch", "rejected"]),
    ("efetch", "html", ["efetch", "HTML page"]),
    ("efetch", "reset", ["efetch", "connection lost"]),
]


@pytest.mark.parametrize(("endpoint", "fault", "words"), FAULTS, ids=[f"{e}-{f}" for e, f, _ in FAULTS])
def test_a_failed_refresh_keeps_the_list_exactly_and_says_why(ncbi, client, settings, endpoint, fault, words):
    page = make_page()
    ncbi.set_search(QUERY, NEWEST_FIRST)
    refreshed(page)
    page.refresh_from_db()
    rows, publications, html = listing_rows(page), publication_rows(), render(client, page)
    refreshed_at = page.list_refreshed_at

    # New articles only, so the refresh needs efetch as well as esearch.
    ncbi.set_search(QUERY, OTHERS)
    times = settings.NCBI_MAX_RETRIES + 1 if fault in RETRYABLE else 1
    settings.NCBI_DEADLINE = 1.5  # a trickle (a piece every 0.2 s, within the timeout) is cut off
    ncbi.inject(fault, endpoint=endpoint, times=times, delay=0.2 if fault == "drip" else 1.0)
    requests_before = len(ncbi.requests)

    run = refresh_page(page)

    assert run.status == RefreshRun.Status.FAILED
    for word in words:
        assert word.lower() in run.error.lower(), run.error
    assert "Unexpected error" not in run.error
    assert run.finished_at is not None
    assert (run.pmids_found, run.publications_new) == (0, 0)
    assert len(ncbi.requests) - requests_before == times + (endpoint == "efetch")
    assert listing_rows(page) == rows
    assert publication_rows() == publications
    assert entry_html(render(client, page)) == entry_html(html)
    page.refresh_from_db()
    assert page.list_refreshed_at == refreshed_at

    # The fault is gone: the next refresh works.
    run = refreshed(page)
    assert listed_pmids(page) == OTHERS
    assert run.publications_new == len(OTHERS)


def test_a_refresh_failing_while_writing_leaves_nothing_half_written(ncbi, client):
    """The deletion of a listed article is written, then the refresh fails: the deletion is undone too."""
    page = make_page()
    ncbi.set_search(QUERY, [INT_J_MOL_SCI, GUT_2017])
    refreshed(page)
    rows, publications, html = listing_rows(page), publication_rows(), render(client, page)
    withdrawn = 41_000_031
    ncbi.add_article(
        f'<DeleteCitation><PMID Version="1">{withdrawn}</PMID><PMID Version="1">{INT_J_MOL_SCI}</PMID>'
        "</DeleteCitation>"
    )
    ncbi.set_search(QUERY, [withdrawn])

    run = refresh_page(page)

    assert run.status == RefreshRun.Status.FAILED
    assert "returned none of the records" in run.error
    assert publication_rows() == publications
    assert listing_rows(page) == rows
    assert entry_html(render(client, page)) == entry_html(html)


def test_a_single_429_is_retried_after_the_wait_ncbi_asks_for(ncbi):
    page = make_page()
    ncbi.set_search(QUERY, NEWEST_FIRST)
    ncbi.inject("429", endpoint="esearch")  # the fake asks for Retry-After: 1

    started = time.monotonic()
    run = refreshed(page)
    elapsed = time.monotonic() - started

    assert elapsed >= 1.0  # the backoff alone (NCBI_BACKOFF_BASE=0.01) would be milliseconds
    assert len(ncbi.requests_to("esearch")) == 2
    assert listed_pmids(page) == NEWEST_FIRST
    assert run.pmids_found == 7


# 9. One malformed article


def test_a_malformed_article_is_skipped_and_reported_and_the_rest_kept(ncbi, client):
    page = make_page()
    no_article = ncbi.add_article(article(41_000_021, with_article=False))
    no_pmid = 41_000_022  # the fake serves it for this PMID, though the record itself has none
    ncbi.extra_articles[no_pmid] = article("", title="An article without a PMID.")
    ncbi.set_search(QUERY, [no_article, INT_J_MOL_SCI, no_pmid, GUT_2017])

    run = refreshed(page)

    assert run.warnings.splitlines() == [
        f"Skipped PMID {no_article}: PubmedArticle: no Article element",
        "Skipped PMID ?: PubmedArticle: no PMID",
    ]
    assert (run.pmids_found, run.publications_new) == (4, 2)
    assert listed_pmids(page) == [INT_J_MOL_SCI, GUT_2017]
    assert [entry["pmid"] for entry in entries(render(client, page))] == [INT_J_MOL_SCI, GUT_2017]


# 10. No query


def test_a_page_without_a_query_is_not_refreshed(ncbi):
    page = make_page(query="")
    listing = PageListingFactory(page=page, publication=PublicationFactory(pmid=30000001))
    rows = listing_rows(page)

    run = refresh_page(page)

    assert run.status == RefreshRun.Status.FAILED
    assert "no PubMed query" in run.error
    assert listing_rows(page) == rows
    assert ncbi.requests == []
    listing.refresh_from_db()
    assert listing.position == rows[0][1]


# 11. One refresh of a page at a time


def test_a_refresh_is_skipped_while_another_holds_the_page(ncbi):
    page = make_page()
    ncbi.set_search(QUERY, NEWEST_FIRST)
    with page_lock(page.pk):
        run = refresh_page(page)
    assert run.status == RefreshRun.Status.SKIPPED
    assert "Another refresh" in run.error and "is running" in run.error
    assert ncbi.requests == []
    assert not PageListing.objects.filter(page=page).exists()

    refreshed(page)  # the lock was let go


def test_the_lock_is_released_after_a_failure(ncbi):
    page = make_page()
    ncbi.set_search(QUERY, NEWEST_FIRST)
    ncbi.inject("400", endpoint="esearch")
    assert refresh_page(page).status == RefreshRun.Status.FAILED
    assert cache.get(f"publications:refresh-lock:{page.pk}") is None

    refreshed(page)
    assert listed_pmids(page) == NEWEST_FIRST


def test_an_unreachable_lock_cache_fails_the_run_instead_of_leaving_it_running(ncbi, settings):
    page = make_page()
    PageListingFactory(page=page, publication=PublicationFactory(pmid=30000002))
    rows = listing_rows(page)
    ncbi.set_search(QUERY, NEWEST_FIRST)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }

    run = refresh_page(page)

    assert run.status == RefreshRun.Status.FAILED
    assert run.finished_at is not None
    assert "another refresh" in run.error.lower() and "cache" in run.error.lower()
    assert listing_rows(page) == rows
    assert ncbi.requests == []
    assert not RefreshRun.objects.filter(status=RefreshRun.Status.RUNNING).exists()


def _refresh_in_threads(page_ids: list[int], *, stagger: float = 0.0) -> list[RefreshRun | BaseException]:
    """Refresh the pages at once, one thread each (each ``stagger`` s after the one before it).

    Returns each thread's run, or the exception it raised.
    """
    barrier = threading.Barrier(len(page_ids))
    results: list[RefreshRun | BaseException | None] = [None] * len(page_ids)

    def work(index: int, page_id: int) -> None:
        try:
            page = TreatmentPage.objects.get(pk=page_id)
            barrier.wait(timeout=5)
            time.sleep(index * stagger)
            results[index] = refresh_page(page)
        except BaseException as exc:  # reported to the test thread
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, pk)) for i, pk in enumerate(page_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_of_one_page_at_once_leave_one_correct_list(ncbi):
    page = make_page()
    ncbi.set_search(QUERY, NEWEST_FIRST)
    # The first refresh waits 0.4 s for esearch (the timeout is 0.5 s); the second starts 0.1 s after it.
    # SQLite's shared in-memory test database refuses two writes at the same instant rather than waiting,
    # so the two must not insert their RefreshRun rows at exactly the same moment.
    ncbi.inject("slow", endpoint="esearch", times=1, delay=0.4)

    results = _refresh_in_threads([page.pk, page.pk], stagger=0.1)

    assert not [r for r in results if isinstance(r, BaseException)], results
    statuses = sorted(run.status for run in results)
    assert statuses in (["ok", "skipped"], ["ok", "ok"]), [(run.status, run.error) for run in results]
    for run in results:
        if run.status == RefreshRun.Status.SKIPPED:
            assert run.error == "Another refresh of this page is running."
    assert listed_pmids(page) == NEWEST_FIRST
    assert PageListing.objects.filter(page=page).count() == len(NEWEST_FIRST)
    assert Publication.objects.count() == len(NEWEST_FIRST)
    assert sorted(Publication.objects.values_list("pmid", flat=True)) == sorted(NEWEST_FIRST)
    assert cache.get(f"publications:refresh-lock:{page.pk}") is None

    # After a failed refresh the page is free again.
    ncbi.inject("500", endpoint="esearch", times=3)
    assert refresh_page(page).status == RefreshRun.Status.FAILED
    ncbi.set_search(QUERY, OTHERS[:3])
    refreshed(page)
    assert listed_pmids(page) == OTHERS[:3]


@pytest.mark.django_db(transaction=True)
def test_two_pages_sharing_articles_refreshed_at_once_share_one_row_per_pmid(ncbi):
    """Truly concurrent writers (PostgreSQL): both insert the shared articles, one row per PMID survives."""
    if connection.vendor == "sqlite":
        pytest.skip(
            "SQLite's shared in-memory test database fails concurrent writers instead of queueing them"
        )
    first, second = make_page("query one"), make_page("query two")
    ncbi.set_search("query one", [*OTHERS[:4], *NEWEST_FIRST])
    ncbi.set_search("query two", [*NEWEST_FIRST, *OTHERS[4:]])
    ncbi.inject("slow", endpoint="esearch", times=2, delay=0.2)

    results = _refresh_in_threads([first.pk, second.pk])

    assert not [r for r in results if isinstance(r, BaseException)], results
    assert [(run.status, run.error) for run in results] == [("ok", ""), ("ok", "")]
    assert listed_pmids(first) == [*OTHERS[:4], *NEWEST_FIRST]
    assert listed_pmids(second) == [*NEWEST_FIRST, *OTHERS[4:]]
    assert Publication.objects.count() == len(OTHERS) + len(NEWEST_FIRST)
    # Each run counts what it inserted; two overlapping transactions may both count a shared article.
    assert sum(run.publications_new for run in results) >= len(OTHERS) + len(NEWEST_FIRST)


def test_a_book_chapter_is_cited_by_its_book_and_links_ncbi_bookshelf(ncbi, client):
    book = 20301577  # metapub-book-20301577: a GeneReviews chapter, a PubmedBookArticle
    page = make_page()
    ncbi.set_search(QUERY, [book])
    refreshed(page)

    (entry,) = entries(render(client, page))

    assert entry["title"] == "<i>CACNA1C</i>-Related Disorders"
    assert entry["source"] == "GeneReviews®. 1993"
    assert entry["links"]["Free Access to Full Article"] == "https://www.ncbi.nlm.nih.gov/books/NBK1403/"


@pytest.mark.parametrize("english", ["", "[Not Available]."])
def test_an_article_with_no_english_title_is_cited_by_its_own_title(ncbi, client, english):
    """PubMed sends a non-English article without a translated title as an empty (or "[Not Available].")
    ArticleTitle and the title in its VernacularTitle, which PubMed's own page then shows."""
    german = 38048813  # metapub-38048813: German, with a VernacularTitle
    original = fixture_articles()[german]
    ncbi.add_article(
        re.sub(r"<ArticleTitle>.*?</ArticleTitle>", f"<ArticleTitle>{english}</ArticleTitle>", original)
    )
    page = make_page()
    ncbi.set_search(QUERY, [german, SEASON])
    refreshed(page)

    shown = {entry["pmid"]: entry for entry in entries(render(client, page))}

    assert shown[german]["title"] == "A Broader Scope – Bio-psycho-soziale Medizin im globalen Fokus."
    assert Publication.objects.get(pmid=german).title_text.startswith("A Broader Scope")


def test_mathml_reads_as_pubmed_shows_it_with_its_scripts_and_spaces(ncbi, client):
    """biopython-pubmed7 writes "³He/¹²⁹Xe MRI" in MathML: prescripts (``mmultiscripts``) and a space as
    ``<mml:mtext> </mml:mtext>``, content and not the layout whitespace PubMed pretty-prints around it."""
    mathml = 29963580
    page = make_page()
    ncbi.set_search(QUERY, [mathml])
    refreshed(page)

    (entry,) = entries(render(client, page))

    assert "inhaled <sup>3</sup>He/<sup>129</sup>Xe MRI ventilation" in entry["abstract"][0]
    assert "echo-time <sup>1</sup>H MRI proton density" in entry["abstract"][0]


def test_an_authors_suffix_is_cited_as_pubmed_and_the_export_give_it(ncbi, client):
    """ "Doe J Jr", as PubMed shows the name and the entry's MEDLINE export (AU) gives it: not "Doe J"."""
    with_suffix = ncbi.add_article(
        article(41_000_031).replace("<Initials>J</Initials>", "<Initials>J</Initials><Suffix>Jr</Suffix>")
    )
    page = make_page()
    ncbi.set_search(QUERY, [with_suffix])
    refreshed(page)

    (entry,) = entries(render(client, page))

    assert entry["authors"] == "Doe J Jr"
    assert "AU  - Doe J Jr" in client.get(f"/cite/{with_suffix}.nbib").content.decode()


def test_records_spooled_to_disk_are_stored_as_those_held_in_memory(ncbi, monkeypatch):
    """A download larger than the spool's memory (here: all of it) is written exactly as a small one."""
    pmids = ncbi.known_pmids[:60]
    ncbi.set_search(QUERY, pmids)
    in_memory = make_page(publications_shown=60)
    refreshed(in_memory)
    expected = sorted(Publication.objects.values_list("pmid", "title", "abstract", "rendered_entry"))
    Publication.objects.all().delete()

    monkeypatch.setattr("publications.spool.MEMORY_BYTES", 1)
    spooled = make_page(publications_shown=60)
    run = refreshed(spooled)

    assert run.publications_new == 60
    assert sorted(Publication.objects.values_list("pmid", "title", "abstract", "rendered_entry")) == expected
    assert listed_pmids(spooled) == pmids


def test_a_server_with_no_room_for_the_download_fails_the_refresh_and_keeps_the_list(
    ncbi, monkeypatch, tmp_path
):
    """The spool's file cannot be made (a full disk, a temporary directory gone): editors read why, and
    the list stays as it was."""
    page = make_page()
    ncbi.set_search(QUERY, NEWEST_FIRST[:3])
    refreshed(page)
    before = listing_rows(page)
    ncbi.set_search(QUERY, OTHERS[:4])
    monkeypatch.setattr("publications.spool.MEMORY_BYTES", 1)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "gone"))

    run = refresh_page(page)

    assert run.status == RefreshRun.Status.FAILED
    assert run.error.startswith(
        "This server had no room to hold PubMed's records (No such file or directory)"
    )
    assert "the list was kept" in run.error
    assert listing_rows(page) == before
    assert not PageListing.objects.filter(publication__pmid__in=OTHERS).exists()


def test_a_download_that_fails_after_spooling_records_closes_its_spool(ncbi, monkeypatch):
    """Every record was spooled before the response's end turned out malformed: the refresh fails, and the
    spool (a temporary file, past its memory) is closed then, not left to the garbage collector."""
    from publications.spool import RecordSpool

    closed, close = [], RecordSpool.close
    monkeypatch.setattr(RecordSpool, "close", lambda spool: (closed.append(len(spool)), close(spool)))
    monkeypatch.setattr("publications.spool.MEMORY_BYTES", 1)
    page = make_page()
    ncbi.set_search(QUERY, NEWEST_FIRST)
    ncbi.inject("malformed", endpoint="efetch")

    run = refresh_page(page)

    assert run.status == RefreshRun.Status.FAILED and "could not be read" in run.error
    assert closed == [len(NEWEST_FIRST)]
    assert not PageListing.objects.filter(page=page).exists()
