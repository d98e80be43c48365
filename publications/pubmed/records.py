"""Plain data that the PubMed parser produces and the refresh consumes.

No Django here: the parser can be tested on a file alone, and the refresh maps
these onto model rows in one place (``publications.refresh``).
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Author:
    """A person (last name and initials) or a collective name, as PubMed gives it."""

    last_name: str = ""
    fore_name: str = ""
    initials: str = ""
    suffix: str = ""
    collective_name: str = ""


@dataclass(frozen=True)
class AbstractSection:
    """One AbstractText element; ``text`` is cleaned inline HTML (i, b, sup, sub, u)."""

    text: str
    label: str = ""
    nlm_category: str = ""


@dataclass
class PubmedRecord:
    """Everything a citation needs, from one PubmedArticle or PubmedBookArticle."""

    pmid: int
    title: str  # cleaned inline HTML
    kind: str = "article"  # "article" or "book"
    authors: list[Author] = field(default_factory=list)
    journal_iso: str = ""  # ISOAbbreviation (for a book: the book title, cleaned text)
    journal_title: str = ""
    pub_year: str = ""  # "2019"
    pub_month: str = ""  # "Jun" as PubMed spells it, or ""
    pub_day: str = ""
    pub_season: str = ""  # "Oct-Dec"
    medline_date: str = ""  # "2018 Oct-Dec", kept verbatim
    volume: str = ""
    issue: str = ""
    pages: str = ""  # MedlinePgn
    elocation_ids: list[tuple[str, str]] = field(default_factory=list)  # (EIdType, value)
    doi: str = ""
    pmcid: str = ""  # "PMC6391543"
    book_accession: str = ""  # NCBI Bookshelf id, "NBK1403": a book's link target (it has no PMCID)
    pmc_release_date: datetime.date | None = None
    abstract: list[AbstractSection] = field(default_factory=list)
    publication_types: list[str] = field(default_factory=list)
    dates: dict[str, str] = field(default_factory=dict)  # e.g. {"pubmed": "2019-02-06", ...}
    language: str = ""
    is_retracted: bool = False
    retraction_notices: list[str] = field(default_factory=list)  # "Cancer Discov. 2020;...; PMID 123"
    # Links NLM records to other papers (retraction, erratum, comment, update...), as
    # {"type": "ErratumIn", "pmid": 123 or None, "source": "Cell Rep. 2022 ..."}; not "Cites" (references).
    comments_corrections: list[dict] = field(default_factory=list)
    source_xml: str = ""  # the article element without its reference list (pubmed.trim), for re-parsing later

    def as_json(self) -> dict:
        data = asdict(self)
        data["pmc_release_date"] = self.pmc_release_date.isoformat() if self.pmc_release_date else None
        return data


@dataclass(frozen=True)
class ParseProblem:
    """An article the parser skipped, and why; the rest of the batch is kept."""

    message: str
    pmid: int | None = None


@dataclass
class ParseResult:
    records: list[PubmedRecord] = field(default_factory=list)
    deleted_pmids: list[int] = field(default_factory=list)  # DeleteCitation
    problems: list[ParseProblem] = field(default_factory=list)


@dataclass
class SearchResult:
    """One esearch response: the total hit count and this page of PMIDs."""

    count: int
    pmids: list[int] = field(default_factory=list)
    query_translation: str = ""
    errors: list[str] = field(default_factory=list)  # ErrorList children: "PhraseNotFound: abcXYZ"
    warnings: list[str] = field(default_factory=list)  # "OutputMessage: No items found."
