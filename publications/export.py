"""Citations to take away: RIS, MEDLINE (PubMed's .nbib), BibTeX and CSL-JSON, from stored columns.

Reference managers import these; each is built from the columns a page's list already has (never the
record's XML, never a call to NCBI), so an export costs what the list costs. Plain functions of
publications (anything with ``EXPORT_FIELDS``), each returning the whole file as text.
"""

from __future__ import annotations

import datetime
import json
import re
import textwrap
from dataclasses import dataclass
from html.parser import HTMLParser

from .citation import PUBMED_URL
from .markup import inline_text

# The columns every format reads: views load these alone (``.only``), never ``source_xml``.
EXPORT_FIELDS = (
    "pmid", "kind", "title", "authors", "more_authors", "journal", "journal_title", "pub_year", "pub_month",
    "pub_day", "pub_season", "medline_date", "volume", "issue", "pages", "doi", "pmcid", "book_accession",
    "abstract", "publication_types", "language", "is_retracted",
)  # fmt: skip
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
RETRACTED_NOTE = "Retracted publication"


# --- What every format shares -------------------------------------------------------------------


def _one_line(text: str) -> str:
    """Runs of whitespace (newlines, tabs) as one space: every format here is line-based or one-line."""
    return " ".join(text.split())


def title(publication) -> str:
    return _one_line(inline_text(publication.title or ""))


def abstract(publication) -> str:
    """The sections as PubMed prints them in one paragraph: "BACKGROUND: ... METHODS: ..."."""
    parts = []
    for section in publication.abstract or []:
        text = _one_line(inline_text(section.get("text", "")))
        label = _one_line(section.get("label") or "")
        parts.append(f"{label}: {text}" if label and text else text or label)
    return " ".join(part for part in parts if part)


def month_number(month: str) -> int | None:
    """PubMed's "Jun" (or "06") as 6; None for none or anything else."""
    month = (month or "").strip().lower()
    if month.isdigit():
        return int(month) if 1 <= int(month) <= 12 else None
    return MONTHS.index(month[:3]) + 1 if month[:3] in MONTHS else None


def year(publication) -> str:
    """The year: the stored one, else the first in a MedlineDate ("1998 Dec-1999 Jan")."""
    if publication.pub_year:
        return publication.pub_year
    found = re.search(r"\b(\d{4})\b", publication.medline_date or "")
    return found.group(1) if found else ""


def issued(publication) -> tuple[int, ...]:
    """The issue's date as far as PubMed gives it: (2019, 11, 5), (2019, 11), (2019,) or (). A day is
    kept only with its month, and only if the three make a real date."""
    found = year(publication)
    if not found.isdigit():
        return ()
    month = month_number(publication.pub_month)
    if not month:
        return (int(found),)
    day = (publication.pub_day or "").strip()
    try:
        return (int(found), month, datetime.date(int(found), month, int(day)).day)
    except ValueError:
        return (int(found), month)


def iso_date(date: tuple[int, ...]) -> str:
    """``issued`` in ISO 8601: "2019-11-05", "2019-11", "2019"; "" for none."""
    if not date:
        return ""
    year, *month_day = date
    return "-".join([f"{year:04d}", *(f"{part:02d}" for part in month_day)])


def page_range(pages: str) -> tuple[str, str]:
    """First and last page, the last written out in full: "1116-22" is ("1116", "1122")."""
    first, _, last = (pages or "").partition("-")
    first, last = first.strip(), last.strip()
    if first.isdigit() and last.isdigit() and len(last) < len(first):
        last = first[: len(first) - len(last)] + last
    return first, last


def _pages_joined(pages: str, dash: str) -> str:
    first, last = page_range(pages)
    return f"{first}{dash}{last}" if last else first


def is_chapter(publication) -> bool:
    """A book record with a book title of its own (GeneReviews and the like) is a chapter in it."""
    return (
        publication.kind == "book" and bool(publication.journal) and publication.journal != title(publication)
    )


def _person(author: dict) -> tuple[str, str]:
    """Family name and given names (the full forename, else the initials)."""
    return author.get("last_name", ""), author.get("fore_name") or author.get("initials", "")


def _ris_name(author: dict) -> str:
    """ "Last, First, Suffix", RIS's form of a name: "King, Martin L, Jr"; a collective as given."""
    if author.get("collective_name"):
        return author["collective_name"]
    return ", ".join(part for part in (*_person(author), author.get("suffix", "")) if part)


def _key(publication) -> str:
    """The entry's id in BibTeX and CSL-JSON: "pmid27797938" (old entries without a PMID: their row)."""
    return f"pmid{publication.pmid}" if publication.pmid else f"cancerindex{publication.pk}"


def _pubmed_url(publication) -> str:
    return PUBMED_URL.format(pmid=publication.pmid) if publication.pmid else ""


# --- RIS ----------------------------------------------------------------------------------------


def ris(publications) -> str:
    """RIS, one record per publication ("TY  - JOUR" to "ER  - "), as EndNote, Zotero and Mendeley read it."""
    return "".join(_ris_record(publication) for publication in publications)


def _ris_record(publication) -> str:
    chapter = is_chapter(publication)
    kind = "CHAP" if chapter else "BOOK" if publication.kind == "book" else "JOUR"
    first, last = page_range(publication.pages)
    date = issued(publication)
    tags = [("TY", kind)]
    tags += [("AU", _ris_name(author)) for author in publication.authors or []]
    tags += [("TI", title(publication))]
    if chapter:
        tags.append(("T2", publication.journal))
    elif publication.kind != "book":
        tags += [("T2", publication.journal_title or publication.journal), ("J2", publication.journal)]
    tags += [
        ("PY", year(publication)),
        ("DA", _ris_date(date) if len(date) > 1 else ""),
        ("VL", publication.volume),
        ("IS", publication.issue),
        ("SP", first),
        ("EP", last),
        ("DO", publication.doi),
        ("AN", str(publication.pmid or "")),
        ("C2", publication.pmcid),
        ("UR", _pubmed_url(publication)),
        ("AB", abstract(publication)),
        ("LA", publication.language),
        ("N1", RETRACTED_NOTE if publication.is_retracted else ""),
        ("DB", "PubMed" if publication.pmid else ""),
    ]
    lines = [f"{tag}  - {_one_line(value)}" for tag, value in tags if value and _one_line(value)]
    return "\n".join([*lines, "ER  - ", "", ""])


def _ris_date(date: tuple[int, ...]) -> str:
    """RIS's "YYYY/MM/DD/other": "2019/11/05/", "2019/11//"."""
    year, month, *day = date
    return f"{year:04d}/{month:02d}/{f'{day[0]:02d}' if day else ''}/"


# --- MEDLINE (.nbib) ----------------------------------------------------------------------------

MEDLINE_WIDTH = 88  # PubMed wraps its lines here; a continuation is indented by six spaces


def medline(publications) -> str:
    """The MEDLINE tagged format PubMed exports (.nbib): "PMID- ", "TI  - ", records apart by a blank line."""
    return "\n".join(_medline_record(publication) for publication in publications)


def _medline_line(tag: str, value: str) -> str:
    head = f"{tag:<4}- "
    lines = textwrap.wrap(
        _one_line(value), width=MEDLINE_WIDTH - len(head), break_long_words=False, break_on_hyphens=False
    )
    return "\n".join([head + lines[0], *(" " * len(head) + line for line in lines[1:])])


def medline_date(publication) -> str:
    """The DP field: "2019 Nov 5", "2017 Jun", "2018 Oct-Dec", or the MedlineDate as given."""
    if publication.medline_date:
        return publication.medline_date
    date = issued(publication)
    day = str(date[2]) if len(date) == 3 else ""
    return " ".join(
        part for part in (publication.pub_year, publication.pub_month or publication.pub_season, day) if part
    )


def _medline_record(publication) -> str:
    book = publication.kind == "book"
    tags = [("PMID", str(publication.pmid or ""))]
    if not book:
        tags += [("VI", publication.volume), ("IP", publication.issue)]
    tags += [("DP", medline_date(publication)), ("TI", title(publication))]
    if book:
        tags.append(("BTI", publication.journal))
    tags.append(("PG", publication.pages))
    if publication.doi:
        tags.append(("LID", f"{publication.doi} [doi]"))
    tags.append(("AB", abstract(publication)))
    for author in publication.authors or []:
        if author.get("collective_name"):
            tags.append(("CN", author["collective_name"]))
            continue
        family, given = _person(author)
        suffix = author.get("suffix", "")
        tags.append(
            ("FAU", ", ".join(part for part in (family, " ".join(filter(None, (given, suffix)))) if part))
        )
        tags.append(("AU", " ".join(part for part in (family, author.get("initials", ""), suffix) if part)))
    tags.append(("LA", publication.language))
    tags += [("PT", kind) for kind in publication.publication_types or []]
    if not book:
        tags += [("TA", publication.journal), ("JT", publication.journal_title)]
    tags.append(("PMC", publication.pmcid))
    if publication.book_accession:
        tags.append(("AID", f"{publication.book_accession} [bookaccession]"))
    if publication.doi:
        tags.append(("AID", f"{publication.doi} [doi]"))
    tags.append(("SO", _medline_source(publication)))
    return "".join(_medline_line(tag, value) + "\n" for tag, value in tags if value and _one_line(value))


def _medline_source(publication) -> str:
    """SO: "Gut. 2017 Jun;66(6):1116-1122. doi: 10.1136/gutjnl-2016-312510."."""
    head = ". ".join(part for part in (publication.journal.rstrip("."), medline_date(publication)) if part)
    volume_issue = publication.volume + (f"({publication.issue})" if publication.issue else "")
    where = ":".join(part for part in (volume_issue, publication.pages) if part)
    source = f"{head};{where}." if where else f"{head}." if head else ""
    return f"{source} doi: {publication.doi}.".strip() if publication.doi else source


# --- BibTeX -------------------------------------------------------------------------------------

# Characters special to (La)TeX, as text. Braces become commands, never "\{": BibTeX counts every
# brace, escaped or not, and one unbalanced brace in a title would break the whole file.
_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_TEX_SPECIAL = re.compile("|".join(map(re.escape, _TEX_ESCAPES)))
# The inline markup a title or abstract keeps (``markup.INLINE_TAGS``), as LaTeX, each in a group of its
# own (a title's case is kept whole: ``_bibtex_title``).
_TEX_COMMANDS = {
    "i": "textit",
    "b": "textbf",
    "sup": "textsuperscript",
    "sub": "textsubscript",
    "u": "underline",
}
BIBTEX_MONTHS = MONTHS  # BibTeX's predefined month macros: jan ... dec


def tex(text: str) -> str:
    """Plain text as LaTeX text: specials escaped, whitespace on one line; other Unicode kept (UTF-8)."""
    return _TEX_SPECIAL.sub(lambda match: _TEX_ESCAPES[match.group()], _one_line(text))


def _verbatim(text: str) -> str:
    """A DOI as biblatex reads it (verbatim: an escaped "_" would break the link), braces dropped."""
    return _one_line(text).replace("{", "").replace("}", "")


class _InlineToTex(HTMLParser):
    """Cleaned inline HTML (i, b, sup, sub, u) as LaTeX; any other tag is dropped, its text kept."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _TEX_COMMANDS:
            self.parts.append(f"{{\\{_TEX_COMMANDS[tag]}{{")
            self.open.append(tag)

    def handle_endtag(self, tag):
        """Closes the innermost open ``tag`` and anything left open inside it; a stray end tag is dropped."""
        if tag in self.open:
            index = len(self.open) - 1 - self.open[::-1].index(tag)
            self.parts.append("}}" * (len(self.open) - index))
            del self.open[index:]

    def handle_data(self, data):
        self.parts.append(_TEX_SPECIAL.sub(lambda match: _TEX_ESCAPES[match.group()], data))

    def result(self) -> str:
        self.close()
        return "".join(self.parts) + "}}" * len(self.open)


def inline_tex(fragment: str) -> str:
    """A stored title or abstract (inline HTML) as LaTeX: "r<sup>2</sup>" is "r{\\textsuperscript{2}}"."""
    parser = _InlineToTex()
    parser.feed(" ".join((fragment or "").split()))
    return parser.result()


def bibtex(publications) -> str:
    """BibTeX: ``@article{pmid<PMID>, ...}`` (a book chapter ``@incollection``), UTF-8, every value braced."""
    return "\n".join(_bibtex_entry(publication) for publication in publications)


def _bibtex_names(publication) -> str:
    names = []
    for author in publication.authors or []:
        if author.get("collective_name"):
            names.append(f"{{{tex(author['collective_name'])}}}")  # one name, even with "and" in it
            continue
        family, given = _person(author)
        suffix = author.get("suffix", "")
        parts = [tex(family), tex(suffix), tex(given)] if suffix else [tex(family), tex(given)]
        names.append(", ".join(part for part in parts if part))
    if publication.more_authors and names:
        names.append("others")
    return " and ".join(names)


def _bibtex_title(fragment: str) -> str:
    """The title in a group of its own, so styles print it as PubMed gives it (as a rule, in sentence
    case). BibTeX styles lowercase a title but its first letter, gene names and proper nouns too ("HER2"
    to "her2", "Crohn" to "crohn"), even inside a group that opens with a command ("{\\textit{TERT}}")."""
    text = inline_tex(fragment)
    return f"{{{text}}}" if text else ""


def _bibtex_entry(publication) -> str:
    chapter = is_chapter(publication)
    kind = "incollection" if chapter else "book" if publication.kind == "book" else "article"
    sections = []
    for section in publication.abstract or []:
        label = _one_line(section.get("label") or "")
        text = inline_tex(section.get("text", ""))
        sections.append(f"{tex(label)}: {text}" if label and text else text or tex(label))
    container = "booktitle" if chapter else "journal" if kind == "article" else ""
    date = issued(publication)
    month = date[1] if len(date) > 1 else None
    fields = [
        ("author", _bibtex_names(publication)),
        ("title", _bibtex_title(publication.title)),
        (container, tex(publication.journal_title or publication.journal) if container else ""),
        ("year", tex(year(publication))),
        ("month", BIBTEX_MONTHS[month - 1] if month else ""),  # a macro, unbraced
        # The whole date for biblatex when PubMed gives the day (BibTeX has no day field; its styles
        # ignore a field they do not know, and print the year and month above).
        ("date", iso_date(date) if len(date) == 3 else ""),
        ("volume", tex(publication.volume)),
        ("number", tex(publication.issue)),
        ("pages", tex(_pages_joined(publication.pages, "--"))),
        ("doi", _verbatim(publication.doi)),
        ("pmid", str(publication.pmid or "")),
        ("pmcid", tex(publication.pmcid)),
        ("url", _pubmed_url(publication)),
        ("abstract", " ".join(part for part in sections if part)),
        ("note", RETRACTED_NOTE if publication.is_retracted else ""),
    ]
    lines = [
        f"  {name} = {value if name == 'month' else '{' + value + '}'}," for name, value in fields if value
    ]
    return "\n".join([f"@{kind}{{{_key(publication)},", *lines, "}", ""])


# --- CSL-JSON -----------------------------------------------------------------------------------


def csl_items(publications) -> list[dict]:
    """Citation Style Language items (what citeproc, Zotero and pandoc read), empty values left out."""
    return [_csl_item(publication) for publication in publications]


def csl_json(publications) -> str:
    return json.dumps(csl_items(publications), ensure_ascii=False, indent=2) + "\n"


def _csl_item(publication) -> dict:
    chapter = is_chapter(publication)
    kind = "chapter" if chapter else "book" if publication.kind == "book" else "article-journal"
    authors = []
    for author in publication.authors or []:
        if author.get("collective_name"):
            authors.append({"literal": author["collective_name"]})
            continue
        family, given = _person(author)
        name = {"family": family, "given": given, "suffix": author.get("suffix", "")}
        authors.append({key: value for key, value in name.items() if value})
    date = list(issued(publication))
    item = {
        "id": _key(publication),
        "type": kind,
        "title": title(publication),
        "author": authors,
        "container-title": (publication.journal_title or publication.journal) if kind != "book" else "",
        "container-title-short": publication.journal if kind == "article-journal" else "",
        "issued": {"date-parts": [date]} if date else None,
        "volume": publication.volume,
        "issue": publication.issue,
        "page": _pages_joined(publication.pages, "-"),
        "DOI": publication.doi,
        "PMID": str(publication.pmid or ""),
        "PMCID": publication.pmcid,
        "URL": _pubmed_url(publication),
        "abstract": abstract(publication),
        "note": RETRACTED_NOTE if publication.is_retracted else "",
    }
    if publication.pub_season and date:
        item["issued"]["season"] = publication.pub_season
    return {key: value for key, value in item.items() if value}


# --- The formats, as the site serves them -------------------------------------------------------


@dataclass(frozen=True)
class Format:
    build: object  # publications -> text
    content_type: str
    extension: str


# URL suffix -> format. Content types: RIS's registered-by-use type, PubMed's own for .nbib, the
# BibTeX type reference managers recognize, and CSL-JSON's.
FORMATS = {
    "ris": Format(ris, "application/x-research-info-systems", "ris"),
    "nbib": Format(medline, "application/nbib", "nbib"),
    "bib": Format(bibtex, "application/x-bibtex", "bib"),
    "json": Format(csl_json, "application/vnd.citationstyles.csl+json", "json"),
}
