"""Citation downloads: RIS, MEDLINE (.nbib), BibTeX and CSL-JSON, of one entry or a page's whole list.

The files are read back with the parsers reference managers' formats have (rispy, bibtexparser), from
real PubMed records (tests/fixtures/pubmed/efetch) and from hostile ones; only what readers can see is
served, from the stored columns, in a fixed number of queries.
"""

import json
import re
import uuid
from pathlib import Path

import bibtexparser
import lxml.html
import pytest
import rispy
from bibtexparser.middlewares import LatexDecodingMiddleware, SeparateCoAuthors
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from publications import export
from publications.models import PageListing, Publication
from publications.pubmed import parse_efetch
from tests.factories import PageListingFactory, PublicationFactory, SectionFactory, TreatmentPageFactory
from treatments import cache, paths
from treatments.models import Section

EFETCH = Path(__file__).parent.parent / "fixtures" / "pubmed" / "efetch"
GUT = "biopython-pubmed4.xml"  # 22 authors, a structured abstract with <i>, <sub> and <sup>, PMC
PANEL = "metapub-34843274.xml"  # a collective author
BOOK = "metapub-book-20301577.xml"  # a GeneReviews chapter
DAY = "metapub-38329942.xml"  # an issue dated to the day: 2024 Mar 19
FORMATS = ["ris", "nbib", "bib", "json"]
GUT_TITLE = (
    "Leucocyte telomere length, genetic variants at the TERT gene region and risk of pancreatic cancer."
)
HOSTILE_TITLE = (
    'Braces {unbalanced and }} "quoted" r<sup>2</sup> & p<sub>trend</sub> 100% $5 #1 a_b ~ ^ \\ café Ωmega\n'
    "on\ttwo lines. <i>{TERT</i>"
)
HOSTILE_TEXT = (
    'Braces {unbalanced and }} "quoted" r2 & ptrend 100% $5 #1 a_b ~ ^ \\ café Ωmega on two lines. {TERT'
)


def records(*names) -> list[Publication]:
    """The fixtures' records as (unsaved) rows, normalized as storing them would."""
    rows = []
    for name in names:
        for record in parse_efetch((EFETCH / name).read_bytes()).records:
            row = Publication.from_record(record)
            row.normalize()
            rows.append(row)
    return rows


def hostile(**extra) -> Publication:
    values = {
        "pmid": 123,
        "title": HOSTILE_TITLE,
        "authors": [
            {"last_name": "O'Brien {x}", "fore_name": "Zoë", "initials": "Z", "suffix": "Jr"},
            {"collective_name": "Smith and Jones Group & Co"},
        ],
        "journal": "J {Odd}",
        "journal_title": "Journal of {Odd} & Even",
        "pub_year": "2020",
        "pub_month": "Dec",
        "abstract": [{"label": "BACKGROUND", "text": "Line one\nline two {x} 50%"}],
    }
    row = Publication(**{**values, **extra})
    row.normalize()
    return row


# --- Parsing the files back -----------------------------------------------------------------------


def parse_bibtex(text: str):
    """The entries as a LaTeX-aware reader gets them: names split, LaTeX decoded to text."""
    context = get_default_latex_context_db()
    context.add_context_category(
        "textcomp-braces",
        macros=[
            MacroTextSpec("textbraceleft", "{"),
            MacroTextSpec("textbraceright", "}"),
            MacroTextSpec("textasciicircum", "^"),
        ],
        prepend=True,
    )
    decoder = LatexNodes2Text(latex_context=context)
    library = bibtexparser.parse_string(
        text, append_middleware=[SeparateCoAuthors(), LatexDecodingMiddleware(decoder=decoder)]
    )
    assert not library.failed_blocks
    for entry in library.entries:  # the middleware leaves split names as they are written
        if "author" in entry.fields_dict:
            entry.fields_dict["author"].value = [decoder.latex_to_text(name) for name in entry["author"]]
    return library.entries


def braces_balance(text: str) -> bool:
    """BibTeX's own rule: every brace counts, escaped or not; depth never below 0, back to 0 at the end."""
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def bibtex_title_case(value: str) -> str:
    """What a BibTeX style (plain, unsrt, ieeetr...) prints of a title: its ``"t" change.case$``, by
    bibtex.web's rules. At brace depth 0 every letter but the first is lowercased; a group opening with
    "{\\" is a "special character", lowercased but for its commands' names, nested braces or not; any
    other group is kept as it is."""
    out, depth, special, i = [], 0, False, 0
    while i < len(value):
        char = value[i]
        if char in "{}":
            depth += 1 if char == "{" else -1
            if char == "{" and depth == 1:
                special = value[i + 1 : i + 2] == "\\"
        elif depth == 0:
            char = char if i == 0 else char.lower()
        elif special:  # a command's name as it is, any other letter lowercased
            char = re.match(r"\\[A-Za-z]*", value[i:]).group() if char == "\\" else char.lower()
        out.append(char)
        i += len(char)
    return "".join(out)


def parse_medline(text: str) -> list[dict[str, list[str]]]:
    """Records of (tag, values), continuation lines joined, as PubMed's format says."""
    found = []
    for block in text.strip("\n").split("\n\n"):
        fields: dict[str, list[str]] = {}
        tag = None
        for line in block.split("\n"):
            if line.startswith("      "):
                fields[tag][-1] += " " + line[6:]
            else:
                assert re.fullmatch(r"[A-Z]{2,4} *- .+", line) and line[4:6] == "- ", line
                tag = line[:4].strip()
                fields.setdefault(tag, []).append(line[6:])
        found.append(fields)
    return found


# --- RIS ------------------------------------------------------------------------------------------


def test_ris_reads_back_as_pubmed_gave_it():
    gut, panel, book = rispy.loads(export.ris(records(GUT, PANEL, BOOK)))
    assert gut["type_of_reference"] == "JOUR"
    assert gut["authors"][:2] == ["Bao, Ying", "Prescott, Jennifer"] and len(gut["authors"]) == 22
    assert gut["title"] == GUT_TITLE
    assert (gut["secondary_title"], gut["alternate_title1"]) == ("Gut", "Gut")
    assert (gut["year"], gut["date"], gut["volume"], gut["number"]) == ("2017", "2017/06//", "66", "6")
    assert (gut["start_page"], gut["end_page"]) == ("1116", "1122")
    assert gut["doi"] == "10.1136/gutjnl-2016-312510"
    assert gut["accession_number"] == "27797938" and gut["custom2"] == "PMC5442267"
    assert gut["urls"] == ["https://pubmed.ncbi.nlm.nih.gov/27797938/"]
    assert (
        gut["abstract"].startswith("OBJECTIVE: Telomere shortening")
        and "DESIGN: We measured" in gut["abstract"]
    )
    assert "ptrend=0.048" in gut["abstract"] and "r2<0.25" in gut["abstract"]
    assert panel["authors"] == ["Guideline Development Panel for the Treatment of Depressive Disorders"]
    assert panel["secondary_title"] == "The American psychologist"
    assert (book["type_of_reference"], book["secondary_title"]) == ("CHAP", "GeneReviews®")
    assert book["title"] == "CACNA1C-Related Disorders"


def test_ris_keeps_a_hostile_title_on_one_line():
    (entry,) = rispy.loads(export.ris([hostile(is_retracted=True)]))
    assert entry["title"] == HOSTILE_TEXT
    # RIS's "Last, First, Suffix": before, "Jr" was dropped (MEDLINE, BibTeX and CSL-JSON kept it).
    assert entry["authors"] == ["O'Brien {x}, Zoë, Jr", "Smith and Jones Group & Co"]
    assert entry["abstract"] == "BACKGROUND: Line one line two {x} 50%"
    assert entry["notes"] == ["Retracted publication"]


def test_every_fixture_record_reads_back_in_ris_and_bibtex():
    names = sorted(path.name for path in EFETCH.glob("*.xml"))
    rows = records(*names)
    assert len(rows) > 100
    ris = rispy.loads(export.ris(rows))
    assert [entry["accession_number"] for entry in ris] == [str(row.pmid) for row in rows]
    assert [entry["title"] for entry in ris] == [" ".join(row.title_text.split()) for row in rows]
    bib = export.bibtex(rows)
    assert braces_balance(bib)
    assert [entry.key for entry in parse_bibtex(bib)] == [f"pmid{row.pmid}" for row in rows]


def test_ris_names_a_suffix_after_the_given_names():
    king = hostile(authors=[{"last_name": "King", "fore_name": "Martin L", "initials": "ML", "suffix": "III"},
                            {"last_name": "Cher", "suffix": "Jr"}])  # fmt: skip
    (entry,) = rispy.loads(export.ris([king]))
    assert entry["authors"] == ["King, Martin L, III", "Cher, Jr"]


# --- The day, in every format -------------------------------------------------------------


def test_the_day_pubmed_gives_is_in_every_format():
    """Before, every format stopped at the month ("2024/03//", "2024 Mar", [[2024, 3]]) where PubMed dates
    the issue to the day."""
    (row,) = records(DAY)
    assert (row.pub_year, row.pub_month, row.pub_day) == ("2024", "Mar", "19")
    (ris,) = rispy.loads(export.ris([row]))
    assert (ris["year"], ris["date"]) == ("2024", "2024/03/19/")
    (medline,) = parse_medline(export.medline([row]))
    assert medline["DP"] == ["2024 Mar 19"]  # as PubMed's own .nbib writes it
    assert medline["SO"] == ["mSystems. 2024 Mar 19;9(3):e0129923. doi: 10.1128/msystems.01299-23."]
    text = export.bibtex([row])
    (bib,) = parse_bibtex(text)
    fields = {name: field.value for name, field in bib.fields_dict.items()}
    assert (fields["year"], fields["month"], fields["date"]) == ("2024", "mar", "2024-03-19")
    assert "  month = mar,\n" in text  # still the plain styles' macro
    (csl,) = export.csl_items([row])
    assert csl["issued"] == {"date-parts": [[2024, 3, 19]]}
    # The page itself cites the year, as the old site did, and says the day beside it.
    assert '<span class="source">mSystems. 2024; 9(3):e0129923</span>' in row.rendered_entry
    assert '<time datetime="2024-03-19">19 March 2024</time>' in row.rendered_entry


@pytest.mark.parametrize(
    ("month", "day", "ris_date", "dp", "parts"),
    [("Nov", "05", "2020/11/05/", "2020 Nov 5", [2020, 11, 5]),
     ("Feb", "30", "2020/02//", "2020 Feb", [2020, 2]),  # no such day
     ("", "5", "", "2020", [2020]),  # a day without its month says nothing
     ("Nov", "x", "2020/11//", "2020 Nov", [2020, 11])],
)  # fmt: skip
def test_a_day_is_exported_only_as_part_of_a_real_date(month, day, ris_date, dp, parts):
    row = hostile(pub_month=month, pub_day=day)
    (ris,) = rispy.loads(export.ris([row]))
    assert ris.get("date", "") == ris_date
    assert parse_medline(export.medline([row]))[0]["DP"] == [dp]
    assert export.csl_items([row])[0]["issued"] == {"date-parts": [parts]}
    (bib,) = parse_bibtex(export.bibtex([row]))
    assert ("date" in bib.fields_dict) == (len(parts) == 3)


# --- MEDLINE --------------------------------------------------------------------------------------


def test_medline_is_pubmeds_tagged_format():
    text = export.medline(records(GUT, PANEL, BOOK))
    assert text.startswith("PMID- 27797938\n")
    assert all(len(line) <= export.MEDLINE_WIDTH for line in text.splitlines())
    gut, panel, book = parse_medline(text)
    assert gut["TI"] == [GUT_TITLE]
    assert (gut["VI"], gut["IP"], gut["DP"], gut["PG"]) == (["66"], ["6"], ["2017 Jun"], ["1116-1122"])
    assert gut["FAU"][:2] == ["Bao, Ying", "Prescott, Jennifer"] and gut["AU"][:2] == ["Bao Y", "Prescott J"]
    assert gut["TA"] == ["Gut"] and gut["JT"] == ["Gut"] and gut["LA"] == ["eng"]
    assert gut["LID"] == ["10.1136/gutjnl-2016-312510 [doi]"]
    assert gut["AID"] == ["10.1136/gutjnl-2016-312510 [doi]"]
    assert gut["PMC"] == ["PMC5442267"] and "Observational Study" in gut["PT"]
    assert gut["AB"][0].startswith("OBJECTIVE: Telomere shortening occurs as an early event")
    assert gut["SO"] == ["Gut. 2017 Jun;66(6):1116-1122. doi: 10.1136/gutjnl-2016-312510."]
    assert panel["CN"] == ["Guideline Development Panel for the Treatment of Depressive Disorders"]
    assert "AU" not in panel
    assert (book["BTI"], book["AID"], book["SO"]) == (
        ["GeneReviews®"],
        ["NBK1403 [bookaccession]"],
        ["GeneReviews®. 1993."],
    )
    assert "TA" not in book and "VI" not in book
    # Continuation lines: six spaces, as PubMed writes them.
    assert (
        "\nAB  - OBJECTIVE: Telomere shortening occurs as an early event in pancreatic\n      tumorigenesis"
        in text
    )


def test_medline_keeps_a_hostile_title_and_odd_dates():
    (entry,) = parse_medline(export.medline([hostile(medline_date="1998 Dec-1999 Jan", pub_year="")]))
    assert entry["TI"] == [HOSTILE_TEXT]
    assert entry["FAU"] == ["O'Brien {x}, Zoë Jr"] and entry["AU"] == ["O'Brien {x} Z Jr"]
    assert entry["DP"] == ["1998 Dec-1999 Jan"]
    (season,) = parse_medline(export.medline([hostile(pub_month="", pub_season="Oct-Dec", volume="5")]))
    assert season["DP"] == ["2020 Oct-Dec"] and season["SO"] == ["J {Odd}. 2020 Oct-Dec;5."]


# --- BibTeX ---------------------------------------------------------------------------------------


def test_bibtex_reads_back_as_pubmed_gave_it():
    text = export.bibtex(records(GUT, PANEL, BOOK))
    gut, panel, book = parse_bibtex(text)
    assert (gut.key, gut.entry_type) == ("pmid27797938", "article")
    fields = {name: field.value for name, field in gut.fields_dict.items()}
    assert fields["title"] == GUT_TITLE
    assert fields["author"][:2] == ["Bao, Ying", "Prescott, Jennifer"] and len(fields["author"]) == 22
    assert (fields["journal"], fields["year"], fields["month"]) == ("Gut", "2017", "jun")
    assert (fields["volume"], fields["number"], fields["pages"]) == ("66", "6", "1116–1122")
    assert (fields["doi"], fields["pmid"], fields["pmcid"]) == (
        "10.1136/gutjnl-2016-312510",
        "27797938",
        "PMC5442267",
    )
    assert "ptrend=0.048" in fields["abstract"] and "r2<0.25" in fields["abstract"]
    # Inline markup is LaTeX in the file; the title is in a group of its own, so no style changes its case.
    assert r"title = {{Leucocyte telomere length, genetic variants at the {\textit{TERT}} gene" in text
    assert r"r{\textsuperscript{2}}<0.25" in text and r"p{\textsubscript{trend}}=0.048" in text
    assert panel.fields_dict["author"].value == [
        "Guideline Development Panel for the Treatment of Depressive Disorders"
    ]
    assert (book.entry_type, book.fields_dict["booktitle"].value) == ("incollection", "GeneReviews®")


def test_bibtex_keeps_a_hostile_title_whole():
    text = export.bibtex([hostile(doi="10.1000/a_b{c}", more_authors=True, is_retracted=True)])
    assert braces_balance(text)
    (entry,) = parse_bibtex(text)
    fields = {name: field.value for name, field in entry.fields_dict.items()}
    assert fields["title"] == HOSTILE_TEXT
    assert fields["author"] == ["O'Brien {x}, Jr, Zoë", "Smith and Jones Group & Co", "others"]
    assert fields["journal"] == "Journal of {Odd} & Even"
    assert fields["abstract"] == "BACKGROUND: Line one line two {x} 50%"
    assert fields["doi"] == "10.1000/a_bc"  # verbatim, as biblatex reads a DOI
    assert fields["note"] == "Retracted publication"
    assert r"{\textit{\textbraceleft{}TERT}}" in text


def test_a_whole_book_and_an_entry_without_a_pmid():
    book = Publication(pmid=1, kind="book", title="A Book", journal="A Book", pub_year="2001", pk=None)
    old = Publication(pk=42, title="An old entry.", journal="Lancet", pub_year="1999", pages="1-5")
    text = export.bibtex([book, old])
    first, second = parse_bibtex(text)
    assert (first.entry_type, second.key) == ("book", "cancerindex42")
    assert "journal" not in first.fields_dict and "booktitle" not in first.fields_dict
    assert rispy.loads(export.ris([book]))[0]["type_of_reference"] == "BOOK"
    items = export.csl_items([book, old])
    assert items[0]["type"] == "book" and "container-title" not in items[0]
    assert items[1]["id"] == "cancerindex42" and "PMID" not in items[1] and "URL" not in items[1]
    assert parse_medline(export.medline([old]))[0]["SO"] == ["Lancet. 1999;1-5."]


def test_a_bibtex_style_keeps_the_titles_capitals():
    """Before, plain.bst printed "Her2-positive ... il-2 in t cells" and even "{\\textit{tert}}" (BibTeX
    lowercases inside a group that opens with a command): PubMed's titles are in sentence case already."""
    title = "HER2-positive cancer: <i>TERT</i>, IL-2 and CD4<sup>+</sup> T cells in Crohn's disease."
    text = export.bibtex([hostile(title=title)])
    assert braces_balance(text)
    (value,) = re.findall(r"^  title = \{(.*)\},$", text, flags=re.MULTILINE)
    printed = bibtex_title_case(value)
    for kept in ["HER2-positive", r"\textit{TERT}", "IL-2", "CD4", "T cells", "Crohn's"]:
        assert kept in printed, kept
    assert (
        bibtex_title_case(r"A {\textit{TERT}} B {{\textit{TERT}}}")
        == r"A {\textit{tert}} b {{\textit{TERT}}}"
    )
    (entry,) = parse_bibtex(text)
    assert (
        entry.fields_dict["title"].value
        == "HER2-positive cancer: TERT, IL-2 and CD4+ T cells in Crohn's disease."
    )
    assert "title" not in parse_bibtex(export.bibtex([hostile(title="")]))[0].fields_dict


def test_tex_markup_left_open_is_closed():
    assert export.inline_tex("<i>a<b>b</i>c</b> <u>d") == r"{\textit{a{\textbf{b}}}}c {\underline{d}}"
    assert export.inline_tex('<span>x</span> <a href="y">z</a>') == "x z"


# --- CSL-JSON -------------------------------------------------------------------------------------


def test_csl_json_has_the_keys_citation_processors_read():
    gut, panel, book = json.loads(export.csl_json(records(GUT, PANEL, BOOK)))
    assert gut["id"] == "pmid27797938" and gut["type"] == "article-journal"
    assert gut["title"].startswith("Leucocyte telomere length") and "<i>" not in gut["title"]
    assert gut["author"][0] == {"family": "Bao", "given": "Ying"} and len(gut["author"]) == 22
    assert (gut["container-title"], gut["container-title-short"]) == ("Gut", "Gut")
    assert gut["issued"] == {"date-parts": [[2017, 6]]}
    assert (gut["volume"], gut["issue"], gut["page"]) == ("66", "6", "1116-1122")
    assert (gut["DOI"], gut["PMID"], gut["PMCID"]) == ("10.1136/gutjnl-2016-312510", "27797938", "PMC5442267")
    assert gut["URL"] == "https://pubmed.ncbi.nlm.nih.gov/27797938/"
    assert gut["abstract"].startswith("OBJECTIVE: ")
    assert all(isinstance(value, str) for key, value in gut.items() if key not in {"author", "issued"})
    assert panel["author"] == [
        {"literal": "Guideline Development Panel for the Treatment of Depressive Disorders"}
    ]
    assert (
        panel["container-title"] == "The American psychologist"
        and panel["container-title-short"] == "Am Psychol"
    )
    assert (book["type"], book["container-title"]) == ("chapter", "GeneReviews®")
    assert "container-title-short" not in book


def test_csl_json_keeps_a_hostile_title_and_odd_dates():
    (item,) = json.loads(
        export.csl_json([hostile(pub_month="Oct-Dec", pub_season="Oct-Dec", pages="1116-22")])
    )
    assert item["title"] == HOSTILE_TEXT
    assert item["author"][0] == {"family": "O'Brien {x}", "given": "Zoë", "suffix": "Jr"}
    assert item["issued"] == {"date-parts": [[2020, 10]], "season": "Oct-Dec"}
    assert item["page"] == "1116-1122"  # an abbreviated last page written out
    (undated,) = export.csl_items([hostile(pub_year="", pub_month="")])
    assert "issued" not in undated
    assert (
        export.month_number("06") == 6
        and export.month_number("13") is None
        and export.month_number("") is None
    )
    assert export.page_range("e1234") == ("e1234", "")


# --- Served -------------------------------------------------------------------------------------

CONTENT_TYPES = {
    "ris": "application/x-research-info-systems; charset=utf-8",
    "nbib": "application/nbib; charset=utf-8",
    "bib": "application/x-bibtex; charset=utf-8",
    "json": "application/vnd.citationstyles.csl+json; charset=utf-8",
}


@pytest.fixture
def page(db):
    section = SectionFactory(slug="treatments", title="Treatments")
    return TreatmentPageFactory(section=section, slug="il-2", title="Interleukin 2", publications_shown=3)


def stored(*names) -> list[Publication]:
    rows = records(*names)
    for row in rows:
        row.save()
    return rows


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_entry_the_page_shows_downloads(client, page, fmt):
    (gut,) = stored(GUT)
    PageListingFactory(page=page, publication=gut)
    response = client.get(f"/cite/{gut.pmid}.{fmt}")
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPES[fmt]
    assert response["Content-Disposition"] == f'attachment; filename="cancerindex-27797938.{fmt}"'
    assert "Leucocyte telomere length" in response.content.decode("utf-8")


def test_only_what_readers_see_downloads(client, page):
    draft = TreatmentPageFactory(published=False)
    on_draft = PublicationFactory(title="On a draft only.")
    PageListingFactory(page=draft, publication=on_draft)
    hidden = PublicationFactory(title="Hidden.")
    PageListingFactory(page=page, publication=hidden, hidden=True, position=0)
    shown = [PageListingFactory(page=page, position=n).publication for n in range(1, 4)]
    past_limit = PageListingFactory(page=page, position=9).publication  # the page shows three
    for publication in (on_draft, hidden, past_limit):
        assert client.get(f"/cite/{publication.pmid}.ris").status_code == 404, publication.title
    assert client.get("/cite/999999.ris").status_code == 404
    for publication in shown:
        assert client.get(f"/cite/{publication.pmid}.ris").status_code == 200
    # Shown by another published page: it downloads.
    PageListingFactory(publication=hidden)
    assert client.get(f"/cite/{hidden.pmid}.ris").status_code == 200
    for url in (f"/cite/{shown[0].pmid}.xml", f"/cite/page/{page.pk}.pdf", f"/cite/{shown[0].pmid}.RIS"):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_pages_list_downloads_as_the_page_shows_it(client, page, fmt):
    gut, panel, book = stored(GUT, PANEL, BOOK)
    PageListingFactory(page=page, publication=gut, position=1)
    PageListingFactory(
        page=page, publication=PublicationFactory(title="Hidden entry."), hidden=True, position=0
    )
    PageListingFactory(page=page, publication=panel, position=2)
    PageListingFactory(page=page, publication=PublicationFactory(title="Past the limit."), position=3)
    PageListingFactory(page=page, publication=book, position=9, pinned=True)
    response = client.get(f"/cite/page/{page.pk}.{fmt}")
    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPES[fmt]
    assert response["Content-Disposition"] == f'attachment; filename="cancerindex-il-2.{fmt}"'
    text = response.content.decode("utf-8")
    assert "Hidden entry" not in text and "Past the limit" not in text
    found = [m.group(1) for m in re.finditer(r"(20301577|27797938|34843274)", text)]
    assert list(dict.fromkeys(found)) == ["20301577", "27797938", "34843274"]  # pinned first, then the order


def test_a_draft_or_missing_pages_list_is_not_served(client, page):
    draft = TreatmentPageFactory(published=False)
    PageListingFactory(page=draft)
    assert client.get(f"/cite/page/{draft.pk}.ris").status_code == 404
    assert client.get("/cite/page/999999.ris").status_code == 404


@pytest.mark.parametrize("size", [1, 30])
def test_downloads_are_a_fixed_number_of_queries_and_never_read_the_xml(
    client, page, size, django_assert_num_queries
):
    page.publications_shown = 30
    page.save()
    listings = [
        PageListingFactory(page=page, publication=PublicationFactory(source_xml="<PubmedArticle/>"))
        for _ in range(size)
    ]
    for fmt in FORMATS:
        with CaptureQueriesContext(connection) as queries, django_assert_num_queries(2):
            response = client.get(f"/cite/page/{page.pk}.{fmt}")
        assert response.status_code == 200
        assert response.content.decode().count("A study of treatment") == size
        with django_assert_num_queries(1):
            assert client.get(f"/cite/{listings[-1].publication.pmid}.{fmt}").status_code == 200
        assert not any("source_xml" in query["sql"] for query in queries.captured_queries)


def test_a_single_entry_never_reads_the_xml(client, page):
    listing = PageListingFactory(page=page, publication=PublicationFactory(source_xml="<PubmedArticle/>"))
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/cite/{listing.publication.pmid}.bib")
    assert queries.captured_queries and not any("source_xml" in q["sql"] for q in queries.captured_queries)


# --- On the page, cached, reserved ---------------------------------------------------------------


def test_the_page_links_its_lists_downloads(client, page):
    empty = lxml.html.fromstring(client.get(page.get_absolute_url()).content)
    assert not empty.cssselect("#latest-research .export")
    PageListingFactory(page=page)
    html = lxml.html.fromstring(client.get(page.get_absolute_url()).content)
    (line,) = html.cssselect("#latest-research .export")
    assert line.text_content().startswith("Export the list:")
    links = [(a.text_content(), a.get("href")) for a in line.cssselect("a")]
    assert links == [
        ("RIS", f"/cite/page/{page.pk}.ris"),
        ("BibTeX", f"/cite/page/{page.pk}.bib"),
        ("MEDLINE", f"/cite/page/{page.pk}.nbib"),
        ("CSL-JSON", f"/cite/page/{page.pk}.json"),
    ]
    for _, href in links:
        assert client.get(href).status_code == 200, href


def test_downloads_are_cached_and_a_pages_change_purges_its_lists(
    client, page, settings, django_capture_on_commit_callbacks
):
    settings.PAGE_CACHE_ENABLED = True
    settings.PAGE_CACHE_VERSION = f"test-{uuid.uuid4().hex}"
    PageListingFactory(page=page, position=1)
    urls = [f"/cite/page/{page.pk}.{fmt}" for fmt in FORMATS]
    assert set(urls) <= set(cache.urls_for(page))
    for url in urls:
        client.get(url)
        assert client.get(url)["X-Page-Cache"] == "HIT", url
    with django_capture_on_commit_callbacks(execute=True):
        PageListingFactory(page=page, position=0, publication__title="Just listed.")
        page.record_change(reason="list")
    for url in urls:
        assert client.get(url)["X-Page-Cache"] == "MISS", url
    assert b"Just listed." in client.get(urls[0]).content


def test_a_single_entry_is_gone_once_no_page_shows_it_even_with_the_caches_on(client, page, settings):
    settings.PAGE_CACHE_ENABLED = True
    settings.PAGE_CACHE_VERSION = f"test-{uuid.uuid4().hex}"
    listing = PageListingFactory(page=page, position=0)
    url = f"/cite/{listing.publication.pmid}.ris"
    response = client.get(url)
    assert response.status_code == 200
    assert "public" not in response.get("Cache-Control", "")  # the edge does not keep it either
    PageListing.objects.filter(pk=listing.pk).update(hidden=True)  # an editor hides it
    assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_cite_is_reserved_for_the_site():
    assert paths.is_reserved("cite")
    with pytest.raises(ValidationError, match="reserved"):
        Section(slug="cite", title="Cite").full_clean()
