"""Editors read a publication in the admin as readers see it, never as raw JSON, and cannot change it."""

import pytest
from lxml import html as lxml_html

from publications.models import Publication
from tests.factories import PublicationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def publication():
    return PublicationFactory(
        pmid=31171734,
        title="Back to the <i>Future</i>.",
        authors=[
            {"last_name": "Sullivan", "fore_name": "Ryan J", "initials": "RJ"},
            {"collective_name": "IL-2 Study Group"},
        ],
        abstract=[
            {"label": "BACKGROUND", "nlm_category": "BACKGROUND", "text": "IL-2 <sup>high</sup> dose."},
            {"label": "FINDINGS", "nlm_category": "RESULTS", "text": "Responses were durable."},
            {"text": "An unlabelled closing line."},
        ],
        dates={"received": "2019-01-02", "pubmed": "2019-06-05"},
        publication_types=["Journal Article", "Review"],
        is_retracted=True,
        retraction_notices=["Cancer Discov. 2020;10(3):1; PMID 32000001"],
        source_xml='<PubmedArticle><MedlineCitation Status="MEDLINE"/></PubmedArticle>',
    )


def change_page(client, publication):
    response = client.get(f"/admin/publications/publication/{publication.pk}/change/")
    assert response.status_code == 200
    return response.content.decode(), lxml_html.fromstring(response.content)


def field(doc, name) -> lxml_html.HtmlElement:
    return doc.cssselect(f".field-{name} .readonly")[0]


def test_the_entry_is_shown_as_the_page_renders_it(editor_client, publication):
    _, doc = change_page(editor_client, publication)
    entry = doc.cssselect(".field-as_listed li.publication")[0]
    assert entry.cssselect(".authors")[0].text_content() == "Sullivan RJ, IL-2 Study Group"
    assert entry.cssselect(".title i")[0].text == "Future"
    assert entry.cssselect(".source")[0].text_content() == publication.citation_line
    assert "Retracted publication" in entry.cssselect(".retraction-warning")[0].text_content()


def test_json_fields_are_readable(editor_client, publication):
    text, doc = change_page(editor_client, publication)
    authors = [li.text_content() for li in field(doc, "author_list").cssselect("ol li")]
    assert authors == ["Sullivan RJ (Ryan J Sullivan)", "IL-2 Study Group"]
    paragraphs = [p.text_content() for p in field(doc, "abstract_sections").cssselect("p")]
    assert paragraphs == [
        "BACKGROUND: IL-2 high dose.",
        "FINDINGS [RESULTS]: Responses were durable.",
        "An unlabelled closing line.",
    ]
    assert field(doc, "abstract_sections").cssselect("sup")[0].text == "high"
    rows = [(tr[0].text, tr[1].text) for tr in field(doc, "date_table").cssselect("tr")]
    assert rows == [("received", "2019-01-02"), ("pubmed", "2019-06-05")]
    assert field(doc, "publication_type_list").text_content() == "Journal Article; Review"
    notices = field(doc, "retraction_notice_list").cssselect("ul li")
    assert [li.text for li in notices] == ["Cancer Discov. 2020;10(3):1; PMID 32000001"]
    for json_mark in ['[{"', '{"', '["', "[{&quot;", "{&quot;", "[&quot;"]:
        assert json_mark not in text, json_mark


def test_the_source_xml_is_there_but_collapsed_and_escaped(editor_client, publication):
    _, doc = change_page(editor_client, publication)
    row = doc.cssselect(".field-source_record")[0]
    assert "collapse" in row.xpath("ancestor::fieldset")[0].get("class")
    assert row.xpath("ancestor::details") and not row.xpath("ancestor::details[@open]")
    assert field(doc, "source_record").cssselect("pre")[0].text == publication.source_xml
    assert not doc.cssselect("pubmedarticle")


def test_empty_json_fields_show_the_admins_dash(editor_client):
    bare = PublicationFactory(authors=[], abstract=[], dates={}, publication_types=[], retraction_notices=[])
    _, doc = change_page(editor_client, bare)
    for name in ["author_list", "abstract_sections", "date_table", "publication_type_list"]:
        assert field(doc, name).text_content().strip() == "-", name
    assert field(doc, "retraction_notice_list").text_content().strip() == "-"


def test_markup_and_text_from_pubmed_are_escaped(editor_client):
    hostile = PublicationFactory(
        title="Safe <script>alert(1)</script>title",
        authors=[{"collective_name": "<b onclick=x>Group</b>"}],
        abstract=[{"label": "<img src=x onerror=alert(1)>", "text": "ok"}],
        publication_types=["<script>t()</script>"],
        dates={"<i>pubmed</i>": "2019"},
        retraction_notices=["<script>n()</script>"],
    )
    text, _ = change_page(editor_client, hostile)
    assert "<script>" not in text.split('id="content-main"')[1].split("</form>")[0]
    assert "<img src=x" not in text and "<b onclick" not in text


def test_the_admin_stays_add_less_and_read_only(editor_client, admin_client, publication):
    url = f"/admin/publications/publication/{publication.pk}/change/"
    for client in [editor_client, admin_client]:
        assert client.get("/admin/publications/publication/add/").status_code == 403
        text, _ = change_page(client, publication)
        assert 'name="_save"' not in text and 'name="_continue"' not in text
        assert client.post(url, {"title": "Changed by hand."}).status_code == 403
    publication.refresh_from_db()
    assert publication.title == "Back to the <i>Future</i>."
    assert Publication.objects.count() == 1


def test_the_list_still_finds_and_links_publications(editor_client, publication):
    response = editor_client.get("/admin/publications/publication/", {"q": "Sullivan"})
    assert f"/admin/publications/publication/{publication.pk}/change/" in response.content.decode()
