"""Each entry's HTML and JSON-LD are built when its record changes, stored on the row, served as stored."""

import datetime
import json

import pytest
from django.template.loader import render_to_string

from publications.citation import entry_for_date, entry_html
from publications.markup import clean_inline
from publications.models import Publication
from tests.factories import PageListingFactory, PublicationFactory

TODAY = datetime.date(2026, 11, 25)


def page_html(client, listing):
    """The page's research list as served (the head's JSON-LD names the entries too, from the record)."""
    html = client.get(listing.page.get_absolute_url()).content.decode()
    return html[
        html.index('<ol class="publications">') : html.index("</ol>", html.index('<ol class="publications">'))
    ]


@pytest.mark.django_db
def test_saving_builds_the_entry_with_markup_kept_and_everything_else_escaped():
    publication = PublicationFactory(
        title='<script>alert("t")</script>IL-2 & CD8<sup>+</sup> <a href="x">cells</a>',
        abstract=[{"label": "<b>R</b>", "text": "<script>alert(1)</script><i>in vivo</i> 5 < 6"}],
        authors=[{"last_name": "<O'Brien>", "initials": "J"}],
        retraction_notices=["<img src=x onerror=y>"],
        is_retracted=True,
    )
    html = Publication.objects.get(pk=publication.pk).rendered_entry
    assert "<script" not in html and '<a href="x"' not in html and "<img" not in html
    assert "IL-2 &amp; CD8<sup>+</sup> cells" in html
    assert "<i>in vivo</i> 5 &lt; 6" in html
    assert '<span class="abstract-label">&lt;b&gt;R&lt;/b&gt;:</span>' in html
    assert "&lt;O&#x27;Brien&gt; J" in html
    assert "(&lt;img src=x onerror=y&gt;)" in html


@pytest.mark.django_db
def test_the_page_serves_the_stored_entries(client):
    listing = PageListingFactory(publication=PublicationFactory(title="Stored title."))
    Publication.objects.filter(pk=listing.publication_id).update(
        rendered_entry='<li class="publication"><h3 class="title">As stored.</h3></li>'
    )
    html = page_html(client, listing)
    assert "As stored." in html and "Stored title." not in html


@pytest.mark.django_db
def test_an_update_behind_the_models_back_rebuilds_the_entry_once(client, django_assert_num_queries):
    listing = PageListingFactory(publication=PublicationFactory(title="Old title."))
    Publication.objects.filter(pk=listing.publication_id).update(title="New <script>x</script>title.")
    assert Publication.objects.get(pk=listing.publication_id).rendered_entry == ""
    html = page_html(client, listing)
    assert "New title." in html and "<script" not in html
    stored = Publication.objects.get(pk=listing.publication_id).rendered_entry
    assert "New title." in stored


def page_citations(client, listing) -> list[dict]:
    """The ScholarlyArticles of the page's JSON-LD."""
    html = client.get(listing.page.get_absolute_url()).content.decode()
    start = html.index('<script type="application/ld+json">') + len('<script type="application/ld+json">')
    return json.loads(html[start : html.index("</script>", start)])["citation"]


@pytest.mark.django_db
def test_the_page_cites_each_entry_as_its_row_stores_it(client):
    listing = PageListingFactory(
        publication=PublicationFactory(title="Stored <i>title</i>.", journal_title="J")
    )
    stored = Publication.objects.get(pk=listing.publication_id).rendered_citation
    assert json.loads(stored)["name"] == "Stored title."  # built on save, markup as text
    Publication.objects.filter(pk=listing.publication_id).update(
        rendered_citation='{"@type":"ScholarlyArticle","name":"As stored."}'
    )
    assert [article["name"] for article in page_citations(client, listing)] == ["As stored."]


@pytest.mark.django_db
def test_an_update_behind_the_models_back_rebuilds_the_citation_once(client, django_assert_num_queries):
    listing = PageListingFactory(publication=PublicationFactory(title="Old title.", journal_title="Old J"))
    Publication.objects.filter(pk=listing.publication_id).update(journal_title="New </script> Journal")
    assert Publication.objects.get(pk=listing.publication_id).rendered_citation == ""
    (article,) = page_citations(client, listing)
    assert article["isPartOf"]["name"] == "New </script> Journal"  # escaped in the page, intact in the data
    assert "</script> Journal" not in Publication.objects.get(pk=listing.publication_id).rendered_citation
    assert json.loads(Publication.objects.get(pk=listing.publication_id).rendered_citation) == article


@pytest.mark.django_db
def test_the_admin_preview_and_the_page_show_the_same_entry():
    publication = PublicationFactory(in_pmc=True, pmcid="PMC1", pmc_release_date=TODAY)
    preview = render_to_string("publications/_entry.html", {"publication": publication, "as_of": TODAY})
    assert preview.strip() == Publication.objects.get(pk=publication.pk).rendered_entry.strip()


@pytest.mark.parametrize(
    ("release", "book", "label"),
    [
        (None, "", "Free Access to Full Article"),
        (TODAY, "", "Free Access to Full Article"),
        (TODAY + datetime.timedelta(days=1), "", "Article available free on PMC after 26/11/2026"),
        (TODAY + datetime.timedelta(days=1), "NBK1", "Free Access to Full Article"),
    ],
)
def test_only_an_embargo_changes_the_stored_entry_with_the_day(release, book, label):
    publication = Publication(pmid=1, title="T.", in_pmc=True, pmcid="PMC1", book_accession=book)
    html = entry_for_date(entry_html(publication), release_date=release, book_accession=book, as_of=TODAY)
    assert f">{label}</a>" in html


@pytest.mark.django_db
def test_an_embargoed_entry_on_the_page_reads_as_of_the_refresh(client):
    release = datetime.date.today() + datetime.timedelta(days=400)
    listing = PageListingFactory(
        publication=PublicationFactory(in_pmc=True, pmcid="PMC7", pmc_release_date=release)
    )
    assert f"Article available free on PMC after {release:%d/%m/%Y}" in page_html(client, listing)


def test_text_cleaned_before_is_cleaned_alike_again_and_unsafe_text_never_passes():
    """Storing cleans the parser's text again; a fragment seen cleaned lately is not run through the
    cleaner twice, and that can only skip text that is already clean."""
    unsafe = '<i onclick="x()">TERT</i> &amp; <script>alert(1)</script>p<sub>trend</sub> < 0.05'
    cleaned = clean_inline(unsafe)
    assert cleaned == "<i>TERT</i> &amp; p<sub>trend</sub> &lt; 0.05"
    assert clean_inline(cleaned) == cleaned
    assert clean_inline(unsafe) == cleaned  # the unsafe text itself is cleaned again
    row = Publication(title=unsafe, abstract=[{"text": unsafe}, {"text": cleaned}])
    row.normalize()
    assert row.title == cleaned and [s["text"] for s in row.abstract] == [cleaned, cleaned]
    assert "<script" not in row.rendered_entry and "onclick" not in row.rendered_entry
