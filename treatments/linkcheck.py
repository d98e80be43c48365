"""The link checker: does each web resource still answer, and has it moved for good?

The only code that fetches editors' links. HEAD first (GET when a server refuses HEAD); redirects
are followed here, hop by hop, so each is recorded and each new connection goes through the address
rule. Polite: one request at a time per host, ``LINK_CHECK_HOST_DELAY`` between them, and a
User-Agent that says who is asking. It connects only to public addresses unless
``LINK_CHECK_ALLOW_PRIVATE`` is on: the addresses are checked at the moment of connecting (the
connection goes to the address that was checked), so a DNS answer cannot change in between.

What a check finds is written on the WebResource rows with UPDATE: a check is not an edit of the
page (no revision, no draft), and readers' pages do not show it. Accepting a permanent redirect is
an edit, recorded in the page's history (``accept_redirect``).
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpcore
import httpx
import reversion
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import workflow
from .models import LinkStatus, TreatmentPage, WebResource

MAX_HOPS = 10
REDIRECTS = {301, 302, 303, 307, 308}
PERMANENT = {301, 308}
HOSTS_AT_ONCE = 4  # hosts checked side by side; each host's links one after another
# A scheduled run starts no new check after this long, well inside the broker's visibility timeout
# (an hour): the task queues another run for the links still due.
RUN_SECONDS = 45 * 60
_valid_url = URLValidator(schemes=["http", "https"])


class Refused(Exception):
    """The host resolves to an address the checker must not connect to."""


class DNSFailure(Exception):
    """The host name does not resolve."""


def is_public(address: str) -> bool:
    """Whether a link may make the server connect to ``address``: not its own or a private network."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's sockets, connecting only to resolved addresses ``allow`` accepts, and to those only."""

    def __init__(self, *, allow: Callable[[str], bool]) -> None:
        self.allow = allow

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = resolve(host, port)
        refused = [address for address in addresses if not self.allow(address)]
        if refused:  # every address: a round-robin answer may mix public and private ones
            where = "is" if refused[0] == host else "resolves to"
            raise Refused(f"{host} {where} a private or local address ({refused[0]})")
        error = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # the next address, as socket.create_connection does
                error = exc
        raise error


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, in the resolver's order, without repeats."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise DNSFailure(f"DNS lookup failed for {host}") from None
    addresses = list(dict.fromkeys(answer[4][0] for answer in answers))
    if not addresses:  # pragma: no cover  (getaddrinfo raises rather than answer nothing)
        raise DNSFailure(f"DNS lookup failed for {host}")
    return addresses


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over ``_GuardedBackend``; no proxies from the environment, no retries.

    httpx (pinned) keeps the transport's connection pool in ``_pool``; if that ever changes, the
    tests that a loopback link is refused fail, rather than the rule silently lapsing.
    """

    def __init__(self, *, allow: Callable[[str], bool]) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=_GuardedBackend(allow=allow),
        )


class _OutOfTime(Exception):
    """The run's time is up: no new link is started."""


class _Hosts:
    """One request at a time per host, ``delay`` seconds from the end of one to the start of the next."""

    def __init__(self, delay: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.delay = delay
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._hosts: dict[str, list] = {}  # host: [its lock, when it is free again]

    @contextmanager
    def turn(self, host: str, deadline: float | None = None):
        """Wait for the host's turn; raise _OutOfTime instead if it comes after ``deadline``."""
        with self._lock:
            entry = self._hosts.setdefault(host, [threading.Lock(), float("-inf")])
        with entry[0]:
            wait = entry[1] - self._clock()
            if wait > 0:
                self._sleep(wait)
            if deadline is not None and self._clock() > deadline:
                raise _OutOfTime
            try:
                yield
            finally:
                entry[1] = self._clock() + self.delay


@dataclass
class Outcome:
    """What checking one URL found: the hops it answered with, and how it ended."""

    url: str
    status: str = LinkStatus.NOT_CHECKED
    http_status: int | None = None
    error: str = ""
    # Each URL asked, the status it answered, and where it redirected to ("" if it did not).
    hops: list[tuple[str, int, str]] = field(default_factory=list)
    redirect_to: str = ""

    @property
    def broken(self) -> bool:
        return self.status in (LinkStatus.BROKEN, LinkStatus.ERROR)

    def describe(self) -> str:
        """One line: "HTTP 301 → https://new/, HTTP 200; moved permanently to https://new/"."""
        steps = [f"HTTP {status} → {target}" for _, status, target in self.hops if target]
        end = self.error if self.status == LinkStatus.ERROR else f"HTTP {self.http_status}"
        line = ", ".join([*steps, end])
        return f"{line}; moved permanently to {self.redirect_to}" if self.redirect_to else line

    def _answered(self, status: int) -> Outcome:
        self.http_status = status
        if status >= 400:
            self.status, self.error = LinkStatus.BROKEN, f"HTTP {status}"
            return self
        self.redirect_to = self._permanent_target()
        self.status = LinkStatus.REDIRECT if self.redirect_to else LinkStatus.OK
        return self

    def _failed(self, error: str) -> Outcome:
        self.status, self.error = LinkStatus.ERROR, error[:500]
        return self

    def _permanent_target(self) -> str:
        """Where the chain's permanent hops lead (up to the first temporary one), if that is a usable URL."""
        permanent = itertools.takewhile(lambda hop: hop[1] in PERMANENT and hop[2], self.hops)
        target = ([hop_target for _, _, hop_target in permanent] or [""])[-1]
        try:
            _valid_url(target)
        except ValidationError:
            return ""
        return target if target != self.url and len(target) <= 1000 else ""


class Checker:
    """Checks URLs politely; one instance is shared by the threads of a run (its host turns are)."""

    def __init__(
        self,
        *,
        timeout: float,
        host_delay: float,
        user_agent: str,
        allow_private: bool,
        public: Callable[[str], bool] = is_public,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``public`` decides which addresses are the public internet (tests let 127.0.0.1 stand in
        for it); ``clock`` and ``sleep`` are the host delay's and the run's time."""
        self.timeout = timeout
        self.user_agent = user_agent
        self.allow_private = allow_private
        self.public = public
        self.clock = clock
        self._hosts = _Hosts(host_delay, clock, sleep)

    @classmethod
    def from_settings(cls) -> Checker:
        return cls(
            timeout=settings.LINK_CHECK_TIMEOUT,
            host_delay=settings.LINK_CHECK_HOST_DELAY,
            user_agent=settings.LINK_CHECK_USER_AGENT,
            allow_private=settings.LINK_CHECK_ALLOW_PRIVATE,
        )

    def check(self, url: str) -> Outcome:
        return self.check_all([url])[0]

    def check_all(self, urls: Iterable[str], deadline: float | None = None) -> list[Outcome]:
        """Each URL in turn over one connection pool; none started after ``deadline`` (``clock``'s)."""
        outcomes = []
        with httpx.Client(
            transport=_GuardedTransport(allow=(lambda address: True) if self.allow_private else self.public),
            timeout=httpx.Timeout(self.timeout),
            headers={"User-Agent": self.user_agent},
            follow_redirects=False,
            trust_env=False,
        ) as client:
            for url in urls:
                try:
                    outcomes.append(self._check(client, url, deadline))
                except _OutOfTime:
                    break
        return outcomes

    def _check(self, client: httpx.Client, url: str, deadline: float | None = None) -> Outcome:
        outcome, current = Outcome(url=url), url
        for hop in range(MAX_HOPS + 1):
            try:  # the deadline stops a link from starting, never halfway through its redirects
                response = self._ask(client, current, deadline if hop == 0 else None)
            except (httpx.HTTPError, httpx.InvalidURL, Refused, DNSFailure) as exc:
                return outcome._failed(self._reason(exc))
            location = response.headers.get("location", "").strip()
            if response.status_code not in REDIRECTS or not location:
                outcome.hops.append((current, response.status_code, ""))
                return outcome._answered(response.status_code)
            target = str(httpx.URL(current).join(location))  # httpx refused an invalid one already
            outcome.hops.append((current, response.status_code, target))
            if httpx.URL(target).scheme not in ("http", "https"):
                return outcome._failed(f"Redirected to a non-web address: {target[:200]}")
            current = target
        return outcome._failed(f"More than {MAX_HOPS} redirects")

    def _ask(self, client: httpx.Client, url: str, deadline: float | None = None) -> httpx.Response:
        """HEAD, then GET if the server refuses HEAD (405, 403, 501 and friends); the body is never read."""
        host = httpx.URL(url).host
        with self._hosts.turn(host, deadline):
            response = self._send(client, "HEAD", url)
        if response.status_code >= 400:
            with self._hosts.turn(host):
                response = self._send(client, "GET", url)
        return response

    @staticmethod
    def _send(client: httpx.Client, method: str, url: str) -> httpx.Response:
        response = client.send(client.build_request(method, url), stream=True)
        response.close()
        return response

    def _reason(self, exc: Exception) -> str:
        """The failure in words an editor can act on."""
        if isinstance(exc, Refused):
            return f"Not checked: {exc}"
        if isinstance(exc, DNSFailure):
            return str(exc)
        if isinstance(exc, httpx.TimeoutException):
            return f"Timed out after {self.timeout:g} s"
        if (tls := _cause(exc, ssl.SSLError)) is not None:
            detail = getattr(tls, "verify_message", None) or tls.reason or str(tls)
            return f"TLS error: {detail}"
        if isinstance(exc, httpx.UnsupportedProtocol):
            return "Not an http or https link"
        if isinstance(exc, httpx.InvalidURL):
            return f"Invalid address: {exc}"
        if _cause(exc, ConnectionRefusedError) is not None:
            return "Connection refused"
        if isinstance(exc, httpx.RemoteProtocolError):  # a hang-up, a malformed header or Location
            return f"Invalid answer: {exc}"
        return f"Connection failed: {exc or type(exc).__name__}"


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of ``kind`` in ``exc``'s chain (httpx wraps httpcore, which wraps the socket's)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


# --- Checking the site's links ------------------------------------------------------------------


@dataclass
class Summary:
    """What a run found, for the admin's message and the task's result."""

    outcomes: list[Outcome] = field(default_factory=list)
    remaining: int = 0  # links still due when a scheduled run stopped

    def __str__(self) -> str:
        if not self.outcomes:
            return "No links to check."
        counts = {label: 0 for label in LinkStatus.labels}
        for outcome in self.outcomes:
            counts[LinkStatus(outcome.status).label] += 1
        found = ", ".join(f"{count} {label.lower()}" for label, count in counts.items() if count)
        more = f"; {self.remaining} still to check" if self.remaining else ""
        return f"{len(self.outcomes)} link(s) checked: {found}{more}."


def record(resource: WebResource, outcome: Outcome, *, at=None) -> None:
    """Write what the check found on the link's row (UPDATE only: not an edit of the page).

    A link that broke keeps the time it first broke; one that works again loses it. Nothing is
    written if the link's URL changed while it was being checked.
    """
    at = at or timezone.now()
    WebResource.objects.filter(pk=resource.pk, url=outcome.url).update(
        last_checked_at=at,
        last_status=outcome.status,
        last_http_status=outcome.http_status,
        last_error=outcome.error,
        broken_since=Coalesce(F("broken_since"), Value(at)) if outcome.broken else None,
        redirect_to=outcome.redirect_to,
    )


def check_resources(
    resources: Iterable[WebResource],
    *,
    checker: Checker | None = None,
    deadline: float | None = None,
    on_result: Callable[[WebResource, Outcome], None] | None = None,
) -> Summary:
    """Check the links and record each outcome: a few hosts side by side, each host's links in order.

    Only the threads fetch; the rows are written here, in the calling thread, host by host in the
    order the hosts first appear, so output and writes come in a fixed order.
    """
    checker = checker or Checker.from_settings()
    by_host: dict[str, list[WebResource]] = {}
    for resource in resources:
        by_host.setdefault(_host(resource.url), []).append(resource)
    summary = Summary()
    if not by_host:
        return summary
    with ThreadPoolExecutor(max_workers=min(HOSTS_AT_ONCE, len(by_host))) as pool:
        runs = [
            (group, pool.submit(checker.check_all, [r.url for r in group], deadline))
            for group in by_host.values()
        ]
        for group, run in runs:
            for resource, outcome in zip(group, run.result(), strict=False):  # short if the deadline came
                record(resource, outcome)
                summary.outcomes.append(outcome)
                if on_result is not None:
                    on_result(resource, outcome)
    return summary


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host
    except httpx.InvalidURL:
        return ""


def check_page(page: TreatmentPage, **kwargs) -> Summary:
    """Every link of the page (its stored rows: a draft's new links are checked once published)."""
    return check_resources(page.web_resources.all(), **kwargs)


def check_due(*, now=None, seconds: float | None = None, checker: Checker | None = None) -> Summary:
    """The scheduled run: links not checked for a week, longest unchecked first, for at most ``seconds``."""
    checker = checker or Checker.from_settings()
    deadline = checker.clock() + (RUN_SECONDS if seconds is None else seconds)
    due = WebResource.objects.due_for_check(now).order_by(F("last_checked_at").asc(nulls_first=True), "pk")
    summary = check_resources(due, checker=checker, deadline=deadline)
    summary.remaining = WebResource.objects.due_for_check(now).count()
    return summary


# --- Accepting a permanent redirect -------------------------------------------------------------


class CannotAccept(Exception):
    """The new address cannot replace the old one; the message says why."""


@transaction.atomic
def accept_redirect(resource: WebResource, *, user=None) -> str:
    """Replace a link's URL with where it moved permanently; returns the new URL.

    An edit of the page's links, so it is a revision in the page's history, with who did it. Readers
    see it at once (the same resource at its new address, not new content), and a pending draft's
    copy of the link changes too, so publishing the draft does not bring the old address back.
    """
    resource = WebResource.objects.select_for_update().select_related("page").get(pk=resource.pk)
    page, old, new = resource.page, resource.url, resource.redirect_to
    if not new:
        raise CannotAccept("There is no new address to accept: check the links again.")
    draft_urls = [item["url"] for item in page.draft["web_resources"]] if page.draft else []
    if page.web_resources.filter(url=new).exists() or new in draft_urls:
        raise CannotAccept(f"The page already links to {new}: delete the old link instead.")
    # The draft gets the same change: if it was started from the live content as it is, it still is.
    draft_current = bool(page.draft) and bool(page.draft_base) and workflow.draft_is_current(page)
    with reversion.create_revision():
        reversion.set_user(user)
        reversion.set_comment(f"Link “{resource.title}” moved permanently: {old} → {new}")
        resource.url = new
        resource.last_checked_at = resource.last_http_status = resource.broken_since = None
        resource.last_status = resource.last_error = resource.redirect_to = ""
        resource.save()
        if page.draft:
            for item in page.draft["web_resources"]:
                if item["url"] == old:
                    item["url"] = new
            if draft_current:
                page.draft_base = workflow.content_digest(workflow.content_of(page))
            page.save(update_fields=["draft", "draft_base"])
        reversion.add_to_revision(page)
    if page.published:
        page.record_change(reason="content")
    return new
