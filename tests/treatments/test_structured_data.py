"""What readers' pages tell machines: canonical URLs, Open Graph, and schema.org JSON-LD."""

import datetime
import importlib
import json
import re
from pathlib import Path

import lxml.html
import pytest
from django.apps import apps as django_apps
from django.template import engines
from django.test import RequestFactory
from django.urls import resolve

from publications import citation, schema
from publications.models import Publication
from publications.pubmed import parse_efetch
from tests.factories import PageListingFactory, PublicationFactory, SectionFactory, TreatmentPageFactory
from treatments import structured_data as sd

pytestmark = pytest.mark.django_db

EFETCH = Path(__file__).parent.parent / "fixtures" / "pubmed" / "efetch"
ARTICLE = (
    '<PubmedArticleSet><PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">'
    '<PMID Version="1">31000002</PMID><Article PubModel="Print"><Journal><JournalIssue CitedMedium="Print">'
    "<PubDate>{pub_date}</PubDate>"
    "</JournalIssue><Title>Cancer research</Title><ISOAbbreviation>Cancer Res</ISOAbbreviation></Journal>"
    "<ArticleTitle>A study.</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"
)


@pytest.fixture
def page():
    root = SectionFactory(slug="treatments", title="Treatments")
    section = SectionFactory(parent=root, slug="biological", title="Biological <Therapies>")
    return TreatmentPageFactory(
        section=section,
        slug="il-2",
        title="Interleukin 2",
        other_name="Aldesleukin",
        description="<p>A <b>cytokine</b> used in melanoma &amp; kidney cancer.</p>",
        last_reviewed_at=datetime.date(2024, 3, 1),
    )


def head(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return lxml.html.fromstring(response.content).find("head")


def json_ld(element):
    [script] = element.cssselect('script[type="application/ld+json"]')
    return json.loads(script.text)


def og(element):
    return {meta.get("property"): meta.get("content") for meta in element.cssselect('meta[property^="og:"]')}


def canonical(element):
    [link] = element.cssselect('link[rel="canonical"]')
    return link.get("href")


def test_a_page_describes_itself_as_a_medical_web_page(client, page):
    data = json_ld(head(client, page.get_absolute_url()))

    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "MedicalWebPage"
    assert data["name"] == "Interleukin 2 (Aldesleukin)"
    assert data["url"] == "http://testserver/treatments/biological/il-2/"
    assert data["description"] == "A cytokine used in melanoma & kidney cancer."
    assert datetime.datetime.fromisoformat(data["dateModified"]) == page.last_updated
    assert data["lastReviewed"] == "2024-03-01"
    crumbs = data["breadcrumb"]
    assert crumbs["@type"] == "BreadcrumbList"
    assert [(c["position"], c["name"], c["item"]) for c in crumbs["itemListElement"]] == [
        (1, "Home", "http://testserver/"),
        (2, "Treatments", "http://testserver/treatments/"),
        (3, "Biological <Therapies>", "http://testserver/treatments/biological/"),
        (4, "Interleukin 2 (Aldesleukin)", "http://testserver/treatments/biological/il-2/"),
    ]
    assert "citation" not in data  # nothing listed yet


def test_a_page_never_reviewed_says_nothing_of_review(client, page):
    page.last_reviewed_at = None
    page.save()
    assert "lastReviewed" not in json_ld(head(client, page.get_absolute_url()))


def test_each_entry_the_page_shows_is_a_scholarly_article(client, page):
    page.publications_shown = 2
    page.save()
    first = PageListingFactory(
        page=page,
        position=0,
        publication=PublicationFactory(
            pmid=31000001,
            title="IL-2<sup>+</sup> T cells in <i>melanoma</i>.",
            authors=[{"last_name": "León", "initials": "K"}, {"collective_name": "The IL-2 Group"}],
            journal="Cancer Res",
            journal_title="Cancer research",
            pub_year="2019",
            pub_month="Jun",
            doi="10.1158/0008-5472.CAN-19-0001",
        ),
    )
    PageListingFactory(page=page, position=1, hidden=True)
    second = PageListingFactory(page=page, position=2)
    PageListingFactory(page=page, position=3)  # past the page's limit

    articles = json_ld(head(client, page.get_absolute_url()))["citation"]

    assert [a["@type"] for a in articles] == ["ScholarlyArticle", "ScholarlyArticle"]
    assert articles[0] == {
        "@type": "ScholarlyArticle",
        "headline": "IL-2+ T cells in melanoma.",
        "name": "IL-2+ T cells in melanoma.",
        "author": [
            {"@type": "Person", "name": "León K"},
            {"@type": "Organization", "name": "The IL-2 Group"},
        ],
        "datePublished": "2019-06",
        "isPartOf": {"@type": "Periodical", "name": "Cancer research"},
        "pagination": "1-10",
        "identifier": [
            {"@type": "PropertyValue", "propertyID": "PMID", "value": "31000001"},
            {"@type": "PropertyValue", "propertyID": "DOI", "value": "10.1158/0008-5472.CAN-19-0001"},
        ],
        "sameAs": "https://doi.org/10.1158/0008-5472.CAN-19-0001",
        "url": "https://pubmed.ncbi.nlm.nih.gov/31000001/",
    }
    assert first.publication.pmid == 31000001
    assert articles[1]["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{second.publication.pmid}/"


def test_markup_in_titles_cannot_end_the_script_element(client, page):
    # PubMed text that reads as markup is stored escaped; as text it is markup again.
    title = "Evil &lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!-- x"
    PageListingFactory(page=page, publication__title=title)
    html = client.get(page.get_absolute_url()).content.decode()
    script = html.split('<script type="application/ld+json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in script and ">" not in script
    data = json.loads(script)
    assert data["citation"][0]["headline"] == "Evil </script><script>alert(1)</script> & <!-- x"


def test_json_ld_is_escaped_whatever_it_holds():
    embedded = sd.json_ld({"name": "</script><b>&"})
    assert embedded == (
        '<script type="application/ld+json">{"name":"\\u003C/script\\u003E\\u003Cb\\u003E\\u0026"}</script>'
    )


@pytest.mark.parametrize(
    ("year", "month", "day", "expected"),
    [("2019", "Jun", "", "2019-06"), ("2019", "11", "", "2019-11"), ("2019", "", "", "2019"),
     ("2019", "Spring", "", "2019"), ("2019", "Nov", "5", "2019-11-05"), ("2019", "Feb", "30", "2019-02"),
     ("2019", "", "5", "2019"), ("", "Jun", "", None), ("19xx", "", "", None)],
)  # fmt: skip
def test_dates_published_are_as_precise_as_known(year, month, day, expected):
    """To the day when PubMed gives it (before, "2019-11" beside an entry whose page says 5 November)."""
    article = schema.scholarly_article(PublicationFactory.build(pub_year=year, pub_month=month, pub_day=day))
    assert article.get("datePublished") == expected


@pytest.mark.parametrize(
    ("medline_date", "year"),
    [("2019 Nov-Dec", "2019"), ("Winter 2018", "2018"), ("1998 Dec-1999 Jan", "1998")],
)
def test_an_issue_dated_by_a_medline_date_has_its_year(medline_date, year):
    """ "2019 Nov-Dec" or "Winter 2018": the year is what ISO 8601 can say of it."""
    xml = ARTICLE.format(pub_date=f"<MedlineDate>{medline_date}</MedlineDate>")
    (record,) = parse_efetch(xml.encode()).records
    assert schema.scholarly_article(Publication.from_record(record))["datePublished"] == year


def test_a_chapter_is_part_of_its_book_and_a_whole_book_is_a_book():
    """Before, a GeneReviews chapter was "part of" a Periodical named "GeneReviews®", and a whole book
    part of a Periodical named after itself."""
    (record,) = parse_efetch((EFETCH / "metapub-book-20301577.xml").read_bytes()).records
    chapter = schema.scholarly_article(Publication.from_record(record))
    assert chapter["@type"] == "ScholarlyArticle"
    assert chapter["isPartOf"] == {"@type": "Book", "name": "GeneReviews®"}
    book = schema.scholarly_article(
        PublicationFactory.build(kind="book", title="A Whole Book", journal="A Whole Book", journal_title="")
    )
    assert book["@type"] == "Book" and book["name"] == "A Whole Book" and "isPartOf" not in book
    article = schema.scholarly_article(PublicationFactory.build(journal="Gut", journal_title="Gut"))
    assert article["isPartOf"] == {"@type": "Periodical", "name": "Gut"}


# RFC 3986's characters of a URL path (unreserved, sub-delims, ":", "@", "/") and percent-escapes.
URL_PATH = re.compile(r"https://doi\.org/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2})+")


@pytest.mark.parametrize(
    ("doi", "url"),
    [("10.1002/(SICI)1097-0258(19980815/30)17:15/16<1661::AID-SIM968>3.0.CO;2-2",
      "https://doi.org/10.1002/(SICI)1097-0258(19980815/30)17:15/16%3C1661::AID-SIM968%3E3.0.CO;2-2"),
     ("10.1000/456#789", "https://doi.org/10.1000/456%23789"),
     ("10.1000/a[1] b?c%d\"e{f}^g`h|i\\j+k", "https://doi.org/10.1000/a%5B1%5D%20b%3Fc%25d%22e%7Bf%7D%5Eg%60h%7Ci%5Cj%2Bk"),
     ("10.1000/ü", "https://doi.org/10.1000/%C3%BC"),
     ("10.1136/gutjnl-2016-312510", "https://doi.org/10.1136/gutjnl-2016-312510")],
)  # fmt: skip
def test_a_doi_is_a_url_as_doi_org_says(doi, url):
    """Before, ``sameAs`` (and ``url`` without a PMID) held the DOI raw: "<" and ">" are not allowed in a
    URL, and a "#" cut the DOI short at doi.org. The entry's DOI link on the page is the same URL."""
    article = schema.scholarly_article(PublicationFactory.build(doi=doi))
    assert article["sameAs"] == url and URL_PATH.fullmatch(url)
    assert article["identifier"][1] == {"@type": "PropertyValue", "propertyID": "DOI", "value": doi}
    assert schema.scholarly_article(PublicationFactory.build(pmid=None, doi=doi))["url"] == url
    [link] = lxml.html.fromstring(citation.entry_html(PublicationFactory.build(doi=doi))).xpath(
        '//p[@class="identifiers"]/a[starts-with(@href, "https://doi.org/")]'
    )
    assert (link.get("href"), link.text_content()) == (url, doi)


def test_the_migration_clears_stored_json_ld_so_it_is_built_again(client, page):
    listing = PageListingFactory(page=page, publication=PublicationFactory(doi="10.1000/456#789"))
    old = '{"@type":"ScholarlyArticle","sameAs":"https://doi.org/10.1000/456#789"}'
    Publication.objects.filter(pk=listing.publication_id).update(rendered_citation=old)
    migration = importlib.import_module("publications.migrations.0018_json_ld_rebuilt")
    migration.clear_citations(django_apps, None)
    assert Publication.objects.get(pk=listing.publication_id).rendered_citation == ""
    [article] = json_ld(head(client, page.get_absolute_url()))["citation"]
    assert article["sameAs"] == "https://doi.org/10.1000/456%23789"
    assert "%23789" in Publication.objects.get(pk=listing.publication_id).rendered_citation


def test_an_article_without_pmid_links_its_doi_and_one_without_either_a_title_search():
    by_doi = schema.scholarly_article(
        PublicationFactory.build(pmid=None, doi="10.1/x", authors=[], journal="", pages="")
    )
    assert by_doi["url"] == "https://doi.org/10.1/x"
    assert "author" not in by_doi and "isPartOf" not in by_doi and "pagination" not in by_doi
    neither = schema.scholarly_article(PublicationFactory.build(pmid=None, title="A study.", pub_year=""))
    assert neither["url"].startswith("https://pubmed.ncbi.nlm.nih.gov/?term=")
    assert "identifier" not in neither and "datePublished" not in neither


def test_a_section_has_its_breadcrumb(client, page):
    data = json_ld(head(client, "/treatments/biological/"))
    assert data["@type"] == "CollectionPage"
    assert data["breadcrumb"]["@type"] == "BreadcrumbList"
    assert [c["name"] for c in data["breadcrumb"]["itemListElement"]] == [
        "Home", "Treatments", "Biological <Therapies>",
    ]  # fmt: skip


def test_home_and_other_pages_have_no_json_ld(client, page):
    assert not head(client, "/").cssselect('script[type="application/ld+json"]')
    assert not head(client, "/about/").cssselect('script[type="application/ld+json"]')


# --- Canonical URLs and Open Graph ----------------------------------------------------------------


def test_pages_sections_and_home_name_their_canonical_url_and_open_graph(client, page):
    page_head = head(client, page.get_absolute_url() + "?voted=yes&utm_source=x")
    assert canonical(page_head) == "http://testserver/treatments/biological/il-2/"
    assert og(page_head) == {
        "og:title": "Interleukin 2 (Aldesleukin)",
        "og:description": "A cytokine used in melanoma & kidney cancer.",
        "og:url": "http://testserver/treatments/biological/il-2/",
        "og:type": "article",
        "og:site_name": "CancerIndex",
    }

    section_head = head(client, "/treatments/")
    assert canonical(section_head) == "http://testserver/treatments/"
    assert og(section_head)["og:title"] == "Treatments"
    assert og(section_head)["og:type"] == "website"
    assert og(section_head)["og:description"] == "Treatments: pages on CancerIndex."

    home_head = head(client, "/")
    assert canonical(home_head) == "http://testserver/"
    assert og(home_head)["og:title"] == "CancerIndex"
    assert og(home_head)["og:url"] == "http://testserver/"


def test_a_sections_intro_is_its_description_and_later_pages_keep_their_number(client, settings):
    section = SectionFactory(slug="drugs", title="Drugs", intro="<p>Medicines &amp; more.</p>")
    TreatmentPageFactory.create_batch(51, section=section)
    assert og(head(client, "/drugs/"))["og:description"] == "Medicines & more."
    assert canonical(head(client, "/drugs/?page=2")) == "http://testserver/drugs/?page=2"
    assert canonical(head(client, "/drugs/?page=1")) == "http://testserver/drugs/"


def test_the_canonical_url_follows_the_requests_host_and_scheme(client, page, settings):
    settings.ALLOWED_HOSTS = ["www.cancerindex.org"]
    response = client.get(page.get_absolute_url(), headers={"host": "www.cancerindex.org"}, secure=True)
    page_head = lxml.html.fromstring(response.content).find("head")
    assert canonical(page_head) == "https://www.cancerindex.org/treatments/biological/il-2/"
    assert json_ld(page_head)["url"] == canonical(page_head)


def test_a_missing_page_has_no_canonical_url(client):
    response = client.get("/nowhere/")
    assert response.status_code == 404
    assert not lxml.html.fromstring(response.content).cssselect('link[rel="canonical"]')


def test_the_page_is_the_same_bytes_for_every_anonymous_reader(client, page):
    PageListingFactory(page=page)
    first = client.get(page.get_absolute_url())
    second = client.get(page.get_absolute_url(), headers={"cookie": "ci_visitor=abc"})
    assert first.content == second.content


def test_without_a_request_the_tags_say_nothing():
    template = engines["jinja2"].from_string("{{ reader_head() is none }} [{{ structured_data() }}]")
    assert template.render({}) == "True []"


def test_another_views_context_is_not_taken_for_a_tree_node(page):
    """A page or section in some other view's context (a search's) is not what that URL shows."""
    request = RequestFactory().get("/about/")
    request.resolver_match = resolve("/about/")
    template = engines["jinja2"].from_string('{{ reader_head().og["og:title"] }} [{{ structured_data() }}]')
    rendered = template.render({"page": page, "section": page.section}, request=request)
    assert rendered == "CancerIndex []"
