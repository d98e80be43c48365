"""The PubMed parser against real NCBI responses and against hand-built edge cases.

Every efetch fixture is checked against the raw file read independently (xml.etree, not lxml),
so a parser bug cannot hide in both the code and its expectations.
"""

import calendar
import datetime
import http.server
import re
import resource
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from publications.markup import clean_inline, inline_text
from publications.pubmed import (
    EutilsError,
    MalformedResponse,
    PubmedParseError,
    ResponseTooLarge,
    make_client,
    parse_efetch,
    parse_esearch,
)
from publications.pubmed.parser import parse_article_xml
from publications.pubmed.records import AbstractSection, Author

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pubmed"
EFETCH_FILES = sorted((FIXTURES / "efetch").glob("*.xml"))
DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)


def efetch_fixture(name: str) -> bytes:
    return (FIXTURES / "efetch" / name).read_bytes()


def article_counts_from_sources() -> dict[str, int]:
    """file name -> article count, from the "What each efetch file exercises" table in SOURCES.md."""
    table = (FIXTURES / "SOURCES.md").read_text().split("## What each efetch file exercises")[1]
    rows = re.findall(r"^\| efetch/(\S+\.xml) \| (\d+) \|", table, flags=re.MULTILINE)
    return {name: int(count) for name, count in rows}


ARTICLE_COUNTS = article_counts_from_sources()


# Every fixture file, against SOURCES.md and against the raw XML


def test_sources_table_lists_exactly_the_efetch_fixtures():
    assert sorted(ARTICLE_COUNTS) == [path.name for path in EFETCH_FILES]


@pytest.mark.parametrize("path", EFETCH_FILES, ids=lambda path: path.name)
def test_fixture_article_count_and_no_problems(path):
    result = parse_efetch(path.read_bytes())
    assert len(result.records) == ARTICLE_COUNTS[path.name]
    assert result.problems == []
    assert result.deleted_pmids == []


@pytest.mark.parametrize("path", EFETCH_FILES, ids=lambda path: path.name)
def test_fixture_fields_match_the_raw_xml(path):
    records = parse_efetch(path.read_bytes()).records
    assert [fields_of_record(record) for record in records] == expected_fields_from_raw_xml(path)


@pytest.mark.parametrize("path", EFETCH_FILES, ids=lambda path: path.name)
def test_source_xml_round_trips_to_the_same_record(path):
    for record in parse_efetch(path.read_bytes()).records:
        assert parse_article_xml(record.source_xml) == record


@pytest.mark.parametrize("path", EFETCH_FILES, ids=lambda path: path.name)
def test_markup_is_already_clean(path):
    """The models clean again on save; that must change nothing."""
    for record in parse_efetch(path.read_bytes()).records:
        for html in [record.title, *(section.text for section in record.abstract)]:
            assert clean_inline(html) == html


def fields_of_record(record) -> dict:
    return {
        "pmid": record.pmid,
        "kind": record.kind,
        "title": squash(inline_text(record.title)),
        "journal_iso": record.journal_iso,
        "volume": record.volume,
        "issue": record.issue,
        "pages": record.pages,
        "pub_year": record.pub_year,
        "pub_month": record.pub_month,
        "pub_season": record.pub_season,
        "authors": len(record.authors),
        "collective_names": [author.collective_name for author in record.authors if author.collective_name],
        "abstract_labels": [(section.label, section.nlm_category) for section in record.abstract],
        "abstract_text": [no_space(inline_text(section.text)) for section in record.abstract],
        "publication_types": record.publication_types,
        "language": record.language,
        "pmcid": record.pmcid,
        "doi": record.doi,
        "history": {status: date for status, date in record.dates.items() if status in HISTORY_STATUSES},
        "pmc_release_date": record.pmc_release_date,
    }


HISTORY_STATUSES = {"received", "revised", "accepted", "pmc-release", "pubmed", "medline", "entrez"}


def expected_fields_from_raw_xml(path: Path) -> list[dict]:
    expected = []
    for element in ET.parse(path).getroot():
        if element.tag == "PubmedArticle":
            expected.append(expected_article(element))
        elif element.tag == "PubmedBookArticle":
            expected.append(expected_book(element))
    return expected


def expected_article(element: ET.Element) -> dict:
    article = element.find("MedlineCitation/Article")
    own_ids = element.findall("PubmedData/ArticleIdList/ArticleId")
    ids = {i.get("IdType"): i.text.strip() for i in reversed(own_ids)}  # the first of each IdType
    elocation_doi = article.findtext("ELocationID[@EIdType='doi']", "").strip()
    pub_date = article.find("Journal/JournalIssue/PubDate")
    return {
        "pmid": int(element.findtext("MedlineCitation/PMID")),
        "kind": "article",
        "title": squash(all_text(article.find("ArticleTitle"))),
        "journal_iso": article.findtext("Journal/ISOAbbreviation", ""),
        "volume": article.findtext("Journal/JournalIssue/Volume", ""),
        "issue": article.findtext("Journal/JournalIssue/Issue", ""),
        "pages": article.findtext("Pagination/MedlinePgn", ""),
        **expected_pub_date(pub_date),
        **expected_authors(article.findall("AuthorList/Author")),
        **expected_abstract(article.findall("Abstract/AbstractText")),
        "publication_types": [pt.text for pt in article.findall("PublicationTypeList/PublicationType")],
        "language": article.findtext("Language", ""),
        "pmcid": ids.get("pmc", ""),
        "doi": ids.get("doi", elocation_doi),
        **expected_history(element.findall("PubmedData/History/PubMedPubDate")),
    }


def expected_book(element: ET.Element) -> dict:
    document = element.find("BookDocument")
    own_ids = [*document.findall("ArticleIdList/*"), *element.findall("PubmedBookData/ArticleIdList/*")]
    ids = {i.get("IdType"): i.text.strip() for i in reversed(own_ids)}
    return {
        "pmid": int(document.findtext("PMID")),
        "kind": "book",
        "title": squash(all_text(document.find("ArticleTitle") or document.find("Book/BookTitle"))),
        "journal_iso": squash(all_text(document.find("Book/BookTitle"))),
        "volume": document.findtext("Book/Volume", ""),
        "issue": "",
        "pages": document.findtext("Pagination/MedlinePgn", ""),
        **expected_pub_date(document.find("Book/PubDate")),
        **expected_authors(document.findall("AuthorList[@Type='authors']/Author")),
        **expected_abstract(document.findall("Abstract/AbstractText")),
        "publication_types": [pt.text for pt in document.findall("PublicationType")],
        "language": document.findtext("Language", ""),
        "pmcid": ids.get("pmc", ""),
        "doi": ids.get("doi", ""),
        **expected_history(element.findall("PubmedBookData/History/PubMedPubDate")),
    }


def expected_pub_date(pub_date: ET.Element) -> dict:
    month = pub_date.findtext("Month", "")
    return {
        "pub_year": pub_date.findtext("Year", ""),
        "pub_month": calendar.month_abbr[int(month)] if month.isdigit() else month,
        "pub_season": pub_date.findtext("Season", ""),
    }


def expected_authors(authors: list[ET.Element]) -> dict:
    valid = [author for author in authors if author.get("ValidYN") != "N"]
    return {
        "authors": len(valid),
        "collective_names": [a.findtext("CollectiveName") for a in valid if a.findtext("CollectiveName")],
    }


def expected_abstract(texts: list[ET.Element]) -> dict:
    non_empty = [text for text in texts if all_text(text).strip()]
    return {
        "abstract_labels": [(text.get("Label", ""), text.get("NlmCategory", "")) for text in non_empty],
        "abstract_text": [no_space(all_text(text)) for text in non_empty],
    }


def expected_history(pub_dates: list[ET.Element]) -> dict:
    history = {}
    for pub_date in pub_dates:
        ymd = (int(pub_date.findtext(part)) for part in ("Year", "Month", "Day"))
        history.setdefault(pub_date.get("PubStatus"), "{:04d}-{:02d}-{:02d}".format(*ymd))
    release = history.get("pmc-release")
    return {"history": history, "pmc_release_date": datetime.date.fromisoformat(release) if release else None}


MATHML = "{http://www.w3.org/1998/Math/MathML}"


def all_text(element: ET.Element | None) -> str:
    """The text in reading order: a MathML base's prescripts come before it ("3He"), as the page shows."""
    if element is None:
        return ""
    children = list(element)
    tags = [child.tag for child in children]
    if element.tag == f"{MATHML}mmultiscripts" and f"{MATHML}mprescripts" in tags:
        at = tags.index(f"{MATHML}mprescripts")
        return "".join(all_text(child) for child in children[at + 1 :] + children[:at])  # the rest is layout
    return (element.text or "") + "".join(all_text(child) + (child.tail or "") for child in children)


def squash(text: str) -> str:
    return " ".join(text.split())


def no_space(text: str) -> str:
    """Text without any whitespace: MathML's layout whitespace is not content."""
    return "".join(text.split())


# Exact values for particular fixtures


def test_structured_abstract_with_inline_markup_and_pmc_release():
    [record] = parse_efetch(efetch_fixture("biopython-pubmed4.xml")).records
    assert record.pmid == 27797938
    assert record.title == (
        "Leucocyte telomere length, genetic variants at the <i>TERT</i> gene region"
        " and risk of pancreatic cancer."
    )
    assert [section.label for section in record.abstract] == ["OBJECTIVE", "DESIGN", "RESULTS", "CONCLUSIONS"]
    results = record.abstract[2].text
    assert "OR 1.72; 95% CI 1.07 to 2.78; p<sub>trend</sub>=0.048)" in results
    assert "Three SNPs at <i>TERT</i> (linkage disequilibrium r<sup>2</sup>&lt;0.25)" in results
    assert (record.journal_iso, record.journal_title) == ("Gut", "Gut")
    assert (record.pub_year, record.pub_month, record.pub_day) == ("2017", "Jun", "")  # <Month>06</Month>
    assert (record.volume, record.issue, record.pages) == ("66", "6", "1116-1122")
    assert record.elocation_ids == [("doi", "10.1136/gutjnl-2016-312510")]
    assert record.doi == "10.1136/gutjnl-2016-312510"
    assert record.pmcid == "PMC5442267"
    assert record.pmc_release_date == datetime.date(2018, 6, 1)
    assert record.dates == {
        "received": "2016-06-27",
        "revised": "2016-08-22",
        "accepted": "2016-10-01",
        "pmc-release": "2018-06-01",
        "pubmed": "2016-11-01",
        "medline": "2017-08-05",
        "entrez": "2016-11-01",
        "completed": "2017-08-03",
        "revised_record": "2018-04-17",
        "electronic": "2016-10-21",
    }
    assert len(record.authors) == 22
    assert record.authors[0] == Author(last_name="Bao", fore_name="Ying", initials="Y")
    assert record.language == "eng"
    assert not record.is_retracted


def test_collective_author():
    [record] = parse_efetch(efetch_fixture("biopython-pubmed7.xml")).records
    assert record.pmid == 29963580
    assert len(record.authors) == 9
    assert record.authors[-1] == Author(collective_name="Canadian Respiratory Research Network")
    assert record.authors[0] == Author(last_name="Guo", fore_name="Fumin", initials="F")
    assert (record.volume, record.issue, record.pages) == ("5", "2", "026002")
    assert record.pmcid == "PMC6022861"
    assert record.pmc_release_date == datetime.date(2019, 6, 28)


def test_season_and_article_without_doi():
    first, second = parse_efetch(efetch_fixture("biopython-pubmed1.xml")).records
    assert first.pmid == 12091962
    assert (first.pub_year, first.pub_month, first.pub_season) == ("1990", "", "Spring")
    assert first.medline_date == ""
    assert (first.volume, first.issue, first.pages) == ("17", "1", "113-25")
    assert (first.doi, first.pmcid, first.abstract) == ("", "", [])
    assert first.journal_title == "Social justice (San Francisco, Calif.)"
    assert second.pmid == 9997
    assert (second.pub_year, second.pub_month, second.pub_day) == ("1976", "Sep", "28")
    assert second.doi == "10.1016/0005-2795(76)90109-4"


def test_mathml_in_abstract_is_reduced_to_its_text_and_scripts():
    [record] = parse_efetch(efetch_fixture("biopython-pubmed6.xml")).records
    text = record.abstract[0].text
    assert (
        "maximal oxygen uptake ( V.O<sub>2max</sub> ) 67.6 ± 4.1 ml·kg<sup>-1</sup>·min<sup>-1</sup>]" in text
    )
    assert "mml" not in text


def test_book_article():
    [record] = parse_efetch(efetch_fixture("metapub-book-20301577.xml")).records
    assert record.kind == "book"
    assert record.pmid == 20301577
    assert record.title == "<i>CACNA1C</i>-Related Disorders"
    assert record.journal_iso == "GeneReviews®"
    assert record.authors == [
        Author(last_name="Napolitano", fore_name="Carlo", initials="C"),
        Author(last_name="Priori", fore_name="Silvia G", initials="SG"),
    ]  # the editors (Adam, Feldman, ...) are not authors
    assert record.pub_year == "1993"
    assert [section.label for section in record.abstract] == [
        "CLINICAL CHARACTERISTICS",
        "DIAGNOSIS/TESTING",
        "MANAGEMENT",
        "GENETIC COUNSELING",
    ]
    assert "(rate-corrected QT [QTc] interval &gt;480 ms)" in record.abstract[0].text
    assert record.book_accession == "NBK1403"
    assert record.pmcid == ""
    assert record.publication_types == ["Review"]
    assert record.dates["entrez"] == "2024-12-19"


def test_nlm_category_is_kept():
    [record] = parse_efetch(efetch_fixture("metapub-sample-23435529.xml")).records
    assert [(section.label, section.nlm_category) for section in record.abstract] == [
        ("PURPOSE", "OBJECTIVE"),
        ("PATIENTS AND METHODS", "METHODS"),
        ("RESULTS", "RESULTS"),
        ("CONCLUSION", "CONCLUSIONS"),
    ]
    assert record.journal_iso == "J. Clin. Oncol."  # an older record: the abbreviation has full stops


def test_first_of_several_languages_and_vernacular_title_ignored():
    [record] = parse_efetch(efetch_fixture("metapub-36987902.xml")).records  # <Language>eng, then nor
    assert record.language == "eng"
    assert record.title.startswith("Patients over 75 years admitted to the National Burn Centre")
    assert (record.volume, record.issue, record.pages) == ("143", "5", "")  # no MedlinePgn at all
    assert record.elocation_ids == [("doi", "10.4045/tidsskr.22.0358")]


def test_empty_article_set_is_no_records_and_no_error():
    result = parse_efetch(efetch_fixture("metapub-37909814.xml"))
    assert (result.records, result.deleted_pmids, result.problems) == ([], [], [])


# Hand-built documents (element structure from NCBI's pubmed_250101.dtd)


def article(
    pmid: str | None = "31000001",
    *,
    title: str = "A title.",
    pub_date: str = "<Year>2019</Year><Month>Jun</Month>",
    authors: str = '<Author ValidYN="Y"><LastName>Doe</LastName><Initials>J</Initials></Author>',
    abstract: str = "",
    elocations: str = "",
    publication_types: tuple[str, ...] = ("Journal Article",),
    citation_extra: str = "",
    article_ids: str = "",
) -> str:
    pmid_element = f'<PMID Version="1">{pmid}</PMID>' if pmid is not None else ""
    types = "".join(f'<PublicationType UI="D0">{pt}</PublicationType>' for pt in publication_types)
    return f"""<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">{pmid_element}
<Article PubModel="Print"><Journal><ISSN IssnType="Print">0000-0000</ISSN>
<JournalIssue CitedMedium="Print"><Volume>12</Volume><Issue>3</Issue>
<PubDate>{pub_date}</PubDate></JournalIssue>
<Title>Journal of tests</Title><ISOAbbreviation>J Tests</ISOAbbreviation></Journal>
<ArticleTitle>{title}</ArticleTitle><Pagination><MedlinePgn>1-10</MedlinePgn></Pagination>{elocations}
{abstract}<AuthorList CompleteYN="Y">{authors}</AuthorList><Language>eng</Language>
<PublicationTypeList>{types}</PublicationTypeList></Article>
<MedlineJournalInfo><Country>United States</Country><MedlineTA>J Tests</MedlineTA><NlmUniqueID>0</NlmUniqueID>
</MedlineJournalInfo>{citation_extra}</MedlineCitation>
<PubmedData><History>
<PubMedPubDate PubStatus="pubmed"><Year>2019</Year><Month>6</Month><Day>1</Day></PubMedPubDate>
</History><PublicationStatus>ppublish</PublicationStatus>
<ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId>{article_ids}</ArticleIdList>
</PubmedData></PubmedArticle>"""


def article_set(*items: str, doctype: str = DOCTYPE) -> bytes:
    body = "\n".join(items)
    return f'<?xml version="1.0" ?>\n{doctype}\n<PubmedArticleSet>\n{body}\n</PubmedArticleSet>'.encode()


def parse_one(item: str):
    [record] = parse_efetch(article_set(item)).records
    return record


def test_medline_date_is_kept_verbatim_and_gives_the_year():
    record = parse_one(article(pub_date="<MedlineDate>2018 Oct-Dec</MedlineDate>"))
    assert record.medline_date == "2018 Oct-Dec"
    assert (record.pub_year, record.pub_month, record.pub_season) == ("2018", "", "")


def test_medline_date_spanning_years_gives_the_first_year():
    assert parse_one(article(pub_date="<MedlineDate>1998 Dec-1999 Jan</MedlineDate>")).pub_year == "1998"


def test_numeric_month_is_spelled_like_pubmed():
    record = parse_one(article(pub_date="<Year>2019</Year><Month>12</Month><Day>03</Day>"))
    assert (record.pub_year, record.pub_month, record.pub_day) == ("2019", "Dec", "03")


def test_delete_citation():
    delete = '<DeleteCitation><PMID Version="1">123</PMID><PMID Version="1">456</PMID></DeleteCitation>'
    result = parse_efetch(article_set(article("31000001"), delete))
    assert result.deleted_pmids == [123, 456]
    assert [record.pmid for record in result.records] == [31000001]
    assert result.problems == []


def test_delete_citation_with_a_bad_pmid_keeps_the_other_deletions():
    delete = '<DeleteCitation><PMID Version="1">12x</PMID><PMID Version="1">456</PMID></DeleteCitation>'
    result = parse_efetch(article_set(delete))
    assert result.deleted_pmids == [456]
    assert [problem.message for problem in result.problems] == [
        "DeleteCitation: PMID '12x' is not a positive integer"
    ]


def test_retracted_publication_type():
    record = parse_one(article(publication_types=("Journal Article", "Retracted Publication")))
    assert record.is_retracted
    assert record.retraction_notices == []


def test_retraction_in_comments_corrections():
    comments = """<CommentsCorrectionsList>
<CommentsCorrections RefType="CommentIn"><RefSource>Cancer Discov. 2019;9(1):2</RefSource>
</CommentsCorrections>
<CommentsCorrections RefType="RetractionIn"><RefSource>Cancer Discov. 2020 Jan;10(1):155</RefSource>
<PMID Version="1">31900001</PMID></CommentsCorrections>
<CommentsCorrections RefType="RetractionIn"><RefSource>Cancer Discov. 2020 Feb;10(2):300</RefSource>
</CommentsCorrections></CommentsCorrectionsList>"""
    record = parse_one(article(citation_extra=comments))
    assert record.is_retracted
    assert record.publication_types == ["Journal Article"]
    assert record.retraction_notices == [
        "Cancer Discov. 2020 Jan;10(1):155 PMID: 31900001",
        "Cancer Discov. 2020 Feb;10(2):300",
    ]


def test_retraction_notice_itself_is_not_retracted():
    comments = """<CommentsCorrectionsList><CommentsCorrections RefType="RetractionOf">
<RefSource>Cancer Discov. 2018;8(1):1</RefSource><PMID Version="1">29000001</PMID>
</CommentsCorrections></CommentsCorrectionsList>"""
    record = parse_one(article(publication_types=("Retraction of Publication",), citation_extra=comments))
    assert not record.is_retracted
    assert record.retraction_notices == []


def test_article_without_pmid_is_skipped_and_reported_and_the_rest_kept():
    result = parse_efetch(article_set(article("31000001"), article(None), article("31000003")))
    assert [record.pmid for record in result.records] == [31000001, 31000003]
    assert [(p.message, p.pmid) for p in result.problems] == [("PubmedArticle: no PMID", None)]


def test_article_with_a_non_integer_pmid_is_skipped_and_reported():
    result = parse_efetch(article_set(article("31000001"), article("PMC123")))
    assert [record.pmid for record in result.records] == [31000001]
    assert [problem.message for problem in result.problems] == [
        "PubmedArticle: PMID 'PMC123' is not a positive integer"
    ]


def test_article_without_article_element_is_reported_with_its_pmid():
    broken = "<PubmedArticle><MedlineCitation><PMID>31000009</PMID></MedlineCitation></PubmedArticle>"
    result = parse_efetch(article_set(broken, article("31000001")))
    assert [record.pmid for record in result.records] == [31000001]
    assert [(problem.message, problem.pmid) for problem in result.problems] == [
        ("PubmedArticle: no Article element", 31000009)
    ]


def test_title_with_script_and_attributes_is_sanitised():
    title = 'Safe <script>alert(1)</script><b onclick="x">bold</b> &lt;script&gt;x&lt;/script&gt;'
    record = parse_one(article(title=title))
    assert record.title == "Safe <b>bold</b> &lt;script&gt;x&lt;/script&gt;"


def test_title_markup_other_than_inline_tags_is_reduced_to_text():
    title = (
        'Na<sup>+</sup>/K<sup>+</sup> and <mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML">\n'
        "  <mml:msup>\n    <mml:mi>x</mml:mi>\n    <mml:mn>2</mml:mn>\n  </mml:msup>\n</mml:math> in"
        ' <span class="c"><i>vivo</i></span>'
    )
    assert (
        parse_one(article(title=title)).title
        == "Na<sup>+</sup>/K<sup>+</sup> and x<sup>2</sup> in <i>vivo</i>"
    )


@pytest.mark.parametrize(
    ("mathml", "expected"),
    [
        ("<m:msub><m:mi>K</m:mi><m:mi>d</m:mi></m:msub>", "K<sub>d</sub>"),
        ("<m:msubsup><m:mi>x</m:mi><m:mn>1</m:mn><m:mn>2</m:mn></m:msubsup>", "x<sub>1</sub><sup>2</sup>"),
        ("<m:mmultiscripts><m:mi>C</m:mi><m:none/><m:mo>+</m:mo><m:mprescripts/><m:none/><m:mn>14</m:mn>"
         "</m:mmultiscripts>", "<sup>14</sup>C<sup>+</sup>"),
        ("<m:msup/>", ""),  # no base, no scripts: nothing to show, and the article is kept
    ],
)  # fmt: skip
def test_mathml_scripts_are_sub_and_sup(mathml, expected):
    title = f'A <m:math xmlns:m="http://www.w3.org/1998/Math/MathML">{mathml}</m:math> b'
    assert parse_one(article(title=title)).title == " ".join(filter(None, ["A", expected, "b"]))


def test_empty_abstract_texts_are_skipped():
    abstract = """<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND"/>
<AbstractText Label="RESULTS" NlmCategory="RESULTS">It <i>works</i>.</AbstractText>
<AbstractText>   </AbstractText></Abstract>"""
    record = parse_one(article(abstract=abstract))
    assert record.abstract == [AbstractSection("It <i>works</i>.", label="RESULTS", nlm_category="RESULTS")]


def test_other_abstract_is_ignored():
    abstract = "<Abstract><AbstractText>English abstract.</AbstractText></Abstract>"
    other = (
        '<OtherAbstract Type="Publisher" Language="ger"><AbstractText>Deutsch.</AbstractText></OtherAbstract>'
    )
    record = parse_one(article(abstract=abstract, citation_extra=other))
    assert record.abstract == [AbstractSection("English abstract.")]


def test_invalid_authors_and_elocations_are_skipped():
    authors = """<Author ValidYN="Y"><LastName>Doe</LastName><Initials>J</Initials><Suffix>Jr</Suffix>
</Author>
<Author ValidYN="N"><LastName>Wrong</LastName><Initials>W</Initials></Author>
<Author><LastName>Roe</LastName><Initials>R</Initials></Author>"""
    elocations = """<ELocationID EIdType="doi" ValidYN="N">10.1000/wrong</ELocationID>
<ELocationID EIdType="pii" ValidYN="Y">e123</ELocationID>
<ELocationID EIdType="doi">10.1000/right</ELocationID>"""
    record = parse_one(article(authors=authors, elocations=elocations))
    assert record.authors == [
        Author(last_name="Doe", initials="J", suffix="Jr"),
        Author(last_name="Roe", initials="R"),
    ]
    assert record.elocation_ids == [("pii", "e123"), ("doi", "10.1000/right")]
    assert record.doi == "10.1000/right"  # no doi in ArticleIdList, so the ELocationID's


def test_article_id_list_doi_wins_over_elocation():
    elocations = '<ELocationID EIdType="doi" ValidYN="Y">10.1000/eloc</ELocationID>'
    article_ids = '<ArticleId IdType="doi">10.1000/ids</ArticleId><ArticleId IdType="pmc">PMC4</ArticleId>'
    record = parse_one(article(elocations=elocations, article_ids=article_ids))
    assert (record.doi, record.pmcid) == ("10.1000/ids", "PMC4")


def test_impossible_dates_are_left_out():
    item = article().replace("<Month>6</Month><Day>1</Day>", "<Month>2</Month><Day>30</Day>")
    assert "pubmed" not in parse_one(item).dates


def test_parse_article_xml_refuses_other_documents():
    with pytest.raises(MalformedResponse):
        parse_article_xml("<PubmedArticleSet/>")
    with pytest.raises(MalformedResponse, match="no PMID"):
        parse_article_xml(article(None))


# Whole-document failures


def test_truncated_response():
    data = efetch_fixture("biopython-pubmed4.xml")
    with pytest.raises(MalformedResponse, match="not well-formed XML"):
        parse_efetch(data[: len(data) // 2])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b'{"error":"API rate limit exceeded","count":"11"}',
        b"<html><head><title>502 Bad Gateway</title></head><body><p>Bad Gateway<br></body></html>",
    ],
    ids=["empty", "json-rate-limit", "html-error-page"],
)
def test_not_xml(data):
    with pytest.raises(MalformedResponse, match="not well-formed XML"):
        parse_efetch(data)


def test_rate_limit_message_is_in_the_error():
    with pytest.raises(MalformedResponse, match="API rate limit exceeded"):
        parse_efetch(b'{"error":"API rate limit exceeded","count":"11"}')


def test_well_formed_html_is_the_wrong_root():
    with pytest.raises(MalformedResponse, match="got <html>"):
        parse_efetch(b"<html><body>Service unavailable</body></html>")


def test_esearch_response_is_not_an_efetch_response():
    with pytest.raises(MalformedResponse, match="expected <PubmedArticleSet>, got <eSearchResult>"):
        parse_efetch((FIXTURES / "esearch" / "biopython-esearch1.xml").read_bytes())


def test_efetch_error_document_carries_ncbis_message():
    data = b'<?xml version="1.0" ?>\n<eFetchResult><ERROR>Empty id list - nothing todo</ERROR></eFetchResult>'
    with pytest.raises(MalformedResponse, match="NCBI error: Empty id list - nothing todo") as raised:
        parse_efetch(data)
    assert raised.value.ncbi_error == "Empty id list - nothing todo"


def test_over_max_bytes_is_not_parsed():
    data = efetch_fixture("biopython-pubmed1.xml")
    assert len(parse_efetch(data, max_bytes=len(data)).records) == 2
    with pytest.raises(
        ResponseTooLarge, match=rf"\({len(data):,} bytes\) exceeded the {len(data) - 1:,}-byte limit"
    ):
        parse_efetch(data, max_bytes=len(data) - 1)


def test_the_parser_and_the_client_share_one_size_limit():
    with make_client(tool="cancerindex_tests", email="editors@example.org") as client:
        limit = client.max_response_bytes
    assert limit == 50_000_000
    with pytest.raises(ResponseTooLarge, match="exceeded the 50,000,000-byte limit"):
        parse_esearch(b" " * (limit + 1))


def test_parse_errors_are_value_errors_of_the_package():
    assert issubclass(MalformedResponse, PubmedParseError)
    assert issubclass(PubmedParseError, ValueError)
    assert issubclass(PubmedParseError, EutilsError)
    assert issubclass(ResponseTooLarge, EutilsError)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID Version="1">1</PMID>
<Article><ArticleTitle a="&lol9;">&lol9;</ArticleTitle></Article></MedlineCitation></PubmedArticle>
</PubmedArticleSet>"""


def test_billion_laughs_is_refused_quickly_without_expanding():
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(MalformedResponse):
        parse_efetch(BILLION_LAUGHS)
    assert time.monotonic() - started < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100_000  # KiB on Linux


def test_any_entity_declaration_is_refused():
    doctype = '<!DOCTYPE PubmedArticleSet [<!ENTITY harmless "x">]>'
    data = article_set(article(title="&harmless;"), doctype=doctype)
    with pytest.raises(MalformedResponse, match="declares its own entities"):
        parse_efetch(data)


def test_external_entity_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    doctype = f'<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>'
    with pytest.raises(MalformedResponse) as raised:
        parse_efetch(article_set(article(title="&xxe;"), doctype=doctype))
    assert "SECRET" not in str(raised.value)


def test_external_dtd_is_not_loaded(tmp_path):
    """A loaded DTD could define entities and attribute defaults; NCBI's DOCTYPE must be ignored."""
    dtd = tmp_path / "pubmed.dtd"
    dtd.write_text('<!ENTITY injected "INJECTED">\n<!ATTLIST Author ValidYN (Y|N) "N">\n')
    doctype = f'<!DOCTYPE PubmedArticleSet SYSTEM "{dtd.as_uri()}">'
    authors = "<Author><LastName>Doe</LastName><Initials>J</Initials></Author>"
    record = parse_one_with_doctype(article(title="Title &injected;", authors=authors), doctype)
    assert record.title == "Title"
    assert record.authors == [Author(last_name="Doe", initials="J")]


def parse_one_with_doctype(item: str, doctype: str):
    [record] = parse_efetch(article_set(item, doctype=doctype)).records
    return record


def test_dtd_url_is_never_fetched():
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY injected "INJECTED">')

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_port}/pubmed_250101.dtd"
            doctype = f'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle//EN" "{url}">'
            record = parse_one_with_doctype(article(title="Title &injected;"), doctype)
        finally:
            server.shutdown()
    assert requests == []
    assert record.title == "Title"


# esearch


def esearch_fixture(name: str) -> bytes:
    return (FIXTURES / "esearch" / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "count", "first_ids", "id_count"),
    [
        ("biopython-esearch1.xml", 63, [41282813, 41148224], 20),
        ("biopython-esearch2.xml", 42249, [41297076, 41297074], 100),
        ("biopython-esearch3.xml", 2651, [11121077, 11121076], 6),
        ("biopython-esearch5.xml", 5, [6540636, 5830998], 5),
    ],
)
def test_esearch(name, count, first_ids, id_count):
    result = parse_esearch(esearch_fixture(name))
    assert result.count == count
    assert result.pmids[:2] == first_ids
    assert len(result.pmids) == id_count
    assert (result.errors, result.warnings) == ([], [])


def test_esearch_query_translation():
    result = parse_esearch(esearch_fixture("biopython-esearch3.xml"))
    assert result.query_translation == '"proc natl acad sci u s a"[Journal] AND "97"[Volume]'


def test_esearch_without_results_reports_ncbis_error_and_warning():
    result = parse_esearch(esearch_fixture("biopython-esearch8.xml"))
    assert (result.count, result.pmids) == (0, [])
    assert result.query_translation == "(abcXYZ[All Fields])"
    assert result.errors == ["PhraseNotFound: abcXYZ"]
    assert result.warnings == ["OutputMessage: No items found."]


def test_esearch_error_document_carries_ncbis_message():
    data = b'<?xml version="1.0" ?>\n<eSearchResult><ERROR>Invalid query</ERROR></eSearchResult>'
    with pytest.raises(MalformedResponse, match="NCBI error: Invalid query") as raised:
        parse_esearch(data)
    assert raised.value.ncbi_error == "Invalid query"


def test_esearch_refuses_an_efetch_response():
    with pytest.raises(MalformedResponse, match="expected <eSearchResult>"):
        parse_esearch(efetch_fixture("biopython-pubmed1.xml"))


def test_esearch_without_a_count_is_malformed():
    with pytest.raises(MalformedResponse, match="Count"):
        parse_esearch(b"<eSearchResult><IdList><Id>1</Id></IdList></eSearchResult>")
