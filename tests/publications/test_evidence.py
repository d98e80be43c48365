"""Evidence at a glance in each research-list entry, and the list's filters, counts and chart."""

import datetime
import importlib
from pathlib import Path

import lxml.html
import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from publications.citation import (
    entry_html,
    evidence,
    is_corrected,
    link_line,
    link_trials,
    link_words,
    publication_date,
)
from publications.models import Publication
from publications.pubmed.parser import parse_efetch
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory
from treatments import cache
from treatments.evidence import chosen_filter, publication_types, year_bars

EFETCH = Path(__file__).resolve().parent.parent / "fixtures" / "pubmed" / "efetch"


def record(name):
    (parsed,) = parse_efetch((EFETCH / name).read_bytes()).records
    return parsed


def entry(publication) -> lxml.html.HtmlElement:
    return lxml.html.fragment_fromstring(entry_html(publication))


def text(element) -> str:
    return " ".join(element.text_content().split())


# The record: every link PubMed records between papers, and the full date


def test_an_erratum_link_and_the_full_date_come_from_the_record():
    parsed = record("metapub-35649368.xml")
    assert parsed.comments_corrections == [
        {
            "type": "ErratumIn",
            "pmid": 35767954,
            "source": "Cell Rep. 2022 Jun 28;39(13):111044. doi: 10.1016/j.celrep.2022.111044.",
        }
    ]
    assert (parsed.pub_year, parsed.pub_month, parsed.pub_day) == ("2022", "May", "31")


def test_a_link_without_a_pmid_is_kept_and_the_reference_list_is_not():
    parsed = record("metapub-25364329.xml")
    assert [(link["type"], link["pmid"]) for link in parsed.comments_corrections] == [("CommentIn", None)]
    assert all(link["type"] != "Cites" for link in record("metapub-34529508.xml").comments_corrections)


def test_the_links_are_stored_on_the_publication():
    publication = Publication.from_record(record("metapub-36156117.xml"))
    assert publication.comments_corrections[0]["type"] == "UpdateOf"
    assert publication.pub_day == "13"


# Badges from the publication types


@pytest.mark.parametrize(
    ("types", "badges"),
    [
        (["Journal Article", "Review"], ["Review"]),
        (["Review", "Systematic Review", "Meta-Analysis"], ["Meta-analysis", "Systematic review"]),
        (["Randomized Controlled Trial", "Clinical Trial, Phase III"],
         ["Randomized controlled trial", "Clinical trial, phase III"]),
        (["Clinical Trial, Phase I", "Clinical Trial, Phase II"], ["Clinical trial, phase I/II"]),
        (["Clinical Trial"], ["Clinical trial"]),
        (["Practice Guideline"], ["Guideline"]),
        (["Guideline", "Review"], ["Guideline", "Review"]),
        (["Journal Article", "Case Reports"], []),
        ([], []),
    ],
)  # fmt: skip
def test_publication_types_become_badges(types, badges):
    assert [label for _, label in evidence(types)] == badges


def test_badges_are_listed_in_the_entry():
    publication = PublicationFactory.build(publication_types=["Meta-Analysis", "Systematic Review", "Review"])
    badges = entry(publication).cssselect("ul.evidence li.badge")
    assert [text(badge) for badge in badges] == ["Meta-analysis", "Systematic review"]
    assert entry(publication).cssselect("ul.evidence")[0].get("aria-label") == "Type of study"
    assert not entry(PublicationFactory.build(publication_types=["Journal Article"])).cssselect(".evidence")


# Links between papers, worded as PubMed shows them


@pytest.mark.parametrize(
    ("ref_type", "words"),
    [
        ("RetractionIn", "Retraction in"), ("RetractionOf", "Retraction of"), ("ErratumIn", "Erratum in"),
        ("ErratumFor", "Erratum for"), ("CommentIn", "Comment in"), ("CommentOn", "Comment on"),
        ("UpdateIn", "Update in"), ("UpdateOf", "Update of"),
        ("ExpressionOfConcernIn", "Expression of concern in"),
        ("ExpressionOfConcernFor", "Expression of concern for"), ("RepublishedIn", "Republished in"),
        ("RepublishedFrom", "Republished from"), ("ReprintIn", "Reprint in"), ("ReprintOf", "Reprint of"),
        ("CorrectedandRepublishedIn", "Corrected and republished in"),
        ("CorrectedandRepublishedFrom", "Corrected and republished from"),
        ("SomethingNewIn", "Something new in"),
    ],
)  # fmt: skip
def test_link_types_are_worded_as_pubmed_shows_them(ref_type, words):
    assert link_words(ref_type) == words


def test_every_link_is_shown_and_linked_to_pubmed_by_pmid():
    publication = Publication.from_record(record("metapub-34529508.xml"))
    (item,) = entry(publication).cssselect("ul.comments-corrections li")
    assert text(item) == (
        "Comment on: Am J Public Health. 2021 Oct;111(10):1815-1823. doi: 10.2105/AJPH.2021.306412."
    )
    assert item.cssselect("a")[0].get("href") == "https://pubmed.ncbi.nlm.nih.gov/34473563/"


def test_a_link_without_a_pmid_is_shown_as_text():
    publication = Publication.from_record(record("metapub-25364329.xml"))
    (item,) = entry(publication).cssselect("ul.comments-corrections li")
    assert text(item).startswith("Comment in: Commentary on:")
    assert not item.cssselect("a")


def test_a_link_line_for_editors():
    assert link_line({"type": "ErratumIn", "pmid": 5, "source": "J. 2020"}) == "Erratum in: J. 2020 PMID: 5"
    assert link_line({"type": "CommentOn", "pmid": None, "source": "J. 2020"}) == "Comment on: J. 2020"


# Warnings: corrected and retracted papers


def test_a_corrected_paper_carries_a_warning_linking_the_erratum():
    publication = Publication.from_record(record("metapub-35649368.xml"))
    li = entry(publication)
    assert "corrected" in li.get("class").split()
    warning = li.cssselect(".correction-warning")[0]
    assert warning.get("role") == "note"
    assert text(warning).startswith("Corrected publication: a correction to this article has been published")
    assert "Erratum in: Cell Rep. 2022 Jun 28" in text(warning)
    assert warning.cssselect("a")[0].get("href") == "https://pubmed.ncbi.nlm.nih.gov/35767954/"


def test_corrected_and_republished_counts_as_corrected():
    assert is_corrected([{"type": "CorrectedandRepublishedIn", "pmid": 1, "source": "x"}])
    assert is_corrected([], ["Journal Article", "Corrected and Republished Article"])
    assert not is_corrected([{"type": "CommentIn", "pmid": 1, "source": "x"}], ["Journal Article"])


def test_the_retraction_warning_links_its_notice():
    publication = PublicationFactory.build(
        is_retracted=True,
        retraction_notices=["Nature. 2020;580:1 PMID: 41000099", "A notice without a PMID"],
        comments_corrections=[{"type": "RetractionIn", "pmid": 41000099, "source": "Nature. 2020;580:1"}],
    )
    li = entry(publication)
    warning = li.cssselect(".retraction-warning")[0]
    assert text(warning) == (
        "Retracted publication: this article has been retracted (Nature. 2020;580:1 PMID: 41000099; "
        "A notice without a PMID). Do not rely on its findings."
    )
    assert [a.get("href") for a in warning.cssselect("a")] == ["https://pubmed.ncbi.nlm.nih.gov/41000099/"]
    assert text(li.cssselect(".comments-corrections li")[0]) == "Retraction in: Nature. 2020;580:1"


# Identifiers, dates, abstracts, trials, citation exports


def test_identifiers_link_pubmed_doi_and_pmc():
    publication = PublicationFactory.build(
        pmid=31000001, doi="10.1016/j.celrep.2022.110870", pmcid="PMC6391543", in_pmc=True,
        pub_year="2022", pub_month="May", pub_day="31",
    )  # fmt: skip
    identifiers = entry(publication).cssselect("p.identifiers")[0]
    assert text(identifiers) == (
        "Published 31 May 2022 · PMID: 31000001 · DOI: 10.1016/j.celrep.2022.110870 · PMCID: PMC6391543"
    )
    assert [a.get("href") for a in identifiers.cssselect("a")] == [
        "https://pubmed.ncbi.nlm.nih.gov/31000001/",
        "https://doi.org/10.1016/j.celrep.2022.110870",
        "https://pmc.ncbi.nlm.nih.gov/articles/PMC6391543/",
    ]
    assert identifiers.cssselect("time")[0].get("datetime") == "2022-05-31"


def test_an_entry_without_identifiers_or_date_has_no_identifier_line():
    publication = PublicationFactory.build(pmid=None, doi="", pmcid="", pub_month="")
    li = entry(publication)
    assert not li.cssselect(".identifiers")
    assert not li.cssselect(".cite-as")


@pytest.mark.parametrize(
    ("year", "month", "day", "dates", "expected"),
    [
        ("2022", "May", "31", {}, (datetime.date(2022, 5, 31), "Published")),
        ("2021", "Oct", "", {"electronic": "2021-09-16"}, (datetime.date(2021, 9, 16), "Epub")),
        ("2021", "Oct", "", {}, None),
        ("2021", "Feb", "30", {"electronic": "not a date"}, None),
        ("2021", "", "", None, None),
    ],
)
def test_publication_date(year, month, day, dates, expected):
    assert publication_date(year, month, day, dates) == expected


def test_an_epub_date_is_shown_when_the_issue_has_no_day():
    publication = PublicationFactory.build(pub_month="Oct", dates={"electronic": "2021-09-16"}, pmid=None)
    assert text(entry(publication).cssselect(".identifiers")[0]) == "Epub 16 September 2021"


def test_the_abstract_collapses_and_links_trial_ids():
    publication = PublicationFactory.build(
        abstract=[
            {"label": "METHODS", "text": "Registered as NCT01266603 (see https://example.org/" + "x" * 80}
        ]
    )
    details = entry(publication).cssselect("details.abstract")[0]
    assert text(details.cssselect("summary")[0]) == "Abstract"
    (link,) = details.cssselect("p a")
    assert (link.text, link.get("href")) == ("NCT01266603", "https://clinicaltrials.gov/study/NCT01266603")
    assert details.cssselect("p")[0].text_content().startswith("METHODS: Registered as NCT01266603 (see")


def test_trial_ids_are_whole_words_only():
    assert link_trials("xNCT012666031 and NCT0126660") == "xNCT012666031 and NCT0126660"


def test_each_entry_with_a_pmid_offers_its_citation_exports():
    cite = entry(PublicationFactory.build(pmid=30914426)).cssselect("p.cite-as")[0]
    assert text(cite) == "Cite: RIS · BibTeX · MEDLINE · CSL-JSON"
    assert [(a.get("href"), a.get("rel")) for a in cite.cssselect("a")] == [
        ("/cite/30914426.ris", "nofollow"),
        ("/cite/30914426.bib", "nofollow"),
        ("/cite/30914426.nbib", "nofollow"),
        ("/cite/30914426.json", "nofollow"),
    ]


# The page: counts, the chart, the filters


def listed_page(**page_fields):
    page = TreatmentPageFactory(publications_shown=30, **page_fields)
    kinds = [
        dict(publication_types=["Journal Article", "Review"], pub_year="2024"),
        dict(publication_types=["Randomized Controlled Trial"], pub_year="2024", in_pmc=True, pmcid="PMC1"),
        dict(publication_types=["Journal Article"], pub_year="2021", book_accession="NBK1403"),
        dict(publication_types=["Journal Article"], pub_year="2021", in_pmc=True, pmcid="PMC2",
             pmc_release_date=datetime.date(2999, 1, 1)),
    ]  # fmt: skip
    for position, fields in enumerate(kinds):
        PageListingFactory(page=page, position=position, publication=PublicationFactory(**fields))
    return page


def page_doc(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return lxml.html.fromstring(response.content.decode())


@pytest.mark.django_db
def test_the_list_says_how_many_and_when_refreshed(client):
    page = listed_page(list_refreshed_at=timezone.make_aware(datetime.datetime(2026, 11, 25, 12)))
    doc = page_doc(client, page.get_absolute_url())
    assert text(doc.cssselect(".list-summary")[0]) == "4 publications, last refreshed 25 November 2026"
    assert len(doc.cssselect("li.publication")) == 4


@pytest.mark.django_db
def test_the_chart_counts_publications_per_year_with_a_text_alternative(client):
    doc = page_doc(client, listed_page().get_absolute_url())
    svg = doc.cssselect(".year-chart svg")[0]
    assert svg.get("role") == "img"
    assert text(svg.cssselect("title")[0]) == "Listed publications per year"
    assert text(svg.cssselect("desc")[0]) == "2021: 2; 2022: 0; 2023: 0; 2024: 2"
    assert len(svg.cssselect("rect.bar")) == 4
    rows = doc.cssselect(".year-chart table tbody tr")
    assert [(text(row[0]), text(row[1])) for row in rows] == [
        ("2021", "2"), ("2022", "0"), ("2023", "0"), ("2024", "2")
    ]  # fmt: skip
    assert not doc.cssselect('script:not([type="application/ld+json"])')


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("only", "titles_from", "summary"),
    [
        ("reviews", [0], "1 of 4 publications (reviews only)"),
        ("trials", [1], "1 of 4 publications (trials only)"),
        ("free", [1, 2], "2 of 4 publications (free full text only)"),
        ("nonsense", [0, 1, 2, 3], "4 publications"),
        ("", [0, 1, 2, 3], "4 publications"),
    ],
)
def test_filters_show_the_chosen_entries_without_javascript(client, only, titles_from, summary):
    page = listed_page()
    titles = list(page.listings.order_by("position").values_list("publication__title", flat=True))
    doc = page_doc(client, f"{page.get_absolute_url()}?only={only}")
    assert [text(h) for h in doc.cssselect("li.publication .title")] == [titles[i] for i in titles_from]
    assert text(doc.cssselect(".list-summary")[0]) == summary
    links = {text(a): a for a in doc.cssselect(".list-filters a")}
    assert set(links) == {"All (4)", "Reviews (1)", "Trials (1)", "Free full text (2)"}
    assert links["Reviews (1)"].get("href") == "?only=reviews#latest-research"
    current = [text(a) for a in doc.cssselect(".list-filters a[aria-current]")]
    assert current == [
        {"reviews": "Reviews (1)", "trials": "Trials (1)", "free": "Free full text (2)"}.get(only, "All (4)")
    ]
    # the chart always describes the whole list
    assert len(doc.cssselect(".year-chart table tbody tr")) == 4


@pytest.mark.django_db
def test_a_filter_with_nothing_to_show_says_so_and_links_back(client):
    page = TreatmentPageFactory()
    PageListingFactory(page=page, publication=PublicationFactory(publication_types=["Journal Article"]))
    doc = page_doc(client, f"{page.get_absolute_url()}?only=reviews")
    assert not doc.cssselect("li.publication")
    assert text(doc.cssselect(".list-empty")[0]) == (
        "None of the listed publications is of this kind. Show all 1."
    )


@pytest.mark.django_db
def test_a_page_without_publications_shows_no_chart_or_filters(client):
    doc = page_doc(client, TreatmentPageFactory().get_absolute_url())
    assert not doc.cssselect(".year-chart, .list-filters, .list-summary")
    assert "No publications listed yet." in text(doc)
    doc = page_doc(client, TreatmentPageFactory(publications_shown=0).get_absolute_url() + "?only=free")
    assert "No publications listed yet." in text(doc)


@pytest.mark.django_db
@pytest.mark.parametrize("only", ["", "reviews", "free"])
def test_filtered_lists_keep_the_query_count(client, django_assert_num_queries, only):
    page = listed_page()
    with django_assert_num_queries(3):
        assert client.get(f"{page.get_absolute_url()}?only={only}").status_code == 200


@pytest.mark.django_db
def test_the_cache_keeps_filtered_views_apart(client, settings):
    settings.PAGE_CACHE_ENABLED = True
    assert cache.QUERY_VALUES["only"]("reviews") and not cache.QUERY_VALUES["only"]("everything")
    page = listed_page()
    for _ in range(2):  # the second answers from the cache
        reviews = page_doc(client, f"{page.get_absolute_url()}?only=reviews")
        everything = page_doc(client, page.get_absolute_url())
        assert len(reviews.cssselect("li.publication")) == 1
        assert len(everything.cssselect("li.publication")) == 4


def test_filter_values_are_checked():
    assert chosen_filter("reviews") == "reviews"
    assert chosen_filter("REVIEWS") == ""
    assert chosen_filter(None) == ""


def test_publication_types_are_a_list_of_names_or_nothing():
    """The list query reads the JSON column's text; anything but a list of names (a hand-edited row)
    shows no type, and never fails the page."""
    assert publication_types('["Review", "Clinical Trial, Phase II"]') == (
        "Review",
        "Clinical Trial, Phase II",
    )
    assert publication_types('{"a": 1}') == ()
    assert publication_types('["Review", 3]') == ()
    assert publication_types("not json") == ()
    assert publication_types(None) == publication_types("") == ()


def test_the_chart_spans_at_most_twenty_years_and_gathers_the_rest():
    bars = year_bars(["1990", "1991", *[str(year) for year in range(2005, 2025)], "", "n.d."])
    assert [bar.label for bar in bars][:2] == ["earlier", "2005"]
    assert bars[0].count == 2
    assert len(bars) == 21
    assert year_bars(["", "in press"]) == []


# Stored entries are rebuilt with the new parts


@pytest.mark.django_db
def test_the_migration_clears_stored_entries_so_they_are_built_again(client):
    listing = PageListingFactory(publication=PublicationFactory(publication_types=["Review"]))
    Publication.objects.filter(pk=listing.publication_id).update(rendered_entry="<li>old</li>")
    migration = importlib.import_module("publications.migrations.0011_comments_corrections")
    migration.clear_entries(django_apps, None)
    assert Publication.objects.get(pk=listing.publication_id).rendered_entry == ""
    doc = page_doc(client, listing.page.get_absolute_url())
    assert text(doc.cssselect("li.publication .badge")[0]) == "Review"
    assert "badge-review" in Publication.objects.get(pk=listing.publication_id).rendered_entry


@pytest.mark.django_db
def test_the_migration_reads_stored_records_again_for_their_linked_papers():
    """Rows stored before the new columns get them from their own XML, not at the next re-fetch."""
    stored = Publication.from_record(record("metapub-35649368.xml"))
    stored.save()
    broken = PublicationFactory(source_xml="<PubmedArticle>not a record")
    Publication.objects.filter(pk=stored.pk).update(comments_corrections=[], pub_day="")
    migration = importlib.import_module("publications.migrations.0011_comments_corrections")
    migration.read_stored_records(django_apps, None)
    refilled = Publication.objects.get(pk=stored.pk)
    assert refilled.comments_corrections == record("metapub-35649368.xml").comments_corrections
    assert any(link["type"] == "ErratumIn" for link in refilled.comments_corrections)
    assert Publication.objects.get(pk=broken.pk).comments_corrections == []  # refused: kept, not fatal


@pytest.mark.django_db
def test_the_admin_lists_the_links_in_words(admin_client):
    publication = Publication.from_record(record("metapub-35649368.xml"))
    publication.save()
    response = admin_client.get(f"/admin/publications/publication/{publication.pk}/change/")
    assert "Erratum in: Cell Rep. 2022 Jun 28;39(13):111044." in response.content.decode()
