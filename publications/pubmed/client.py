"""HTTP client for NCBI E-utilities (esearch, efetch): the only code that talks to NCBI.

No Django here, so it can be tested against a fake server and used from any process. It
returns raw response bytes; turning them into records is the parser's job. What it owns is
being a good citizen towards NCBI (one shared rate limit from ``ratelimit``, identification,
backoff, a size cap) and turning every failure into an ``EutilsError`` (see ``errors``) an editor
can read in the admin.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Self

import httpx

from publications.pubmed.errors import (
    MAX_RESPONSE_BYTES,
    EutilsError,
    EutilsQueryError,
    EutilsUnavailable,
    ResponseTooLarge,
)
from publications.pubmed.ratelimit import LocalRateLimiter, RateLimiter, rate_for, shared_rate_limiter

logger = logging.getLogger(__name__)

_DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
_MAX_EFETCH_IDS = 200  # NCBI asks for batches of at most 200 UIDs
_POST_ABOVE_IDS = 50  # longer id lists go in a POST body rather than the URL
_MAX_URL_LENGTH = 2000  # beyond this, proxies and NCBI may refuse a GET
_MAX_ESEARCH_RETMAX = 10_000  # PubMed's esearch never returns more ids than this
_ERROR_BODY_BYTES = 64 * 1024  # enough to read NCBI's error message, never a whole page


class _Retryable(Exception):
    """A failure worth another attempt; ``retry_after`` is NCBI's requested wait, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _normalise_base_url(base_url: str) -> str:
    """The E-utilities base URL with exactly one trailing slash, so endpoints can be appended."""
    base_url = base_url.strip()
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"E-utilities base URL must start with http:// or https://, got {base_url!r}")
    return base_url.rstrip("/") + "/"


class EutilsClient:
    """Talks to esearch and efetch politely: rate-limited, identified, size-capped, retried.

    ``sleep`` (backoff waits) and ``jitter`` (a float in [0, 1)) are injectable so tests
    can check the backoff without waiting; the rate limiter always sleeps for real.
    """

    def __init__(
        self,
        base_url: str,
        *,
        tool: str,
        email: str,
        api_key: str | None = None,
        timeout: float = 15.0,
        deadline: float = 120.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        rate_limiter: RateLimiter | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if not tool or any(ch.isspace() for ch in tool):
            raise ValueError(f"NCBI tool name must be non-empty without spaces, got {tool!r}")
        if "@" not in email:
            raise ValueError(f"NCBI requires a contact email address, got {email!r}")
        self.base_url = _normalise_base_url(base_url)
        self.tool = tool
        self.email = email
        self.api_key = api_key or None
        self.timeout = timeout
        # httpx's timeout is per network step: a server that sends a byte now and then never trips
        # it. ``deadline`` bounds one whole request, whatever the server does.
        self.deadline = deadline
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.rate_limiter = rate_limiter or LocalRateLimiter(rate_for(self.api_key))
        self.max_response_bytes = max_response_bytes
        self._sleep = sleep
        self._jitter = jitter
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": f"{tool} (mailto:{email}) python-httpx/{httpx.__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def esearch(self, term: str, *, retmax: int) -> bytes:
        """PMIDs matching ``term``, most recently published first, as NCBI's eSearchResult XML."""
        if not term.strip():
            raise ValueError("esearch needs a non-empty search term")
        if not 0 <= retmax <= _MAX_ESEARCH_RETMAX:
            raise ValueError(f"retmax must be between 0 and {_MAX_ESEARCH_RETMAX}, got {retmax}")
        params = {
            "db": "pubmed",
            "term": term,
            "retmax": str(retmax),
            "sort": "pub_date",
            "retmode": "xml",
            "usehistory": "n",
        }
        return self._call("esearch.fcgi", params)

    def efetch(self, pmids: Sequence[int]) -> bytes:
        """Full PubMed XML (a PubmedArticleSet) for up to 200 PMIDs; NCBI omits unknown ones."""
        if not pmids:
            raise ValueError("efetch needs at least one PMID")
        if len(pmids) > _MAX_EFETCH_IDS:
            raise ValueError(f"efetch takes at most {_MAX_EFETCH_IDS} PMIDs per request, got {len(pmids)}")
        params = {"db": "pubmed", "id": ",".join(str(int(pmid)) for pmid in pmids), "retmode": "xml"}
        return self._call("efetch.fcgi", params, force_post=len(pmids) > _POST_ABOVE_IDS)

    def efetch_batches(
        self, pmids: Sequence[int], batch_size: int = _MAX_EFETCH_IDS
    ) -> Iterator[tuple[list[int], bytes]]:
        """Fetch any number of PMIDs in NCBI-sized batches, yielding (batch, XML) pairs."""
        if not 1 <= batch_size <= _MAX_EFETCH_IDS:
            raise ValueError(f"batch_size must be between 1 and {_MAX_EFETCH_IDS}, got {batch_size}")
        pmids = list(pmids)
        for start in range(0, len(pmids), batch_size):
            batch = pmids[start : start + batch_size]
            yield batch, self.efetch(batch)

    def _call(self, endpoint: str, params: dict[str, str], *, force_post: bool = False) -> bytes:
        """One logical call: retried with backoff on transient failures, then given up on."""
        params = {**params, **self._identification()}
        url = self.base_url + endpoint
        use_post = force_post or len(str(httpx.URL(url, params=params))) > _MAX_URL_LENGTH
        attempt = 0
        while True:
            try:
                return self._attempt("POST" if use_post else "GET", url, params)
            except _Retryable as failure:
                attempt += 1
                if attempt > self.max_retries:
                    raise EutilsUnavailable(
                        f"NCBI E-utilities ({endpoint}) gave no usable answer in {_attempts(attempt)}; "
                        f"last error: {failure.reason.rstrip('.')}. Try again later.",
                        reason=failure.reason,
                    ) from failure
                delay = self._backoff(attempt - 1, failure.retry_after)
                logger.warning(
                    "NCBI %s attempt %d of %d failed (%s); retrying in %.2fs",
                    endpoint,
                    attempt,
                    self.max_retries + 1,
                    failure.reason,
                    delay,
                )
                self._sleep(delay)

    def _identification(self) -> dict[str, str]:
        """NCBI asks every request to name the tool and a contact; the key raises the rate."""
        ident = {"tool": self.tool, "email": self.email}
        if self.api_key:
            ident["api_key"] = self.api_key
        return ident

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """NCBI's Retry-After if given, else exponential backoff with full jitter; both capped."""
        if retry_after is not None:
            return min(self.backoff_max, retry_after)
        return min(self.backoff_max, self.backoff_base * 2**attempt) * self._jitter()

    def _attempt(self, method: str, url: str, params: dict[str, str]) -> bytes:
        """Send one request (after the rate limiter) and return the body or raise."""
        self.rate_limiter.acquire()
        if method == "POST":
            request = self._http.build_request("POST", url, data=params)
        else:
            request = self._http.build_request("GET", url, params=params)
        try:
            response = self._http.send(request, stream=True)
            try:
                return self._read_response(response, time.monotonic() + self.deadline)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {self.timeout}s") from exc
        except httpx.ConnectError as exc:
            raise _Retryable(f"connection failed: {_describe(exc)}") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Retryable(f"connection lost: {_describe(exc)}") from exc
        except httpx.HTTPError as exc:
            raise EutilsError(f"Request to NCBI failed: {_describe(exc)}") from exc

    def _read_response(self, response: httpx.Response, deadline: float) -> bytes:
        status = response.status_code
        if status == 200:
            body = self._read_capped(response, deadline)
            if _is_html(response, body):
                raise _Retryable(f"NCBI answered with an HTML page instead of XML: {_html_title(body)}")
            return body
        message = _ncbi_error_message(_read_prefix(response)) or response.reason_phrase
        reason = f"HTTP {status}: {message}"
        if status == 429 or status >= 500:
            raise _Retryable(reason, _retry_after(response))
        if status == 400:
            raise EutilsQueryError(
                f"NCBI rejected the {_endpoint(response)} request: {message}", ncbi_message=message
            )
        raise EutilsError(
            f"NCBI refused the {_endpoint(response)} request ({reason}); check the E-utilities settings."
        )

    def _read_capped(self, response: httpx.Response, deadline: float) -> bytes:
        """The whole body, refusing more than ``max_response_bytes`` (after decompression) or, past
        ``deadline`` (a monotonic time), any more waiting."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise self._too_large(response)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_response_bytes:
                raise self._too_large(response)
            if time.monotonic() > deadline:
                raise _Retryable(f"still sending after {self.deadline:g}s ({size:,} bytes so far)")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, response: httpx.Response) -> ResponseTooLarge:
        return ResponseTooLarge(f"NCBI's {_endpoint(response)} response", self.max_response_bytes)


def _read_prefix(response: httpx.Response) -> bytes:
    """The start of an error body: enough for NCBI's message, bounded whatever is sent."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= _ERROR_BODY_BYTES:
            break
    return b"".join(chunks)[:_ERROR_BODY_BYTES]


def _ncbi_error_message(body: bytes) -> str:
    """NCBI's error text: JSON ``{"error": ...}`` or XML ``<ERROR>...</ERROR>``; "" if neither."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"]).strip()
    match = re.search(r"<ERROR>(.*?)</ERROR>", text, re.DOTALL | re.IGNORECASE)
    return " ".join(match.group(1).split()) if match else ""


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, if NCBI sent a usable one (HTTP dates are ignored)."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _is_html(response: httpx.Response, body: bytes) -> bool:
    """NCBI's front end sometimes answers 200 with an HTML error page instead of XML."""
    if response.headers.get("Content-Type", "").lower().startswith("text/html"):
        return True
    return body.lstrip()[:64].lower().startswith((b"<!doctype html", b"<html"))


def _html_title(body: bytes) -> str:
    match = re.search(rb"<title[^>]*>(.*?)</title>", body[:_ERROR_BODY_BYTES], re.DOTALL | re.IGNORECASE)
    title = match.group(1).decode("utf-8", errors="replace") if match else ""
    return " ".join(title.split()) or "no title"


def _endpoint(response: httpx.Response) -> str:
    return response.request.url.path.rsplit("/", 1)[-1]


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


def _describe(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__


def make_client(
    *,
    base_url: str = _DEFAULT_BASE_URL,
    tool: str,
    email: str,
    api_key: str | None = None,
    redis_url: str | None = None,
    **options,
) -> EutilsClient:
    """A client whose rate limit is shared through Redis when there is one, else per process.

    ``options`` go to EutilsClient as they are (timeout, max_retries, backoff_base, ...).
    """
    limiter = shared_rate_limiter(redis_url, rate_for(api_key))
    return EutilsClient(base_url, tool=tool, email=email, api_key=api_key, rate_limiter=limiter, **options)
