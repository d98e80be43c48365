"""Readers' search: what it finds, in which order, how it shows it, and that no input breaks it.

Runs in embedded mode (the plain fallback) and on PostgreSQL (full-text search with GIN indexes).
"""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from publications.models import PageListing, Publication
from search import query
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory, WebResourceFactory
from treatments import paths
from treatments.models import Section, TreatmentPage

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search: PostgreSQL")


@pytest.fixture(params=["fallback", "full-text"])
def engine(request, monkeypatch):
    """Each test twice: the plain fallback (any database) and, on PostgreSQL, full-text search."""
    full_text = request.param == "full-text"
    if full_text and connection.vendor != "postgresql":
        pytest.skip("full-text search: PostgreSQL")
    monkeypatch.setattr(query, "is_full_text", lambda: full_text)
    return request.param


def search(client, q, **params):
    response = client.get("/search/", {"q": q, **params})
    assert response.status_code == 200
    return response.content.decode()


def page_results(html):
    """The titles of the page results, in order (text without tags)."""
    section = (
        html.split('id="page-results-heading"', 1)[1].split("</section>", 1)[0]
        if "page-results" in html
        else ""
    )
    return [re.sub(r"<[^>]+>", "", title) for title in re.findall(r"<h3><a [^>]*>(.*?)</a></h3>", section)]


def publication_results(html):
    if 'id="publication-results-heading"' not in html:
        return []
    section = html.split('id="publication-results-heading"', 1)[1].split("</section>", 1)[0]
    return [re.sub(r"<[^>]+>", "", title) for title in re.findall(r"<h3>(.*?)</h3>", section)]


def listed(page, **fields):
    return PageListingFactory(page=page, publication=PublicationFactory(**fields)).publication


# --- The demo page ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q", ["IL-2", "Proleukin", "aldesleukin melanoma", "IL2", "interleukin 2", "cytokine"]
)
def test_the_demo_queries_find_the_interleukin_2_page(client, demo_page, q, engine):
    html = search(client, q)
    assert page_results(html)[0] == "Interleukin 2 (Aldesleukin)"
    assert f'href="{demo_page.get_absolute_url()}"' in html


def test_the_demo_list_is_searchable_and_says_where_each_entry_is_listed(client, demo_page, engine):
    html = search(client, "berberine Jurkat")
    titles = publication_results(html)
    assert titles == [
        "Inhibitory effect of berberine on interleukin-2 secretion from PHA-treated lymphocytic Jurkat cells."
    ]
    assert "Listed on:" in html and "Interleukin 2 (Aldesleukin)</a>" in html


# --- Ranking, grouping, snippets --------------------------------------------------------------------


def test_a_title_match_ranks_above_a_description_match(engine):
    TreatmentPageFactory(title="Aardvark therapy", description="<p>Used for melanoma.</p>")
    TreatmentPageFactory(title="Melanoma vaccine", description="<p>A vaccine.</p>")
    found = [page.title for page in query.search_pages("melanoma")]
    assert found == ["Melanoma vaccine", "Aardvark therapy"]


def test_a_publication_title_match_ranks_above_an_abstract_match(engine):
    page = TreatmentPageFactory()
    listed(
        page, title="A study of cells.", abstract=[{"label": "", "text": "In melanoma patients, we saw it."}]
    )
    listed(page, title="Melanoma outcomes.", abstract=[{"label": "", "text": "Nothing else."}])
    found = [p.title for p in query.search_publications("melanoma")]
    assert found == ["Melanoma outcomes.", "A study of cells."]


def test_an_abstract_is_searched_by_its_words_not_its_stored_json(client, engine):
    """In embedded mode (SQLite stores JSON with \\u escapes) "β-catenin" in an abstract was not found, and
    "text" or "label" (the sections' keys) found every publication with an abstract."""
    page = TreatmentPageFactory(title="Plain")
    listed(
        page, title="A study of cells.", abstract=[{"label": None, "text": "Wnt/β-catenin in naïve cells."}]
    )
    listed(page, title="Other cells.", abstract=[{"label": "METHODS", "text": "Nothing else."}])
    assert publication_results(search(client, "β-catenin")) == ["A study of cells."]
    assert publication_results(search(client, "naïve cells")) == ["A study of cells."]
    for q in ["text", "label", "null"]:
        assert publication_results(search(client, q)) == [], q
        assert page_results(search(client, q)) == [], q


def test_pages_come_first_then_publications(client, engine):
    page = TreatmentPageFactory(title="Vemurafenib")
    listed(page, title="Vemurafenib resistance in melanoma.")
    html = search(client, "vemurafenib")
    assert html.index('id="page-results-heading"') < html.index('id="publication-results-heading"')
    assert "2 results for “vemurafenib”" in html
    assert re.search(r'<p class="result-count" role="status"[^>]*>2 results for', html)
    assert page_results(html) == ["Vemurafenib"]
    assert publication_results(html) == ["Vemurafenib resistance in melanoma."]


def test_a_page_is_found_by_its_tags_its_links_and_its_publications(client, engine):
    page = TreatmentPageFactory(title="Ipilimumab")
    page.tags.add("checkpoint-inhibitor")
    WebResourceFactory(page=page, title="Yervoy patient leaflet")
    listed(page, title="Durable responses in uveal disease.")
    for q in ["checkpoint", "Yervoy", "uveal", "ipilimumab uveal"]:
        assert page_results(search(client, q)) == ["Ipilimumab"], q
    assert page_results(search(client, "ipilimumab nonexistentword")) == []


def test_snippets_are_marked_and_everything_else_is_escaped(client, engine):
    TreatmentPageFactory(
        title="Dacarbazine <b>bold</b>",
        description="<p>Against melanoma &lt;script&gt;alert(1)&lt;/script&gt; since 1975.</p>",
    )
    page = TreatmentPageFactory(title="Other")
    listed(
        page,
        title="CD69<sup>+</sup> cells in melanoma &lt;img src=x onerror=alert(1)&gt;.",
        abstract=[{"label": "", "text": "Melanoma <i>in vivo</i> &lt;script&gt;x&lt;/script&gt;."}],
    )
    html = search(client, "melanoma")
    results = html.split("<main", 1)[1]
    assert re.search(r"<mark>melanoma</mark>", results, re.I)
    assert (
        "<script" not in results and "<img" not in results and "<sup>" not in results and "<b>" not in results
    )
    assert "&lt;script&gt;" in results
    tags = set(
        re.findall(
            r"</?([a-z0-9]+)", results.split('role="status"', 1)[1].split("</ul>\n      </section>")[0]
        )
    )
    assert "mark" in tags and not tags & {"script", "img", "sup", "b", "i"}


def test_marked_never_lets_a_tag_through():
    assert query.marked("a &lt;b&gt; \ue000c\ue001 <i>") == "a &lt;b&gt; <mark>c</mark> &lt;i&gt;"
    assert query.marked("\ue001x\ue000y") == "x<mark>y</mark>"
    assert query.marked("\ue000\ue000z") == "<mark>z</mark>"
    assert query.marked(None) == ""


def test_results_are_paginated_twenty_at_a_time(client, engine):
    page = TreatmentPageFactory(title="Nivolumab")
    for n in range(25):
        listed(page, title=f"Nivolumab trial {n}.", pub_year=str(1990 + n))
    first = search(client, "nivolumab")
    assert "26 results for “nivolumab”" in first and "page 1 of 2" in first
    assert len(page_results(first)) + len(publication_results(first)) == 20
    assert 'href="?q=nivolumab&amp;page=2"' in first
    second = search(client, "nivolumab", page=2)
    assert page_results(second) == [] and len(publication_results(second)) == 6
    assert search(client, "nivolumab", page=99).count("<h3>") == 6  # past the end: the last page


# --- What is never shown ----------------------------------------------------------------------------


def test_unpublished_pages_and_what_only_they_list_are_never_found(client, engine):
    draft = TreatmentPageFactory(title="Secret regimen", published=False)
    listed(draft, title="Secret regimen trial.")
    live = TreatmentPageFactory(title="Public page")
    hidden = listed(live, title="Secret regimen hidden entry.")
    PageListing.objects.filter(publication=hidden).update(hidden=True)
    html = search(client, "secret regimen")
    assert "0 results" in html and "Secret" not in html.split('role="status"', 1)[1]


def test_a_hidden_listing_does_not_make_its_page_match(engine):
    page = TreatmentPageFactory(title="Plain")
    publication = listed(page, title="Zoledronic acid.")
    assert [p.title for p in query.search_pages("zoledronic")] == ["Plain"]
    PageListing.objects.filter(publication=publication).update(hidden=True)
    assert list(query.search_pages("zoledronic")) == []


def test_excluded_words_leave_pages_and_publications_out(engine):
    TreatmentPageFactory(title="Cisplatin", description="<p>Used in lung cancer.</p>")
    TreatmentPageFactory(title="Carboplatin", description="<p>Used in ovarian cancer.</p>")
    assert [p.title for p in query.search_pages("cancer -lung")] == ["Carboplatin"]
    assert sorted(p.title for p in query.search_pages("lung or ovarian")) == ["Carboplatin", "Cisplatin"]
    listed(TreatmentPage.objects.get(title="Cisplatin"), title="Cisplatin in lung cancer.")
    listed(TreatmentPage.objects.get(title="Cisplatin"), title="Cisplatin in bladder cancer.")
    assert [p.title for p in query.search_publications("cisplatin -lung")] == ["Cisplatin in bladder cancer."]


def test_an_excluded_word_is_left_out_however_it_is_written(client, engine):
    """ "IL2" and "IL-2" are one name: before, "melanoma -IL2" still listed an IL-2 paper (and, in embedded
    mode, a page about IL-2), though the same search left the page out on PostgreSQL."""
    page = TreatmentPageFactory(title="Melanoma care", description="<p>Uses IL-2 in melanoma.</p>")
    listed(page, title="Melanoma and IL-2 therapy.")
    listed(page, title="Melanoma and BRAF.")
    for q in ["melanoma -IL2", "melanoma -il-2"]:
        html = search(client, q)
        assert publication_results(html) == ["Melanoma and BRAF."], q
        assert page_results(html) == [], q


# --- Any input gets a page --------------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "x" * 10_000,
    "melanoma " * 2000,
    '"',
    '"unbalanced phrase',
    "'; DROP TABLE treatments_treatmentpage; --",
    "!!&|():*<->",
    "a & b | !c",
    "IL-2:*",
    "or or or",
    "-",
    "-melanoma",
    "\\",
    "%_%",
    "\x00",
    "mel\x00anoma",
    "\x01\x1f\x7f",
    "β-catenin 中文 🙂 naïve",
    "\u202e\ufeff\u200b",
    "<script>alert(1)</script>",
    "&lt;mark&gt;",
    "the and of",
    "1 2 3 4 5 6 7 8 9 10 11 12",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_any_input_gets_a_page(q, engine):
    client = Client(raise_request_exception=True)
    TreatmentPageFactory(title="Melanoma page")
    response = client.get("/search/", {"q": q, "page": "x"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert" not in html and "&lt;mark&gt;</" not in html


def test_odd_query_strings_get_a_page(client, engine):
    for url in [
        "/search/?q=%00",
        "/search/?q=%ff%fe",
        "/search/?q[]=x",
        "/search/?q=a&q=b",
        "/search/?page=-1&q=a",
    ]:
        assert client.get(url).status_code == 200, url


def test_the_query_is_cleaned_and_capped():
    assert query.clean("  a\x00b\n\tc  ") == "a b c"
    assert len(query.clean("y" * 10_000)) == query.MAX_QUERY_LENGTH
    assert query.clean(None) == ""
    terms = query.parse(" ".join(f"w{n}" for n in range(20)))
    assert len(terms.terms) == query.MAX_TERMS
    assert query.parse('"metastatic melanoma" or uveal -lung').groups == (('"metastatic melanoma"', "uveal"),)
    assert query.parse("or -x").excluded == ("-x"[1:],) and not query.parse("or -x")
    assert query.spellings("IL-2") == ["IL-2", "IL2"] and query.spellings("il2") == ["il2", "il-2"]
    assert query.spellings("melanoma") == ["melanoma"]


def test_or_does_not_lift_the_cap_on_terms(client, engine):
    """Before, the cap counted groups: "x0 or x1 or ... x39" read 30 terms (each a subquery per part of a
    page, twice for "x1" and "x-1"), a query four times the size the cap allows, from one request."""
    TreatmentPageFactory(title="Melanoma page")
    joined = " or ".join(f"x{n}" for n in range(40))
    assert len(query.parse(joined).terms) == query.MAX_TERMS
    assert query.parse("a or b -c d e f g h i j").terms == ["a", "b", "d", "e", "f", "g", "h"]
    assert "0 results" in search(client, joined)


def test_the_empty_search_page_shows_the_form(client):
    html = search(client, "")
    assert 'role="search"' in html and "results for" not in html
    assert '<label id="search-form-label" for="search-q">' in html


# --- Every page has the search box; search is never stored by the page cache ----------------------


def test_every_page_has_a_labelled_search_box(client, demo_page):
    for url in ["/", demo_page.get_absolute_url(), "/about/", "/a-z/"]:
        html = client.get(url).content.decode()
        assert re.search(
            r'<form class="site-search" role="search" aria-label="Site" method="get" action="/search/">', html
        )
        assert '<label for="site-search-q">Search</label>' in html and 'id="site-search-q"' in html


def test_a_search_is_public_but_not_stored(client, settings):
    from django.core.cache import caches

    settings.PAGE_CACHE_ENABLED = True
    caches[settings.PAGE_CACHE_ALIAS].clear()
    TreatmentPageFactory(title="Melanoma page")
    response = client.get("/search/", {"q": "melanoma"})
    assert response["Cache-Control"].startswith("public")
    assert "X-Page-Cache" not in response or response["X-Page-Cache"] != "HIT"
    TreatmentPageFactory(title="Melanoma page two")
    assert "2 results" in client.get("/search/", {"q": "melanoma"}).content.decode()  # rendered again


def test_search_tags_and_a_z_are_reserved_segments():
    reserved = paths.reserved_root_slugs()
    assert {"search", "tags", "a-z"} <= reserved
    for slug in ("search", "tags", "a-z"):
        assert paths.path_problem(slug) == f'"{slug}" is reserved for the site itself'
        with pytest.raises(Exception, match="reserved"):
            Section(slug=slug, title="Clash").full_clean()


# --- Fixed query counts -----------------------------------------------------------------------------


def _site(pages, publications_each):
    for n in range(pages):
        page = TreatmentPageFactory(title=f"Sorafenib {n}")
        page.tags.add("kinase")
        WebResourceFactory(page=page, title=f"Sorafenib leaflet {n}")
        for m in range(publications_each):
            listed(page, title=f"Sorafenib study {n}.{m}.")


@pytest.mark.parametrize("size", [(2, 1), (6, 2)])
def test_search_costs_the_same_number_of_queries_whatever_the_size(
    client, size, django_assert_num_queries, engine
):
    _site(*size)
    with CaptureQueriesContext(connection) as first:
        search(client, "sorafenib")
    with django_assert_num_queries(5):  # count pages, count publications, each one's window, where listed
        html = search(client, "sorafenib")
    assert len(first) == 5 and len(page_results(html)) == size[0]


# --- PostgreSQL: the full-text path reads the GIN indexes ------------------------------------------


@on_postgresql
@pytest.mark.parametrize(
    ("model", "document", "index"),
    [
        ("treatments.TreatmentPage", query.page_document, "search_page_document"),
        ("treatments.WebResource", query.web_resource_document, "search_web_resource_document"),
        ("publications.Publication", query.publication_document, "search_publication_document"),
    ],
)
def test_matching_reads_the_gin_index(model, document, index):
    from django.apps import apps

    rows = apps.get_model(model).objects.filter(
        query.Matches(document(), query.SearchQuery("melanoma", search_type="websearch", config="english"))
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = rows.order_by().values("pk").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan


def test_the_full_text_querysets_are_built_in_any_database():
    """Built, not run (that needs PostgreSQL, above): each term in both spellings, stop words guarded."""
    terms = query.parse("IL-2 melanoma -lung")
    pages = query._full_text_pages(TreatmentPage.objects.all(), terms)
    publications = query._full_text_publications(Publication.objects.all(), terms)
    for built in (pages, publications):
        assert {"rank", "title_marked", "snippet_marked"} <= set(built.query.annotations)
    spelled = query._term_query("IL-2")
    assert {side.source_expressions[-1].value for side in (spelled.lhs, spelled.rhs)} == {"IL-2", "IL2"}
