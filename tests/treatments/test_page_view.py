"""The treatment page as a reader sees it, compared with the old site's page entry by entry."""

import re

import lxml.html
import pytest

from publications.models import Publication
from tests.conftest import DEMO_PAGE_URL, SEED
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory, WebResourceFactory


def seed_entries():
    """The seed's publication entries: authors, title, citation line, its marks, abstract lines."""
    text = SEED.read_text(encoding="utf-8")
    body = text.split("\n\n\nLatest Research Publications\n\n", 1)[1].split("\nCancerIndex.org\n", 1)[0]
    entries = []
    for block in re.split(r"\n\s*\n", body.strip()):
        authors, title, citation, *abstract = block.split("\n")
        source, marks = citation.split(" [PubMed]")
        entries.append(
            dict(authors=authors, title=title, source=source, marks=marks.strip(), abstract=abstract)
        )
    return entries


def text(element):
    return " ".join(element.text_content().split())


def rendered_entries(html):
    doc = lxml.html.fromstring(html)
    return [
        dict(
            authors=text(li.cssselect(".authors")[0]),
            title=text(li.cssselect(".title")[0]),
            source=text(li.cssselect(".citation .source")[0]),
            links={text(a): a.get("href") for a in li.cssselect(".citation a")},
            abstract=[p.text_content() for p in li.cssselect(".abstract p")],
        )
        for li in doc.cssselect("li.publication")
    ]


@pytest.fixture
def demo_html(client, demo_page):
    response = client.get(DEMO_PAGE_URL)
    assert response.status_code == 200
    return response.content.decode()


def test_seed_has_thirty_entries():
    assert len(seed_entries()) == 30


def test_demo_page_matches_the_seed_entry_by_entry(demo_html):
    seed, ours = seed_entries(), rendered_entries(demo_html)
    assert len(ours) == len(seed) == 30
    for number, (want, got) in enumerate(zip(seed, ours, strict=True), start=1):
        assert got["authors"] == want["authors"], f"entry {number}"
        assert got["source"] == want["source"], f"entry {number}"
        assert got["title"].startswith(" ".join(want["title"].split())), f"entry {number}"
        assert got["abstract"] == want["abstract"], f"entry {number}"


def test_demo_page_keeps_the_seeds_pmc_marks(demo_html):
    for number, (want, got) in enumerate(zip(seed_entries(), rendered_entries(demo_html), strict=True), 1):
        pmc_marks = {label for label in got["links"] if "PMC" in label or "Free Access" in label}
        expected = {mark for mark in (want["marks"].replace("Related Publications", "").strip(),) if mark}
        assert pmc_marks == expected, f"entry {number}"


def test_demo_entries_without_pmid_link_a_title_search_and_no_related_publications(demo_html):
    first = rendered_entries(demo_html)[0]
    assert first["links"]["[PubMed]"] == (
        "https://pubmed.ncbi.nlm.nih.gov/?term=%22Back+to+the+Future%3A+Rethinking+and+Retooling+IL2+in+the"
        "+Immune+Checkpoint+Inhibitor+Era.%22%5BTitle%5D"
    )
    assert "Related Publications" not in first["links"]


def test_titles_cut_by_the_seed_are_whole_with_their_markup(demo_html):
    assert "data from the PROCLAIM<sup>SM</sup> registry." in demo_html
    assert "CD69<sup>+</sup> T cell subsets in colorectal cancer patients." in demo_html
    assert "anti-GD<sub>2</sub> antibody ch14.18/CHO" in demo_html


def test_page_parts_in_order(demo_html):
    doc = lxml.html.fromstring(demo_html)
    crumbs = [text(li) for li in doc.cssselect(".breadcrumb li")]
    assert crumbs == ["Home", "Treatments", "Biological Therapies", "Interleukin 2 (Aldesleukin)"]
    assert text(doc.cssselect("h1")[0]) == "Interleukin 2 (Aldesleukin)"
    assert "naturally occurring cytokine made by T-lymphocytes" in text(doc.cssselect(".description")[0])
    assert text(doc.cssselect(".feedback legend")[0]) == "Found this page useful?"
    assert text(doc.cssselect("#web-resources-heading")[0]) == "Web Resources: IL2 (6 links)"
    assert len(doc.cssselect(".web-resources li a")) == 6
    assert text(doc.cssselect("#latest-research-heading")[0]) == "Latest Research Publications"
    assert text(doc.cssselect(".last-updated")[0]) == "Page last updated: 02 September, 2019"
    footer = text(doc.cssselect(".site-footer")[0])
    assert "Disclaimer" in footer and "About" in footer


def test_structured_abstract_sections_each_start_a_line(demo_html):
    second = rendered_entries(demo_html)[1]
    assert [p.split(":")[0] for p in second["abstract"]] == [
        "BACKGROUND", "OBJECTIVE", "METHODS", "RESULTS", "CONCLUSION"
    ]  # fmt: skip


@pytest.mark.django_db
def test_pubmed_entry_links_record_related_and_pmc(client):
    listing = PageListingFactory(
        publication=PublicationFactory(pmid=30914426, in_pmc=True, pmcid="PMC6386732", title="A title.")
    )
    html = client.get(listing.page.get_absolute_url()).content.decode()
    (entry,) = rendered_entries(html)
    assert entry["links"] == {
        "[PubMed]": "https://pubmed.ncbi.nlm.nih.gov/30914426/",
        "Free Access to Full Article": "https://pmc.ncbi.nlm.nih.gov/articles/PMC6386732/",
        "Related Publications": "https://pubmed.ncbi.nlm.nih.gov/?linkname=pubmed_pubmed&from_uid=30914426",
    }


@pytest.mark.django_db
def test_inline_markup_kept_and_script_escaped(client):
    publication = PublicationFactory(
        title="Soluble γc receptor attenuates anti-tumor responses of CD8<sup>+</sup> T cells",
        abstract=[{"label": "", "text": "3.7-fold less lethal to mice by LD<sub>50</sub>."}],
    )
    listing = PageListingFactory(publication=publication)
    # Bypass save-time cleaning: what is rendered must be safe whatever the database holds.
    Publication.objects.filter(pk=publication.pk).update(
        abstract=[{"label": "<b onclick=x>R</b>", "text": "<script>alert(1)</script><i>in vivo</i>"}]
    )
    html = client.get(listing.page.get_absolute_url()).content.decode()
    assert "CD8<sup>+</sup> T cells" in html
    assert "<i>in vivo</i>" in html
    assert "<script>alert" not in html
    assert "<b onclick" not in html
    assert "&lt;b onclick=x&gt;R&lt;/b&gt;:" in html  # a label is text, shown escaped


@pytest.mark.django_db
def test_retracted_publication_carries_a_warning(client):
    listing = PageListingFactory(
        publication=PublicationFactory(is_retracted=True, retraction_notices=["Nature. 2020;580:1 PMID: 1"])
    )
    html = client.get(listing.page.get_absolute_url()).content.decode()
    assert "Retracted publication" in html


@pytest.mark.django_db
def test_pinned_first_hidden_never_and_the_page_limit_respected(client):
    page = TreatmentPageFactory(publications_shown=3)
    newest = PageListingFactory(page=page, position=0, publication__title="Newest.")
    PageListingFactory(page=page, position=1, publication__title="Hidden.", hidden=True)
    older = PageListingFactory(page=page, position=2, publication__title="Older.")
    PageListingFactory(page=page, position=3, publication__title="Oldest.")
    PageListingFactory(page=page, position=4, publication__title="Past the limit.")
    pinned = PageListingFactory(page=page, position=9, publication__title="Pinned.", pinned=True)
    titles = [e["title"] for e in rendered_entries(client.get(page.get_absolute_url()).content.decode())]
    assert titles == [pinned.publication.title, newest.publication.title, older.publication.title]


@pytest.mark.django_db
@pytest.mark.parametrize("entries", [1, 30])
def test_page_renders_in_a_fixed_number_of_queries(client, django_assert_num_queries, entries):
    page = TreatmentPageFactory(publications_shown=30)
    WebResourceFactory.create_batch(entries, page=page)
    PageListingFactory.create_batch(entries, page=page)
    page.tags.add("cytokine", "immunotherapy")
    # the sections on the path (the breadcrumb) with the page, its publications (with the columns its
    # JSON-LD needs), and in one round trip its tags, web resources and related pages
    with django_assert_num_queries(3):
        response = client.get(page.get_absolute_url())
    assert response.status_code == 200
    assert response.content.decode().count('<li class="publication') == entries


@pytest.mark.django_db
def test_draft_pages_are_not_shown_to_readers(client):
    page = TreatmentPageFactory(published=False)
    assert client.get(page.get_absolute_url()).status_code == 404
    assert page.title not in client.get(page.section.get_absolute_url()).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/nowhere/", "/treatments/../etc/passwd/", "/%00/", "/a//b/", "/" + "x/" * 300]
)
def test_unknown_paths_are_a_clear_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_home_and_section_pages_list_the_tree(client, demo_page):
    home = client.get("/").content.decode()
    assert 'href="/treatments/"' in home
    section = client.get("/treatments/").content.decode()
    assert 'href="/treatments/biological-therapies/"' in section
    subsection = client.get("/treatments/biological-therapies/").content.decode()
    assert f'href="{DEMO_PAGE_URL}"' in subsection
    assert "Interleukin 2 (Aldesleukin)" in subsection


@pytest.mark.django_db
def test_about_and_disclaimer(client):
    assert "educational purposes only" in client.get("/disclaimer/").content.decode()
    assert client.get("/about/").status_code == 200


@pytest.mark.django_db
def test_meta_description_is_the_descriptions_text_escaped_once(client):
    page = TreatmentPageFactory(description="<p>Risks &amp; benefits of <b>IL-2</b>.</p>")
    html = client.get(page.get_absolute_url()).content.decode()
    assert '<meta name="description" content="Risks &amp; benefits of IL-2.">' in html


@pytest.mark.django_db
def test_on_postgresql_the_pages_statements_are_prepared_once_per_connection(client):
    """The page's compiled queries are planned once per connection (PG_PREPARE), not on every request."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    page = TreatmentPageFactory(publications_shown=30)
    PageListingFactory.create_batch(3, page=page)
    for _ in range(3):
        assert client.get(page.get_absolute_url()).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [statement for (statement,) in cursor.fetchall()]
    assert any("publications_pagelisting" in statement for statement in prepared)
    assert any('"treatments_treatmentpage"."slug" = $' in statement for statement in prepared)
