"""Everything the site knows about NCBI's PubMed E-utilities, and nothing about Django.

What it offers:

- ``make_client(...)`` builds an ``EutilsClient`` whose request rate is shared through Redis when
  there is one; ``esearch`` and ``efetch``/``efetch_batches`` return NCBI's raw XML.
- ``parse_esearch`` and ``parse_efetch`` (``iter_efetch``: one article at a time) turn that XML into
  the plain records of ``records``
  (``SearchResult``, ``ParseResult`` of ``PubmedRecord``).
- Every failure is an ``EutilsError`` whose message an editor can read; the subclasses say whether
  to fix the query, try again later, or fetch less.

Inside: ``client`` (HTTP, retries), ``ratelimit`` (NCBI's requests per second, per process or through
Redis), ``parser`` and ``records``, and ``errors`` (the error classes and the one response size limit).
"""

from publications.pubmed.client import EutilsClient, make_client
from publications.pubmed.errors import (
    EutilsError,
    EutilsQueryError,
    EutilsUnavailable,
    MalformedResponse,
    PubmedParseError,
    ResponseTooLarge,
)
from publications.pubmed.parser import iter_efetch, parse_efetch, parse_esearch
from publications.pubmed.records import (
    AbstractSection,
    Author,
    ParseProblem,
    ParseResult,
    PubmedRecord,
    SearchResult,
)

__all__ = [
    "AbstractSection",
    "Author",
    "EutilsClient",
    "EutilsError",
    "EutilsQueryError",
    "EutilsUnavailable",
    "MalformedResponse",
    "ParseProblem",
    "ParseResult",
    "PubmedParseError",
    "PubmedRecord",
    "ResponseTooLarge",
    "SearchResult",
    "iter_efetch",
    "make_client",
    "parse_efetch",
    "parse_esearch",
]
