"""Try a PubMed query before it is saved: what PubMed makes of it, and what it would do to a page's list.

Plain functions behind the admin's "Test query" and the page form's check of a changed query. They ask
NCBI through the refresh's client (``refresh.make_client``: the same shared rate limit) and store
nothing: the first titles are built from the fetched records as unsaved rows and rendered with the
entry template readers' pages use.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.template.loader import render_to_string
from django.utils import timezone

from treatments.models import TreatmentPage

from .models import Exclusion, PageListing, Publication
from .pubmed import (
    EutilsClient,
    EutilsError,
    EutilsQueryError,
    ParseResult,
    PubmedParseError,
    iter_efetch,
    parse_esearch,
)
from .refresh import MAX_PMID, make_client, search_size

SAMPLE_SIZE = 10  # titles shown, as readers would see them
# An editor is waiting on the page: one retry at most, and a deadline well short of a refresh's.
INTERACTIVE = {"max_retries": 1, "deadline": 30.0}
# NCBI's ErrorList and WarningList children, in words.
NCBI_MESSAGES = {
    "PhraseNotFound": "PubMed found no match for",
    "FieldNotFound": "PubMed does not know the field",
    "QuotedPhraseNotFound": "PubMed found no match for the quoted phrase",
    "PhraseIgnored": "PubMed ignored",
    "OutputMessage": "PubMed says:",
}
PAIRS = {"(": ")", "[": "]"}


@dataclass
class ListDiff:
    """What the next refresh would change in a page's list, compared with the list as it is."""

    added: int
    dropped: int

    def __str__(self) -> str:
        return f"{self.added} new, {self.dropped} dropped"


@dataclass
class QueryTest:
    """What PubMed makes of a query: count, translation, problems, and the first entries as HTML."""

    query: str
    count: int = 0
    translation: str = ""
    problems: list[str] = field(default_factory=list)  # NCBI's errors and warnings, our syntax checks
    entries: list[str] = field(default_factory=list)  # the first titles, each an <li> as on the page
    diff: ListDiff | None = None  # with a saved page: what the next refresh would change
    unavailable: str = ""  # PubMed could not be asked, or its answer read: this never blocks saving
    titles_unavailable: str = ""  # the search worked but the titles could not be fetched

    @property
    def needs_confirmation(self) -> bool:
        """PubMed rejected or warned about the query (or it is unbalanced): saving it needs a yes."""
        return bool(self.problems)

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "count": self.count,
            "translation": self.translation,
            "problems": self.problems,
            "needs_confirmation": self.needs_confirmation,
            "unavailable": self.unavailable,
            "titles_unavailable": self.titles_unavailable,
            "diff": {"added": self.diff.added, "dropped": self.diff.dropped} if self.diff else None,
            "entries": len(self.entries),
        }


def test_query(
    query: str, *, page: TreatmentPage | None = None, titles: bool = True, client: EutilsClient | None = None
) -> QueryTest:
    """Ask PubMed about ``query``: its count, translation, errors and warnings, and the first titles.

    With a saved ``page``, also what the next refresh with this query would change in its list. Only
    a failure to reach PubMed is reported as ``unavailable``; everything else PubMed says is a problem.
    """
    result = QueryTest(query=query, problems=syntax_problems(query))
    if not query.strip():
        result.problems.append("The query is empty.")
        return result
    with _interactive(client) as eutils:
        pmids = _search(
            eutils, query, result, retmax=max(SAMPLE_SIZE, search_size(page)) if page else SAMPLE_SIZE
        )
        if pmids and page is not None and page.pk:
            result.diff = _diff(page, pmids)
        if pmids and titles:
            _fetch_titles(eutils, pmids[:SAMPLE_SIZE], result)
    return result


test_query.__test__ = False  # a function named test_* that pytest must not collect


def preview_diff(page: TreatmentPage, query: str, *, client: EutilsClient | None = None) -> ListDiff | None:
    """What the next refresh with ``query`` would bring into the page's list and drop; None if unknown."""
    return test_query(query, page=page, titles=False, client=client).diff


def syntax_problems(query: str) -> list[str]:
    """Unbalanced brackets and quotes, which PubMed reads in ways nobody meant (checked here first)."""
    problems, stack, quoted = [], [], False
    for char in query:
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in PAIRS:
            stack.append(char)
        elif char in PAIRS.values():
            if stack and PAIRS[stack[-1]] == char:
                stack.pop()
            else:
                problems.append(f"Unbalanced brackets: a “{char}” closes nothing.")
    if quoted:
        problems.append('Unbalanced quotes: a “"” is never closed.')
    problems += [f"Unbalanced brackets: a “{char}” is never closed." for char in dict.fromkeys(stack)]
    return problems


def describe_ncbi_message(message: str) -> str:
    """``parse_esearch``'s "PhraseNotFound: abcXYZ" in words: "PubMed found no match for abcXYZ"."""
    tag, _, text = message.partition(": ")
    label = NCBI_MESSAGES.get(tag)
    return f"{label} {text}" if label else message


@contextmanager
def _interactive(client: EutilsClient | None) -> Iterator[EutilsClient]:
    """The caller's client, or one for an editor who is waiting, closed afterwards."""
    if client is not None:
        yield client
        return
    with make_client(**INTERACTIVE) as owned:
        yield owned


def _search(eutils: EutilsClient, query: str, result: QueryTest, *, retmax: int) -> list[int]:
    try:
        found = parse_esearch(eutils.esearch(query, retmax=retmax))
    except EutilsQueryError as exc:  # HTTP 400: NCBI refused the query itself
        result.problems.append(f"PubMed rejected the query: {exc.ncbi_message or exc}")
        return []
    except PubmedParseError as exc:
        if exc.ncbi_error:  # an <ERROR> document: NCBI could not run the query
            result.problems.append(f"PubMed rejected the query: {exc.ncbi_error}")
        else:
            result.unavailable = f"PubMed's answer could not be read ({exc})."
        return []
    except EutilsError as exc:
        result.unavailable = f"PubMed could not be asked: {exc}"
        return []
    result.count, result.translation = found.count, found.query_translation
    result.problems += [describe_ncbi_message(message) for message in found.errors + found.warnings]
    return [pmid for pmid in found.pmids if 0 < pmid <= MAX_PMID]


def _fetch_titles(eutils: EutilsClient, pmids: list[int], result: QueryTest) -> None:
    """The first records as readers would see them: unsaved rows through the page's entry template."""
    parsed = ParseResult()
    try:
        records = {
            record.pmid: record for record in iter_efetch(io.BytesIO(eutils.efetch(pmids)), result=parsed)
        }
    except EutilsError as exc:
        result.titles_unavailable = f"The titles could not be fetched: {exc}"
        return
    today = timezone.localdate()
    for pmid in pmids:
        if (record := records.get(pmid)) is not None:
            publication = Publication.from_record(record)
            context = {"publication": publication, "as_of": today}
            result.entries.append(render_to_string("publications/_entry.html", context))


def _diff(page: TreatmentPage, pmids: list[int]) -> ListDiff:
    """Mirrors ``refresh.apply``: the found entries make the list, but for PMIDs editors excluded from
    the page; pinned, hidden and hand-added entries stay whatever the search finds."""
    found = set(pmids) - set(Exclusion.objects.filter(page=page).values_list("pmid", flat=True))
    listed = PageListing.objects.filter(page=page).values_list(
        "publication__pmid", "pinned", "hidden", "added_by_hand"
    )
    listed_pmids, dropped = set(), 0
    for pmid, *kept in listed:
        listed_pmids.add(pmid)
        if pmid not in found and not any(kept):
            dropped += 1
    return ListDiff(added=len(found - listed_pmids), dropped=dropped)
