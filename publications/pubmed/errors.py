"""Every error the ``pubmed`` package raises, and the one response size limit.

All of them derive from ``EutilsError`` so a caller can catch the whole package in one clause; their
``str()`` is written for editors, who read it in a refresh run's error.

    EutilsError
    ├── EutilsQueryError     NCBI rejected the request (HTTP 400): the query must change
    ├── EutilsUnavailable    NCBI unreachable or failing: try again later
    ├── ResponseTooLarge     over MAX_RESPONSE_BYTES: refused by the client or the parser
    └── PubmedParseError     the response as a whole cannot be used
        └── MalformedResponse
"""

from __future__ import annotations

# Far above NCBI's largest answer (a 200-record efetch is a few megabytes); a response this big is
# a fault, and refusing it bounds the memory one refresh can take. The client stops reading past it
# and the parser will not parse more, so there is one limit whichever way the bytes arrive.
MAX_RESPONSE_BYTES = 50_000_000


class EutilsError(Exception):
    """Base of every failure of the package; ``str()`` is meant for an editor."""


class EutilsQueryError(EutilsError):
    """NCBI rejected the request itself (HTTP 400), typically a malformed search term.

    Retrying cannot help: the editor must fix the query. ``ncbi_message`` is NCBI's own text.
    """

    def __init__(self, message: str, *, ncbi_message: str = "") -> None:
        super().__init__(message)
        self.ncbi_message = ncbi_message


class EutilsUnavailable(EutilsError):
    """NCBI could not be reached or kept failing; worth trying again later.

    ``reason`` is the last failure (e.g. "HTTP 429: API rate limit exceeded").
    """

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class ResponseTooLarge(EutilsError):
    """A response over the size limit, refused unread; fetching fewer records per request may help.

    Not a PubmedParseError: nothing was parsed, and the advice differs from "the answer was garbled".
    ``what`` names the response ("NCBI's efetch.fcgi response"); ``limit`` is the limit in bytes.
    """

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} exceeded the {limit:,}-byte limit; fetch fewer records per request.")
        self.limit = limit


class PubmedParseError(EutilsError, ValueError):
    """The response as a whole cannot be used; ``ncbi_error`` is NCBI's own message, if it sent one.

    A ValueError too: it is bad data, and callers outside the package may treat it as such.
    """

    def __init__(self, message: str, *, ncbi_error: str = "") -> None:
        super().__init__(message)
        self.ncbi_error = ncbi_error


class MalformedResponse(PubmedParseError):
    """Not XML, truncated, an NCBI error document, or not the expected root element."""
