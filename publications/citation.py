"""How a publication is cited on a page: the rules the seed page follows, in one place.

Plain functions of plain values, so each citation shape is tested on its own.
"""

from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass
from html import escape
from urllib.parse import quote, quote_plus

from .markup import clean_inline, inline_text

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
PUBMED_SEARCH_URL = "https://pubmed.ncbi.nlm.nih.gov/?term={term}"
RELATED_URL = "https://pubmed.ncbi.nlm.nih.gov/?linkname=pubmed_pubmed&from_uid={pmid}"
PMC_ARTICLE_URL = "https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/"
PMC_SEARCH_URL = "https://pmc.ncbi.nlm.nih.gov/search/?term={term}"
BOOKSHELF_URL = "https://www.ncbi.nlm.nih.gov/books/{accession}/"
DOI_URL = "https://doi.org/{doi}"
TRIAL_URL = "https://clinicaltrials.gov/study/{nct}"
CITE_FORMATS = (("ris", "RIS"), ("bib", "BibTeX"), ("nbib", "MEDLINE"), ("json", "CSL-JSON"))

MAX_AUTHORS_IN_FULL = 4
AUTHORS_BEFORE_ET_AL = 3


def author_name(author: dict) -> str:
    """ "León K" (or "King ML Jr", as PubMed and the MEDLINE export name him) for a person, the name as
    given for a collective."""
    if collective := author.get("collective_name"):
        return collective
    name = " ".join(filter(None, (author.get("last_name", ""), author.get("initials", ""))))
    return f"{name} {author['suffix']}" if name and author.get("suffix") else name


def author_line(authors: list[dict], *, more: bool = False) -> str:
    """Up to four authors in full; five or more, the first three and "et al.".

    ``more`` says the list is known to go on past what is stored (old-site entries kept only three).
    """
    names = [name for name in map(author_name, authors) if name]
    if more or len(names) > MAX_AUTHORS_IN_FULL:
        return ", ".join(names[:AUTHORS_BEFORE_ET_AL]) + ", et al."
    return ", ".join(names)


def citation_line(
    *, journal: str, year: str, season: str = "", medline_date: str = "", volume: str = "", issue: str = "",
    pages: str = ""
) -> str:  # fmt: skip
    """ "Cancer Discov. 2019; 9(6):694-695", "Arq Gastroenterol. 2018 Oct-Dec; 55(4):385-389".

    The date is the year, with the season when PubMed gives one; a MedlineDate is shown as given.
    """
    date = medline_date or " ".join(part for part in (year, season) if part)
    source = f"{journal.rstrip('.')}." if journal else ""
    head = " ".join(part for part in (source, date) if part)
    volume_issue = volume + (f"({issue})" if issue else "")
    where = ":".join(part for part in (volume_issue, pages) if part)
    return f"{head}; {where}" if where else head


# What doi.org says to percent-encode in a DOI made a URL: "%", '"', "#", space and "?" must be, and
# "<", ">", "{", "}", "^", "[", "]", "`", "|", "\\" and "+" should be (DOI Handbook, "DOI Name Encoding
# Rules for URL Presentation"); so is anything outside printable ASCII. Every other character is kept.
_DOI_SAFE = "/:;()!$&'*,=@"


def doi_url(doi: str) -> str:
    """A DOI as the doi.org URL that resolves it: "10.1000/456#789" is "https://doi.org/10.1000/456%23789"
    (a bare "#" would end the DOI where a fragment starts)."""
    return DOI_URL.format(doi=quote(doi, safe=_DOI_SAFE))


def pubmed_url(pmid: int | None, title_text: str) -> str:
    """The record itself; without a PMID (demo entries), a PubMed search for the exact title."""
    if pmid:
        return PUBMED_URL.format(pmid=pmid)
    return PUBMED_SEARCH_URL.format(term=quote_plus(f'"{title_text}"[Title]'))


def related_url(pmid: int | None) -> str | None:
    return RELATED_URL.format(pmid=pmid) if pmid else None


@dataclass(frozen=True)
class PmcAccess:
    """Whether the full text is free on PMC as of a date, and where."""

    url: str
    free_after: datetime.date | None = None  # set while under embargo

    @property
    def is_free(self) -> bool:
        return self.free_after is None


def pmc_access(
    *, in_pmc: bool, pmcid: str, release_date: datetime.date | None, title_text: str, as_of: datetime.date,
    book_accession: str = "",
) -> PmcAccess | None:  # fmt: skip
    """Free now, under embargo until a date, or not in PMC at all (None).

    ``as_of`` is the day the page's list was last refreshed, so a page shows one consistent
    snapshot next to its "Page last updated" date (and a cached page never goes stale by itself).
    A book chapter (GeneReviews and the like) is free on NCBI Bookshelf, which has no embargo.
    """
    if book_accession:
        return PmcAccess(url=BOOKSHELF_URL.format(accession=book_accession))
    if not in_pmc:
        return None
    url = (
        PMC_ARTICLE_URL.format(pmcid=pmcid)
        if pmcid
        else PMC_SEARCH_URL.format(term=quote_plus(f'"{title_text}"[Title]'))
    )
    if release_date and release_date > as_of:
        return PmcAccess(url=url, free_after=release_date)
    return PmcAccess(url=url)


# One entry's HTML, built once when the record changes (``Publication.normalize``) and stored on the row.
# The only part that depends on the day is the PMC link's label under embargo; the stored HTML has the
# "free" label, and ``entry_for_date`` swaps it for the embargo label on the rare row that needs it.
FREE_LABEL = "Free Access to Full Article"
_FREE_ANCHOR_END = f">{FREE_LABEL}</a>"


def entry_html(publication, *, cleaned: bool = False) -> str:
    """A publication's ``<li>`` as on the page, from its stored columns; every value escaped.

    Titles and abstracts go through ``clean_inline`` (i, b, sup, sub, u kept, the rest escaped)
    unless ``cleaned`` says the caller has just cleaned them. Around the citation the old site showed
    (authors, title, source line and its links, unchanged) come the evidence at a glance: the kind of
    study, warnings about retraction and correction, the identifiers, PubMed's links to other papers.
    """
    clean = (lambda fragment: fragment or "") if cleaned else (lambda fragment: clean_inline(fragment or ""))
    title = clean(publication.title)
    retracted = publication.is_retracted
    links = list(getattr(publication, "comments_corrections", None) or [])
    corrected = is_corrected(links, publication.publication_types)
    classes = "publication" + (" retracted" if retracted else "") + (" corrected" if corrected else "")
    parts = [
        f'<li class="{classes}">\n',
        f'<p class="authors">{escape(author_line(publication.authors, more=publication.more_authors))}</p>\n',
        f'<h3 class="title" lang="en">{title}</h3>\n',
    ]
    if retracted:
        parts.append(_retraction_warning(publication.retraction_notices))
    if corrected:
        parts.append(_correction_warning(links))
    parts.append(_evidence_badges(publication.publication_types))
    # The plain title is needed only for links that search by title (no PMID, or no PMCID).
    title_text = inline_text(title) if not (publication.pmid and publication.pmcid) else ""
    parts.append(_citation_paragraph(publication, title_text))
    parts.append(_identifiers(publication))
    parts.append(_links_list(links))
    if publication.abstract:
        parts.append('<details class="abstract">\n<summary>Abstract</summary>\n')
        for section in publication.abstract:
            label = section.get("label")
            head = f'<span class="abstract-label">{escape(label)}:</span> ' if label else ""
            parts.append(f"<p>{head}{link_trials(clean(section.get('text', '')))}</p>\n")
        parts.append("</details>\n")
    if publication.pmid:
        parts.append(_cite_as(publication.pmid))
    parts.append("</li>\n")
    return "".join(parts)


_NOTICE_PMID = re.compile(r"PMID: ?([0-9]+)\s*$")


def _retraction_warning(notices: list[str]) -> str:
    """The warning, each notice linked to its PubMed record when it names one."""
    said = f" ({'; '.join(map(_notice_link, notices))})" if notices else ""
    return (
        '<p class="retraction-warning" role="note"><strong>Retracted publication:</strong> this article has '
        f"been retracted{said}. Do not rely on its findings.</p>\n"
    )


def _notice_link(notice: str) -> str:
    if found := _NOTICE_PMID.search(notice):
        return f'<a href="{PUBMED_URL.format(pmid=int(found[1]))}" rel="noopener">{escape(notice)}</a>'
    return escape(notice)


# Evidence at a glance: PubMed's publication types that say what kind of study a paper is, as
# (badge key, label, PubMed's type names), strongest first. A filter on the page picks by key.
EVIDENCE_TYPES = (
    ("guideline", "Guideline", {"Practice Guideline", "Guideline"}),
    ("meta-analysis", "Meta-analysis", {"Meta-Analysis", "Network Meta-Analysis"}),
    ("systematic-review", "Systematic review", {"Systematic Review"}),
    ("rct", "Randomized controlled trial", {"Randomized Controlled Trial"}),
    ("clinical-trial", "Clinical trial", {
        "Clinical Trial", "Controlled Clinical Trial", "Pragmatic Clinical Trial", "Equivalence Trial",
        "Adaptive Clinical Trial", "Clinical Trial, Veterinary",
    }),
    ("review", "Review", {"Review", "Scoping Review"}),
)  # fmt: skip
_PHASE = re.compile(r"^Clinical Trial, Phase (I{1,3}|IV)$")
# What the page's filters (``?only=``) keep, by badge key.
FILTER_KINDS = {
    "reviews": {"review", "systematic-review", "meta-analysis", "guideline"},
    "trials": {"rct", "clinical-trial"},
}


def evidence(publication_types) -> list[tuple[str, str]]:
    """(key, label) of each kind of study the types say, strongest first: "Clinical trial, phase III".

    A systematic review is also typed "Review" by PubMed: the plain badge is left out then.
    """
    types = set(publication_types or ())
    phases = sorted(found[1] for found in map(_PHASE.match, types) if found)
    badges = []
    for key, label, names in EVIDENCE_TYPES:
        if key == "clinical-trial" and phases:
            badges.append((key, f"{label}, phase {'/'.join(phases)}"))
        elif types & names:
            badges.append((key, label))
    keys = {key for key, _ in badges}
    if "review" in keys and keys & {"systematic-review", "meta-analysis"}:
        badges = [badge for badge in badges if badge[0] != "review"]
    return badges


def evidence_keys(publication_types) -> frozenset[str]:
    """The kinds of study a record's types say (``FILTER_KINDS``' keys): a list reads them once per
    distinct list of types, which few publications do not share."""
    return _evidence_keys(tuple(publication_types or ()))


@functools.lru_cache(maxsize=1024)
def _evidence_keys(publication_types: tuple[str, ...]) -> frozenset[str]:
    return frozenset(key for key, _ in evidence(publication_types))


def _evidence_badges(publication_types) -> str:
    badges = evidence(publication_types)
    if not badges:
        return ""
    items = "".join(f'<li class="badge badge-{key}">{escape(label)}</li>' for key, label in badges)
    return f'<ul class="evidence" aria-label="Type of study">{items}</ul>\n'


# PubMed's links between papers (CommentsCorrections RefType), worded as PubMed shows them.
LINK_WORDS = {
    "RetractionIn": "Retraction in", "RetractionOf": "Retraction of",
    "PartialRetractionIn": "Partial retraction in", "PartialRetractionOf": "Partial retraction of",
    "RetractedandRepublishedIn": "Retracted and republished in",
    "RetractedandRepublishedFrom": "Retracted and republished from",
    "ErratumIn": "Erratum in", "ErratumFor": "Erratum for",
    "CorrectedandRepublishedIn": "Corrected and republished in",
    "CorrectedandRepublishedFrom": "Corrected and republished from",
    "ExpressionOfConcernIn": "Expression of concern in",
    "ExpressionOfConcernFor": "Expression of concern for",
    "CommentIn": "Comment in", "CommentOn": "Comment on",
    "UpdateIn": "Update in", "UpdateOf": "Update of",
    "RepublishedIn": "Republished in", "RepublishedFrom": "Republished from",
    "ReprintIn": "Reprint in", "ReprintOf": "Reprint of",
    "SummaryForPatientsIn": "Summary for patients in", "OriginalReportIn": "Original report in",
    "AssociatedDataset": "Associated dataset", "AssociatedPublication": "Associated publication",
}  # fmt: skip
CORRECTION_TYPES = {"ErratumIn", "CorrectedandRepublishedIn"}
_WORD_START = re.compile(r"(?<=[a-z])(?=[A-Z])")


def link_words(ref_type: str) -> str:
    """ "Erratum in"; a type PubMed adds later is spelled out from its name ("FooBarIn": "Foo bar in")."""
    if ref_type in LINK_WORDS:
        return LINK_WORDS[ref_type]
    return _WORD_START.sub(" ", ref_type).capitalize()


def link_line(link: dict) -> str:
    """One link as plain text, "Erratum in: Cell Rep. 2022 Jun 28;39(13):111044. PMID: 35767954"."""
    pmid = f"PMID: {link['pmid']}" if link.get("pmid") else ""
    said = " ".join(filter(None, [link.get("source", ""), pmid]))
    return f"{link_words(link.get('type', ''))}: {said}"


def is_corrected(links, publication_types=()) -> bool:
    """An erratum, or a corrected and republished version, is on record for the paper."""
    return any(link.get("type") in CORRECTION_TYPES for link in links) or (
        "Corrected and Republished Article" in (publication_types or ())
    )


def _link_anchor(link: dict) -> str:
    said = escape(link.get("source") or (f"PMID {link['pmid']}" if link.get("pmid") else ""))
    if link.get("pmid"):
        return f'<a href="{PUBMED_URL.format(pmid=int(link["pmid"]))}" rel="noopener">{said}</a>'
    return said


def _correction_warning(links) -> str:
    notices = [link for link in links if link.get("type") in CORRECTION_TYPES]
    said = "; ".join(f"{escape(link_words(link['type']))}: {_link_anchor(link)}" for link in notices)
    return (
        '<p class="correction-warning" role="note"><strong>Corrected publication:</strong> a correction to '
        f"this article has been published{f' ({said})' if said else ''}. Read it with the correction.</p>\n"
    )


def _links_list(links) -> str:
    if not links:
        return ""
    items = "".join(
        f'<li class="link-{escape(kind.lower())}">{escape(link_words(kind))}: {_link_anchor(link)}</li>'
        for link in links
        for kind in [link.get("type", "")]
    )
    return f'<ul class="comments-corrections" aria-label="Linked publications">{items}</ul>\n'


_MONTH_NUMBERS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}


def publication_date(year: str, month: str, day: str, dates=None) -> tuple[datetime.date, str] | None:
    """The full date the issue is dated, or else the day it was published online ("Epub"); None if
    PubMed gives neither (the year in the source line is all there is)."""
    try:
        return datetime.date(int(year), _MONTH_NUMBERS[month], int(day)), "Published"
    except (KeyError, ValueError):
        pass
    electronic = (dates or {}).get("electronic")
    try:
        return (datetime.date.fromisoformat(electronic), "Epub") if electronic else None
    except ValueError:
        return None


def _identifiers(publication) -> str:
    """Date, PMID, DOI (to doi.org) and PMCID (to PMC) on one line; nothing for an entry with none."""
    parts = []
    dated = publication_date(
        publication.pub_year, publication.pub_month, getattr(publication, "pub_day", ""), publication.dates
    )
    if dated:
        day, word = dated
        parts.append(f'{word} <time datetime="{day.isoformat()}">{day.day} {day:%B %Y}</time>')
    if publication.pmid:
        url = PUBMED_URL.format(pmid=publication.pmid)
        parts.append(f'PMID: <a href="{url}" rel="noopener">{publication.pmid}</a>')
    if publication.doi:
        url = doi_url(publication.doi)
        parts.append(f'DOI: <a href="{escape(url)}" rel="noopener">{escape(publication.doi)}</a>')
    if publication.pmcid:
        url = PMC_ARTICLE_URL.format(pmcid=quote(publication.pmcid, safe=""))
        parts.append(f'PMCID: <a href="{escape(url)}" rel="noopener">{escape(publication.pmcid)}</a>')
    return f'<p class="identifiers">{" · ".join(parts)}</p>\n' if parts else ""


_TRIAL_ID = re.compile(r"\bNCT[0-9]{8}\b")


def link_trials(html: str) -> str:
    """ClinicalTrials.gov ids in cleaned abstract HTML (text and bare tags only) linked to the trial."""
    if "NCT" not in html:  # most abstracts: no regex scan
        return html
    return _TRIAL_ID.sub(
        lambda found: f'<a href="{TRIAL_URL.format(nct=found[0])}" rel="noopener">{found[0]}</a>', html
    )


def _cite_as(pmid: int) -> str:
    links = " · ".join(
        f'<a href="/cite/{pmid}.{ext}" rel="nofollow">{label}</a>' for ext, label in CITE_FORMATS
    )
    return f'<p class="cite-as">Cite: {links}</p>\n'


def _citation_paragraph(publication, title_text: str) -> str:
    """Source line, [PubMed], the PMC or Bookshelf link (its "free" form) and Related Publications."""
    source = citation_line(
        journal=publication.journal, year=publication.pub_year, season=publication.pub_season,
        medline_date=publication.medline_date, volume=publication.volume, issue=publication.issue,
        pages=publication.pages,
    )  # fmt: skip
    links = [f'<a href="{escape(pubmed_url(publication.pmid, title_text))}" rel="noopener">[PubMed]</a>']
    pmc = pmc_access(
        in_pmc=publication.in_pmc, pmcid=publication.pmcid, release_date=None, title_text=title_text,
        as_of=datetime.date.max, book_accession=publication.book_accession,
    )  # fmt: skip
    if pmc:
        links.append(f'<a href="{escape(pmc.url)}" rel="noopener">{FREE_LABEL}</a>')
    if related := related_url(publication.pmid):
        links.append(f'<a href="{escape(related)}" rel="noopener">Related Publications</a>')
    return (
        f'<p class="citation">\n<span class="source">{escape(source)}</span>\n'
        + "\n".join(links)
        + "\n</p>\n"
    )


def entry_for_date(
    html: str, *, release_date: datetime.date | None, book_accession: str, as_of: datetime.date
) -> str:
    """The stored entry as of a day: under PMC embargo, the free label becomes "free after <date>"."""
    if release_date is None or release_date <= as_of or book_accession:
        return html
    return html.replace(
        _FREE_ANCHOR_END, f">Article available free on PMC after {release_date:%d/%m/%Y}</a>", 1
    )
