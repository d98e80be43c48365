"""How a publication is cited on a page: the rules the seed page follows, in one place.

Plain functions of plain values, so each citation shape is tested on its own.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from html import escape
from urllib.parse import quote_plus

from .markup import clean_inline, inline_text

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
PUBMED_SEARCH_URL = "https://pubmed.ncbi.nlm.nih.gov/?term={term}"
RELATED_URL = "https://pubmed.ncbi.nlm.nih.gov/?linkname=pubmed_pubmed&from_uid={pmid}"
PMC_ARTICLE_URL = "https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/"
PMC_SEARCH_URL = "https://pmc.ncbi.nlm.nih.gov/search/?term={term}"
BOOKSHELF_URL = "https://www.ncbi.nlm.nih.gov/books/{accession}/"

MAX_AUTHORS_IN_FULL = 4
AUTHORS_BEFORE_ET_AL = 3


def author_name(author: dict) -> str:
    """ "León K" for a person, the name as given for a collective."""
    if author.get("collective_name"):
        return author["collective_name"]
    return " ".join(part for part in (author.get("last_name", ""), author.get("initials", "")) if part)


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
    unless ``cleaned`` says the caller has just cleaned them.
    """
    clean = (lambda fragment: fragment or "") if cleaned else (lambda fragment: clean_inline(fragment or ""))
    title = clean(publication.title)
    retracted = publication.is_retracted
    parts = [
        f'<li class="publication{" retracted" if retracted else ""}">\n',
        f'<p class="authors">{escape(author_line(publication.authors, more=publication.more_authors))}</p>\n',
        f'<h3 class="title" lang="en">{title}</h3>\n',
    ]
    if retracted:
        parts.append(_retraction_warning(publication.retraction_notices))
    # The plain title is needed only for links that search by title (no PMID, or no PMCID).
    title_text = inline_text(title) if not (publication.pmid and publication.pmcid) else ""
    parts.append(_citation_paragraph(publication, title_text))
    if publication.abstract:
        parts.append('<div class="abstract">\n')
        for section in publication.abstract:
            label = section.get("label")
            head = f'<span class="abstract-label">{escape(label)}:</span> ' if label else ""
            parts.append(f"<p>{head}{clean(section.get('text', ''))}</p>\n")
        parts.append("</div>\n")
    parts.append("</li>\n")
    return "".join(parts)


def _retraction_warning(notices: list[str]) -> str:
    said = f" ({escape('; '.join(notices))})" if notices else ""
    return (
        '<p class="retraction-warning" role="note"><strong>Retracted publication:</strong> this article has '
        f"been retracted{said}. Do not rely on its findings.</p>\n"
    )


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
