"""Readers find pages: tags, the A-Z, sections with counts, related treatments; never an unpublished page.

Every one of these pages costs the same number of queries however many pages and publications exist.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from publications.models import PageListing
from tests.factories import PageListingFactory, PublicationFactory, SectionFactory, TreatmentPageFactory
from treatments import cache, views
from treatments.models import Section, TreatmentPage

pytestmark = pytest.mark.django_db


def html_of(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, url
    return response.content.decode()


def links(html, css_class="link-list"):
    """The link texts of every list of ``css_class``, in order."""
    lists = re.findall(rf'<ul class="{css_class}[^"]*">(.*?)</ul>', html, re.S)
    texts = [text for block in lists for text in re.findall(r"<a [^>]*>(.*?)</a>", block)]
    return [re.sub(r"<[^>]+>", "", text) for text in texts]


def cite(page, publication, **fields):
    return PageListingFactory(page=page, publication=publication, **fields)


# --- Tags -----------------------------------------------------------------------------------------


def test_a_pages_tags_link_to_tag_pages_that_list_the_published_pages(client):
    page = TreatmentPageFactory(title="Interferon alfa")
    page.tags.add("cytokine", "immunotherapy")
    other = TreatmentPageFactory(title="Aldesleukin")
    other.tags.add("cytokine")
    draft = TreatmentPageFactory(title="Secret cytokine", published=False)
    draft.tags.add("cytokine")
    html = html_of(client, page.get_absolute_url())
    assert '<a href="/tags/cytokine/" rel="tag">cytokine</a>' in html
    assert '<a href="/tags/immunotherapy/" rel="tag">immunotherapy</a>' in html
    tag_page = html_of(client, "/tags/cytokine/")
    assert "<h1>Pages tagged “cytokine”</h1>" in tag_page
    assert links(tag_page) == ["Aldesleukin", "Interferon alfa"]
    assert "2 pages." in tag_page


def test_a_tag_only_unpublished_pages_carry_is_not_found(client):
    TreatmentPageFactory(published=False).tags.add("hidden-tag")
    html_of(client, "/tags/hidden-tag/", status=404)
    html_of(client, "/tags/no-such-tag/", status=404)


def test_tag_pages_are_paginated(client):
    for n in range(views.TAG_PAGES_PER_PAGE + 3):
        TreatmentPageFactory(title=f"Page {n:03}").tags.add("many")
    first = html_of(client, "/tags/many/")
    assert len(links(first)) == views.TAG_PAGES_PER_PAGE and 'href="?page=2"' in first
    assert links(html_of(client, "/tags/many/?page=2")) == ["Page 050", "Page 051", "Page 052"]


# --- A-Z ------------------------------------------------------------------------------------------


def test_the_a_to_z_lists_published_pages_by_letter_and_by_other_name(client):
    TreatmentPageFactory(title="Interleukin 2", other_name="Aldesleukin")
    TreatmentPageFactory(title="bevacizumab")
    TreatmentPageFactory(title="5-Fluorouracil")
    TreatmentPageFactory(title="Éribulin")
    TreatmentPageFactory(title="Zebra secret", published=False)
    html = html_of(client, "/a-z/")
    headings = re.findall(r'<h2 id="letter-([^"]+)">', html)
    assert headings == ["other", "A", "B", "E", "I"]
    expected = ["5-Fluorouracil", "Interleukin 2", "bevacizumab", "Éribulin", "Interleukin 2 (Aldesleukin)"]
    assert links(html) == expected
    assert "Aldesleukin: see <a" in html
    assert "Zebra" not in html
    assert '<nav class="letters" aria-label="Letters">' in html


def test_the_a_to_z_of_an_empty_site(client):
    assert "No treatment pages yet." in html_of(client, "/a-z/")


# --- Sections and home ----------------------------------------------------------------------------


def test_sections_list_subsections_with_counts_of_published_pages_below_them(client):
    top = SectionFactory(slug="treatments", title="Treatments")
    biological = SectionFactory(parent=top, slug="biological", title="Biological")
    deeper = SectionFactory(parent=biological, slug="cytokines", title="Cytokines")
    SectionFactory(parent=top, slug="empty", title="Empty")
    TreatmentPageFactory(section=biological)
    TreatmentPageFactory(section=deeper)
    TreatmentPageFactory(section=deeper, published=False)
    TreatmentPageFactory(section=top, title="Top page")
    html = html_of(client, top.get_absolute_url())
    assert '<a href="/treatments/biological/">Biological</a> <span class="count">(2 pages)</span>' in html
    assert '<a href="/treatments/empty/">Empty</a> <span class="count">(0 pages)</span>' in html
    assert '<h2 id="pages-heading">Pages (1)</h2>' in html
    home = html_of(client, "/")
    assert '<a href="/treatments/">Treatments</a> <span class="count">(3 pages)</span>' in home
    assert '<a href="/treatments/biological/">Biological</a> <span class="count">(2 pages)</span>' in home
    assert Section.objects.with_page_counts().get(pk=deeper.pk).page_count == 1


def test_a_similar_section_path_is_not_counted_as_below():
    SectionFactory(slug="a", title="A")
    other = SectionFactory(slug="ab", title="AB")
    TreatmentPageFactory(section=other)
    counts = dict(Section.objects.with_page_counts().values_list("path", "page_count"))
    assert counts == {"a": 0, "ab": 1}


# --- Related treatments ---------------------------------------------------------------------------


def test_related_treatments_share_listed_pmids_or_tags_most_shared_first(client):
    page = TreatmentPageFactory(title="Interleukin 2")
    page.tags.add("cytokine", "immunotherapy")
    shared = [PublicationFactory() for _ in range(3)]
    for publication in shared:
        cite(page, publication)
    citing = TreatmentPageFactory(title="Zz citing")
    cite(citing, shared[0])
    cite(citing, shared[1])
    tagged = TreatmentPageFactory(title="Aa tagged")
    tagged.tags.add("cytokine")
    both = TreatmentPageFactory(title="Mm both")
    both.tags.add("immunotherapy")
    cite(both, shared[2])
    TreatmentPageFactory(title="Unrelated").tags.add("surgery")
    draft = TreatmentPageFactory(title="Draft citing", published=False)
    cite(draft, shared[0])
    hiding = TreatmentPageFactory(title="Hidden citing")
    cite(hiding, shared[1], hidden=True)
    no_pmid = PublicationFactory(pmid=None)
    cite(page, no_pmid)
    cite(TreatmentPageFactory(title="Old list"), no_pmid)
    html = html_of(client, page.get_absolute_url())
    assert links(html, "link-list related") == ["Zz citing", "Mm both", "Aa tagged"]
    assert "(also cites 2 of these publications)" in html and "(shares 1 tag)" in html
    assert '<h2 id="related-heading">Related treatments</h2>' in html


def test_only_the_entries_a_page_shows_make_another_page_related(client):
    """ "Also cites N of these publications": these are the ones the reader sees, not a list of thousands."""
    page = TreatmentPageFactory(title="Interleukin 2", publications_shown=1)
    shown, beyond = PublicationFactory(pub_year="2024"), PublicationFactory(pub_year="2001")
    cite(page, shown, position=0)
    cite(page, beyond, position=1)
    cite(TreatmentPageFactory(title="Cites the shown one"), shown)
    cite(TreatmentPageFactory(title="Cites one not shown"), beyond)
    assert links(html_of(client, page.get_absolute_url()), "link-list related") == ["Cites the shown one"]


def test_related_treatments_are_bounded():
    page = TreatmentPageFactory()
    page.tags.add("common")
    for n in range(8):
        TreatmentPageFactory(title=f"Other {n}").tags.add("common")
    assert len(TreatmentPage.objects.related_to(page, limit=views.RELATED_PAGES)) == views.RELATED_PAGES


def test_a_page_with_nothing_shared_shows_no_related_block(client):
    page = TreatmentPageFactory()
    assert 'id="related"' not in html_of(client, page.get_absolute_url())


# --- Purges reach every list ----------------------------------------------------------------------


def test_a_pages_change_purges_its_tags_the_a_to_z_search_and_pages_listing_it_as_related():
    page = TreatmentPageFactory()
    page.tags.add("cytokine")
    other = TreatmentPageFactory()
    other.tags.add("cytokine")
    urls = cache.urls_for(page)
    assert {"/tags/cytokine/", "/a-z/", "/search/", other.get_absolute_url()} <= set(urls)
    assert views.tag.reader_page and views.a_to_z.reader_page


def test_unpublishing_removes_a_page_from_every_list(client):
    page = TreatmentPageFactory(title="Vanishing")
    page.tags.add("cytokine")
    other = TreatmentPageFactory(title="Staying")
    other.tags.add("cytokine")
    TreatmentPage.objects.filter(pk=page.pk).update(published=False)
    assert "Vanishing" not in html_of(client, "/a-z/")
    assert "Vanishing" not in html_of(client, "/tags/cytokine/")
    assert "Vanishing" not in html_of(client, page.section.get_absolute_url())
    assert "Vanishing" not in html_of(client, other.get_absolute_url())
    assert "Vanishing" not in html_of(client, "/search/?q=vanishing")


# --- Fixed query counts ---------------------------------------------------------------------------


def build(size: int):
    """``size`` published pages in one section, tagged alike, each listing ``size`` shared publications."""
    section = SectionFactory(slug="s", title="S")
    publications = [PublicationFactory() for _ in range(size)]
    pages = []
    for n in range(size):
        page = TreatmentPageFactory(section=section, title=f"Page {n}", other_name=f"Other {n}")
        page.tags.add("common", f"own-{n}")
        for publication in publications:
            cite(page, publication)
        pages.append(page)
    SectionFactory(parent=section, slug=f"sub-{size}", title="Sub")
    return pages[0]


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", ["/tags/common/", "/a-z/", "/s/", "/", "PAGE"])
def test_finding_pages_cost_a_fixed_number_of_queries(client, url, django_assert_num_queries):
    small = build(2)
    queries(client, small.get_absolute_url() if url == "PAGE" else url)  # warm: content types, etc.
    counted = queries(client, small.get_absolute_url() if url == "PAGE" else url)
    PageListing.objects.all().delete()
    TreatmentPage.objects.all().delete()
    Section.objects.filter(parent__isnull=False).delete()
    Section.objects.all().delete()
    large = build(12)
    with django_assert_num_queries(counted):
        assert client.get(large.get_absolute_url() if url == "PAGE" else url).status_code == 200
