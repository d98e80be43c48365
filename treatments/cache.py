"""The page cache: readers' pages, stored whole, served without touching the database.

Readers' pages (views marked ``@reader_page``: home, sections, treatment pages) are the same for every
anonymous reader, so ``PageCacheMiddleware`` keeps each one's response, plain, gzipped and in brotli, in the
Django cache (Redis in production, local memory when embedded) under a key per URL (scheme, host, path and
query string: the page's absolute URLs are built from them) and ``PAGE_CACHE_VERSION``. A request with a
session cookie (signed-in staff) never reads nor feeds it, and gets ``Cache-Control: private, no-store``.

Purging marks entries stale instead of deleting them: every entry records the generation of its path
and the site-wide generation it was rendered under, and a purge sets new ones. A stale entry then
serves the readers who arrive while one request, holding a short lock, renders the fresh page: a hot
page is rendered once per change, not once per waiting reader.

``urls_for(page)`` is the one rule of which URLs show a page. They are purged here and at the edge
(``cancerindex.edge``) when ``page_changed`` (or a page's deletion) commits; a section's change or any
move (a new ``PathRedirect``) can touch every breadcrumb below it, and purges everything.
"""

import contextlib
import functools
import gzip
import hashlib
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import brotli
from django.conf import settings
from django.core.cache import caches
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver
from django.http import HttpResponse
from django.http.request import split_domain_port, validate_host
from django.http.response import ResponseHeaders
from django.middleware.http import ConditionalGetMiddleware as DjangoConditionalGet
from django.urls import Resolver404, get_urlconf, resolve, reverse
from django.utils.cache import add_never_cache_headers, get_conditional_response, patch_vary_headers
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from taggit.models import Tag

from cancerindex import edge
from publications.export import FORMATS  # a page's list downloads (publications.views.cite_page)

from . import paths
from .changes import page_changed
from .models import PathRedirect, Section, TreatmentPage

log = logging.getLogger(__name__)

# Browsers revalidate every time (max-age=0: an edit shows on the next visit, as a cheap 304 when
# nothing changed); shared caches keep a page for s-maxage, and may serve it stale while fetching
# (stale-while-revalidate) or while the site is down (stale-if-error). Purges make changes visible.
CACHE_CONTROL = "public, max-age=0, s-maxage={s}, stale-while-revalidate={s}, stale-if-error=86400"
STALE_CONTROL = "no-cache"  # a stale copy served during a render: never stored by anyone downstream
LOCK_SECONDS = 10  # the longest a render may hold a URL's lock
WAIT_SECONDS = 3.0  # how long a request without a stale copy waits for another's render
# Brotli at 5: 1.5 ms for the 96 KB Interleukin 2 page (gzip at 6 takes 2.5), 22.7 KB against gzip's
# 26.2; 11 would save 3 KB more for 106 ms a render. Once per render, never per hit.
BROTLI_QUALITY = 5
ENTRY_FORMAT = 2  # in every entry's key: entries stored by code that wrote another Entry are never read
POLL_SECONDS = 0.02
SITE_GENERATION = "site"
# Query strings the cache keeps a copy for, and which of their values: the views that read them register
# them (``keep_query``). Any other query string (tracking tags, junk, an unknown value) is rendered, not
# stored, so nobody can fill the cache with variants of a URL.
QUERY_VALUES: dict[str, Callable[[str], bool]] = {}
# Response headers the cache sets itself on every copy it serves; the rest are stored as rendered.
OWN_HEADERS = {
    "content-length",
    "content-encoding",
    "etag",
    "last-modified",
    "cache-control",
    "vary",
    "expires",
}


def keep_query(name: str, allowed: Callable[[str], bool]) -> None:
    """Let the cache keep a copy per value of ``?name=`` for which ``allowed(value)`` is true."""
    QUERY_VALUES[name] = allowed


PAGE_QUERY = "page"


def paginate(request, items, per_page: int):
    """The page of ``items`` a reader's ``?page=`` asks for (Django's ``get_page``: the first for none or
    junk, the last past the end), in a reader view with a list of pages.

    The cache keeps a ``?page=N`` copy only of a page this served as asked: any other view shows the same
    page whatever N, and so does a number past the end or written "02"; kept, each was one more copy of a
    page nobody links to, a million of them a URL for anyone to fill the cache with.
    """
    asked = request.GET.get(PAGE_QUERY)
    listed = Paginator(items, per_page).get_page(asked)
    request.page_cache_paged = asked == str(listed.number)
    return listed


keep_query(PAGE_QUERY, lambda value: value.isdigit() and len(value) <= 6)


def _paged_as_asked(request) -> bool:
    return PAGE_QUERY not in request.GET or getattr(request, "page_cache_paged", False)


def _cacheable_query(request) -> bool:
    if not request.META.get("QUERY_STRING"):
        return True  # most requests: no query string to parse
    return all(
        name in QUERY_VALUES and len(values) == 1 and QUERY_VALUES[name](values[0])
        for name, values in request.GET.lists()
    )


# A local run's own hosts, on whatever port it serves (``make run``, ``make stack``, the benchmarks).
_LOOPBACK = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?")


def _cached_host(request) -> str | None:
    """The request's host, if the cache keeps copies for it: one ALLOWED_HOSTS lists as it is, or loopback
    (local runs, on whatever port). Django accepts a listed host with any port, in any case, with a
    trailing dot; each is a page of its own (its URLs are built from it), so keeping them all would let
    anyone fill the cache: they are rendered uncached. Read from ``request.META`` and decided once per
    host: Django's ``get_host`` checks ALLOWED_HOSTS anew at every call (a fifth of a hit's CPU)."""
    raw = request._get_raw_host()  # what get_host() returns once it has checked it; no check here
    return raw if _keeps_copies_for(raw, tuple(settings.ALLOWED_HOSTS)) else None


@functools.lru_cache(maxsize=64)
def _keeps_copies_for(host: str, allowed: tuple[str, ...]) -> bool:
    if host in allowed and host != "*" and not host.startswith("."):
        return True
    domain, _ = split_domain_port(host)
    return _LOOPBACK.fullmatch(host) is not None and validate_host(domain, allowed)


def reader_page(view):
    """Marks a view whose anonymous GET responses are the same for every reader: the cache may keep them.

    Such a view answers GET and HEAD only: any other method is a 405 naming those two (a POST was a
    CSRF failure's 403, OPTIONS and TRACE the whole page, uncached). With no POST to answer, it has no
    form to protect from another site.
    """
    view = csrf_exempt(require_safe(view))
    view.reader_page = True
    return view


# --- Which URLs show a page -----------------------------------------------------------------------


def urls_for(page) -> list[str]:
    """Every reader URL that shows ``page``: itself, its section and each section above it, home,
    its tags' pages, the A-Z, search (at the edge, every query string), every page that may list it as
    related (``showing_as_related``), its feeds and its list's citation downloads."""
    section_path = page.section.path
    own = paths.page_path(section_path, page.slug)
    nodes = [own, *paths.ancestors(section_path)]
    nodes += [other.path for other in TreatmentPage.objects.showing_as_related(page)]
    tag_slugs = page.tags.values_list("slug", flat=True)
    tags = [reverse("treatments:tag", kwargs={"slug": slug}) for slug in tag_slugs]
    return [
        *map(paths.reader_url, nodes),
        reverse("treatments:home"),
        *tags,
        reverse("treatments:a_z"),
        reverse("search:search"),
        *feed_urls(page),
        *(reverse("publications:cite_page", kwargs={"page_id": page.pk, "fmt": fmt}) for fmt in FORMATS),
    ]


def feed_urls(page) -> list[str]:
    """The page's feeds, the site's feeds and the sitemap: each shows the page's list or its date."""
    own = [reverse(f"treatments:page_feed_{kind}", kwargs={"page_id": page.pk}) for kind in ("atom", "rss")]
    site = ("treatments:site_feed_atom", "treatments:site_feed_rss", "treatments:sitemap")
    return [*own, *(reverse(name) for name in site)]


# --- Purging, on commit ---------------------------------------------------------------------------


def purge_on_commit(urls=None) -> None:
    """Purge these URLs (None: everything) once the current transaction commits, never before.

    Outside a transaction that is at once; a rolled-back change purges nothing.
    """
    urls = None if urls is None else sorted(set(urls))
    transaction.on_commit(lambda: purge_everything() if urls is None else purge(urls), robust=True)


def purge(urls) -> None:
    """Mark these paths' entries (every query string) stale here, then ban them at the edge: also when
    the cache is down, which serves readers uncached while the edge still holds the old copies."""
    _recent.forget_checks()
    try:
        _cache().set_many({_generation_key(url): _token() for url in urls}, timeout=_generation_seconds())
    finally:
        edge.purge(urls)


def purge_everything() -> None:
    _recent.forget_checks()
    try:
        _cache().set(_generation_key(SITE_GENERATION), _token(), timeout=_generation_seconds())
    finally:
        edge.purge_everything()


@receiver(page_changed, dispatch_uid="page-cache-purge")
def _page_changed(sender, page, **kwargs):
    purge_on_commit(urls_for(page))


@receiver(post_save, sender=TreatmentPage, dispatch_uid="page-cache-purge-saved")
def _page_saved(sender, instance, raw=False, **kwargs):
    """A save that is not a ``record_change`` (a review date, a setting that applies at once) shows too."""
    if not raw and instance.section_id:
        purge_on_commit(urls_for(instance))


@receiver(pre_delete, sender=TreatmentPage, dispatch_uid="page-cache-purge-deleted")
def _page_deleted(sender, instance, **kwargs):
    """URLs worked out before the delete cascades (its tags, its listings): they are purged on commit."""
    purge_on_commit(urls_for(instance))


@receiver(m2m_changed, sender=TreatmentPage.tags.through, dispatch_uid="page-cache-purge-tags")
def _tags_changing(sender, instance, action, **kwargs):
    """A tag the page loses: what showed the page through it (the tag's page, pages related through it)
    is worked out before it goes. What shows it through a new tag is the page's change's to purge."""
    if action in ("pre_remove", "pre_clear") and isinstance(instance, TreatmentPage):
        purge_on_commit(urls_for(instance))


@receiver(post_save, sender=Tag, dispatch_uid="page-cache-purge-tag")
def _tag_saved(sender, created=False, raw=False, **kwargs):
    """A tag renamed shows on every page with it; a new one (taggit makes it as a page takes it) on
    none yet: that page's change purges what shows it."""
    if not created:
        _tree_changed(sender, raw=raw)


@receiver(post_delete, sender=Tag, dispatch_uid="page-cache-purge-tag-deleted")
@receiver(post_save, sender=Section, dispatch_uid="page-cache-purge-section")
@receiver(post_delete, sender=Section, dispatch_uid="page-cache-purge-section-deleted")
@receiver(post_save, sender=PathRedirect, dispatch_uid="page-cache-purge-moved")
def _tree_changed(sender, raw=False, **kwargs):
    """A section's title, intro, place or path, or a move: every page below shows it in its breadcrumb. A
    tag renamed or deleted: every page with it shows its name and links to its page."""
    if not raw:
        purge_on_commit(None)


# --- The cache's entries --------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One rendered page as stored: every encoding, so a hit neither renders nor compresses."""

    generations: tuple
    stored_at: float
    headers: tuple
    body: bytes
    gzipped: bytes
    brotli: bytes
    etag: str
    last_modified: int

    def is_fresh(self, generations) -> bool:
        age = time.time() - self.stored_at
        return self.generations == generations and age < settings.PAGE_CACHE_SECONDS


def _cache():
    return caches[settings.PAGE_CACHE_ALIAS]


def _token() -> str:
    return uuid.uuid4().hex


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _generation_seconds() -> int:
    """A generation outlives every entry stored under it; once gone, those entries can only be stale."""
    return 2 * settings.PAGE_CACHE_KEEP_SECONDS


def _generation_key(path: str) -> str:
    """Not versioned: a process running with another PAGE_CACHE_VERSION still purges the web's entries."""
    return f"page-gen:{_digest(path)}"


def _keys(request, host: str) -> tuple[str, str, str]:
    """The entry's key, its path's generation, and the site's generation.

    The entry's key is the whole URL, scheme and host as the request gave them (``_cached_host``,
    from which the page's canonical, Open Graph and JSON-LD URLs, the sitemap and the feeds are built):
    keyed by path alone, one request with another ``Host`` that ALLOWED_HOSTS accepts (another port or
    case, a trailing dot, or any host when embedded) stored its URLs for every reader. A purge is by
    path, so it reaches every host's copy.
    """
    url = f"{request.scheme}://{host}{request.get_full_path()}"  # as ``build_absolute_uri()`` builds it
    return _keys_for(url, request.path, settings.PAGE_CACHE_VERSION)


@functools.lru_cache(maxsize=4096)  # three SHA-256 digests a request were a tenth of a hit's CPU
def _keys_for(url: str, path: str, version) -> tuple[str, str, str]:
    entry = f"page:{version}:{ENTRY_FORMAT}:{_digest(url)}"
    return entry, _generation_key(path), _generation_key(SITE_GENERATION)


class CacheDown(Exception):
    """The cache did not answer, or refused a write."""


@contextlib.contextmanager
def _answering():
    """Whatever the cache's client raises as CacheDown: Redis down, too slow (``redis_cache.TIMEOUT``),
    or answering reads but refusing writes (full under ``noeviction``, a read-only replica)."""
    try:
        yield
    except Exception as exc:
        raise CacheDown from exc


class _Recent:
    """This process's copies of the entries it served last, and when their generations were last read.

    An entry is some 85 KB (both encodings); its generations are a few bytes. A copy is used only
    while it is fresh under the current generations, exactly as the shared entry would be. Those are
    read again at most every ``PAGE_CACHE_RECHECK_SECONDS``: in between, a hit touches neither Redis
    nor the database. A purge from this process forgets every check at once; one from another
    process (a worker's refresh, another web machine) shows here within that interval.
    """

    SIZE = 64

    def __init__(self) -> None:
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._checked: dict[str, float] = {}

    def get(self, key: str, generations) -> Entry | None:
        entry = self._entries.get(key)
        if entry is None or not entry.is_fresh(generations):
            return None
        self._entries.move_to_end(key)
        self._checked[key] = time.monotonic()
        return entry

    def checked(self, key: str) -> Entry | None:
        """The copy, if its generations were read within the recheck interval and it is still fresh."""
        checked_at = self._checked.get(key)
        if checked_at is None or time.monotonic() - checked_at >= settings.PAGE_CACHE_RECHECK_SECONDS:
            return None
        entry = self._entries.get(key)
        return entry if entry is not None and entry.is_fresh(entry.generations) else None

    def keep(self, key: str, entry: Entry | None) -> None:
        if entry is None:
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        self._checked.pop(key, None)  # a copy from the shared cache: its generations are checked next time
        while len(self._entries) > self.SIZE:
            self._checked.pop(self._entries.popitem(last=False)[0], None)

    def forget_checks(self) -> None:
        self._checked.clear()


_recent = _Recent()


def _lookup(keys, *, recheck: bool = False) -> tuple[Entry | None, tuple]:
    """The entry and the current generations: none or one small round trip for a page this process has.

    ``recheck``: read the generations whenever they were last read. The edge's fetches (deploy/varnish
    marks them) always are, as the edge keeps what it gets for its TTL, not for a moment.
    """
    if not recheck and (entry := _recent.checked(keys[0])) is not None:
        return entry, entry.generations
    with _answering():
        found = _cache().get_many(keys[1:])
        generations = (found.get(keys[1]), found.get(keys[2]))
        if (entry := _recent.get(keys[0], generations)) is not None:
            return entry, generations
        entry = _cache().get(keys[0])
    _recent.keep(keys[0], entry)
    return entry, generations


def _settle(keys, generations) -> tuple:
    """Generations to render under, created if missing (evicted or never purged), before rendering.

    An entry stored under a generation that was missing could come back to life if the key is evicted
    again, so a missing one is replaced by a new token first; ``add`` keeps a purge that raced us.
    """
    if None not in generations:
        return generations
    cache = _cache()
    for key, generation in zip(keys[1:], generations, strict=True):
        if generation is None:
            cache.add(key, _token(), timeout=_generation_seconds())
    current = cache.get_many(keys[1:])
    return (current.get(keys[1]), current.get(keys[2]))


def _shareable(response) -> bool:
    """A complete page with nothing of one reader in it: no cookie set or read, not marked private."""
    if response.status_code != 200 or response.streaming or response.cookies:
        return False
    if "cookie" in response.get("Vary", "").lower():
        return False
    return not any(word in response.get("Cache-Control", "") for word in ("private", "no-store", "no-cache"))


def _entry(response, generations) -> Entry | None:
    """What to store of a rendered response, or None if it must not be shared (or is not a page)."""
    if not _shareable(response):
        return None
    body = response.content
    modified = parse_http_date_safe(response.get("Last-Modified", "")) or int(time.time())
    return Entry(
        generations=generations,
        stored_at=time.time(),
        headers=tuple((k, v) for k, v in response.items() if k.lower() not in OWN_HEADERS),
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        brotli=brotli.compress(body, quality=BROTLI_QUALITY),
        etag=etag_of(body),
        last_modified=modified,
    )


def etag_of(body: bytes) -> str:
    """The site's ETag for a body: the same whether the page cache served the bytes or they were just
    rendered (``ConditionalGetMiddleware``), so a reader's revalidation gets its 304 from either. Weak:
    compression keeps it. SHA-256, which CPUs compute in hardware: 54 µs for the 96 KB Interleukin 2
    page where Django's MD5 took 128."""
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


class ConditionalGetMiddleware(DjangoConditionalGet):
    """Django's conditional GET (ETag, Last-Modified, 304), with the ETag of ``etag_of``."""

    def process_response(self, request, response):
        """As Django's, and for HEAD too: Django's answers HEAD with no ETag and never a 304, where HEAD
        must carry the headers GET would (RFC 9110, 9.3.2)."""
        if request.method not in ("GET", "HEAD"):
            return response
        if not response.streaming and response.content and self._etag_missing(response):
            response.headers["ETag"] = etag_of(response.content)
        etag, last_modified = response.get("ETag"), parse_http_date_safe(response.get("Last-Modified", ""))
        if etag or last_modified:
            return get_conditional_response(
                request, etag=etag, last_modified=last_modified, response=response
            )
        return response

    def _etag_missing(self, response) -> bool:
        return not response.has_header("ETag") and self.needs_etag(response)


# --- Serving --------------------------------------------------------------------------------------


def _encoding(request) -> str | None:
    """The best encoding the reader takes: brotli, else gzip, else None (the plain bytes). The edge
    (deploy/varnish) asks with "br, gzip", "br", "gzip" or nothing, so each is one copy there too."""
    meta = request.META  # not request.headers, which copies every header from META at first use
    return _best_encoding(meta.get("HTTP_ACCEPT_ENCODING", ""))


@functools.lru_cache(maxsize=256)  # browsers send a handful of distinct headers
def _best_encoding(accept_encoding: str) -> str | None:
    weights = {}
    for coding in accept_encoding.lower().split(","):
        name, _, parameters = coding.partition(";")
        parameters = parameters.strip()
        try:
            weights[name.strip()] = float(parameters[2:]) if parameters.startswith("q=") else 1.0
        except ValueError:
            weights[name.strip()] = 0.0  # a weight that is not a number: not taken as a yes
    # "br;q=0" refuses brotli (RFC 9110, 12.5.3); the order is ours (brotli is the smaller), not the q's.
    return next((name for name in ("br", "gzip") if weights.get(name, 0) > 0), None)


def _respond(request, entry: Entry, state: str):
    """A copy of the entry for this request: in the best encoding it accepts, 304 if its copy is current."""
    encoding = _encoding(request)
    body = {"br": entry.brotli, "gzip": entry.gzipped}.get(encoding, entry.body)
    response = HttpResponse(body)
    served = _served_headers(
        entry.headers,
        entry.etag,
        entry.last_modified,
        len(body),
        encoding,
        state,
        settings.EDGE_CACHE_SECONDS,
    )
    response.headers._store.update(served)  # checked once by ResponseHeaders (_served_headers), copied here
    if not any(name in request.META for name in _CONDITIONAL):
        return response  # what get_conditional_response gives a request that asks nothing of it
    return get_conditional_response(
        request, etag=entry.etag, last_modified=entry.last_modified, response=response
    )


@functools.lru_cache(maxsize=1024)
def _served_headers(stored, etag, last_modified, length, encoding, state, edge_seconds) -> dict:
    """The headers of a copy, as Django's ``ResponseHeaders`` checks and keeps them, for each entry,
    encoding and state: set one by one on every hit, they were a fifth of its CPU."""
    headers = ResponseHeaders(dict(stored))
    headers["Content-Length"] = str(length)
    if encoding:
        headers["Content-Encoding"] = encoding
    headers["Vary"] = "Accept-Encoding"
    headers["ETag"] = etag
    headers["Last-Modified"] = http_date(last_modified)
    headers["Cache-Control"] = STALE_CONTROL if state == "STALE" else CACHE_CONTROL.format(s=edge_seconds)
    headers["X-Page-Cache"] = state
    return headers._store


_CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE")


def _render(request, get_response):
    """The full page, as a reader without a copy would get it: no 304, no compression (done once, here)."""
    saved = {k: request.META.pop(k) for k in list(request.META) if k in _UNCONDITIONAL}
    try:
        return get_response(request)
    finally:
        request.META.update(saved)


_UNCONDITIONAL = {"HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_ACCEPT_ENCODING", "HTTP_RANGE"}


def _wait_for_render(keys) -> Entry | None:
    """Another request is rendering this URL: wait for its entry, or until it gives up its lock."""
    deadline = time.monotonic() + WAIT_SECONDS
    cache, lock = _cache(), keys[0] + ":lock"
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        found = cache.get_many([*keys, lock])
        entry, generations = found.get(keys[0]), (found.get(keys[1]), found.get(keys[2]))
        if entry is not None and entry.is_fresh(generations):
            return entry
        if lock not in found:
            return None
    return None


def _serve(request, get_response, host: str):
    """A hit from the cache; else one render per URL at a time, the others served a stale copy or waiting."""
    keys = _keys(request, host)
    meta = request.META  # not request.headers, which copies every header from META at first use
    entry, generations = _lookup(keys, recheck="HTTP_X_EDGE_FETCH" in meta)
    if entry is not None and entry.is_fresh(generations):
        return _respond(request, entry, "HIT")
    cache, lock = _cache(), keys[0] + ":lock"
    with _answering():
        held = cache.add(lock, 1, timeout=LOCK_SECONDS)
        if not held:
            if entry is not None:
                return _respond(request, entry, "STALE")
            if (rendered := _wait_for_render(keys)) is not None:
                return _respond(request, rendered, "HIT")
    try:
        with _answering():
            generations = _settle(keys, generations)
        response = _render(request, get_response)
        fresh = _entry(response, generations) if _paged_as_asked(request) else None
        if fresh is None:
            if entry is not None and response.status_code < 500:
                # No page here now (unpublished, deleted, moved): its old copy is not served stale to the
                # readers who come during later renders. A failed render (5xx) keeps it for them.
                _written(cache.delete, keys[0])
            return _public(request, response)
        if _written(cache.set, keys[0], fresh, timeout=settings.PAGE_CACHE_KEEP_SECONDS):
            _recent.keep(keys[0], fresh)
    finally:
        if held:
            _written(cache.delete, lock)
    return _respond(request, fresh, "MISS")


def _written(write, *args, **kwargs) -> bool:
    """A write around a render: one the cache refuses (full, read-only, gone) is logged, not raised, so
    the reader still gets the page just rendered (and a lock not released expires)."""
    try:
        write(*args, **kwargs)
    except Exception as exc:
        log.warning("Page cache unavailable: %s", exc)
        return False
    return True


def _public(request, response):
    """Caches off (``PAGE_CACHE=0``): the same headers for the edge and browsers, nothing stored here.

    A 304 (``ConditionalGetMiddleware``, below) carries the Cache-Control and Vary its 200 would have
    (RFC 9110, 15.4.5): both are set above the middleware that made it, so it had neither.
    """
    if _shareable(response) or _shareable_not_modified(response):
        response["Cache-Control"] = CACHE_CONTROL.format(s=settings.EDGE_CACHE_SECONDS)
    if response.status_code == 304:
        patch_vary_headers(response, ("Accept-Encoding",))  # as GZipMiddleware marks its 200
    return response


def _shareable_not_modified(response) -> bool:
    """A 304 for a 200 that was ``_shareable``: the 304 keeps the 200's cookies, Vary and Cache-Control."""
    if response.status_code != 304 or response.cookies or "Cache-Control" in response:
        return False
    return "cookie" not in response.get("Vary", "").lower()


def _is_reader_page(request) -> bool:
    return _reader_view(get_urlconf() or settings.ROOT_URLCONF, request.path_info)


@functools.lru_cache(maxsize=4096)
def _reader_view(urlconf: str, path: str) -> bool:
    """Whether ``path`` is a reader's page (its view is ``reader_page``): resolved once per URLconf and
    path, as the URLconf is fixed for the process. Resolving every request was a fifth of a hit's CPU."""
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return False
    return getattr(match.func, "reader_page", False)


class PageCacheMiddleware:
    """Readers' pages from the cache; staff's never cached. Sits above sessions, so a hit costs no query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in ("GET", "HEAD") or not _is_reader_page(request):
            return self.get_response(request)
        if settings.SESSION_COOKIE_NAME in request.COOKIES:  # signed in (or was): bypass, and say so
            response = self.get_response(request)
            add_never_cache_headers(response)
            return response
        host = _cached_host(request)
        if not settings.PAGE_CACHE_ENABLED or not _cacheable_query(request) or host is None:
            return _public(request, self.get_response(request))
        try:
            return _serve(request, self.get_response, host)
        except CacheDown as exc:  # the page, uncached, rather than an error
            log.warning("Page cache unavailable: %s", exc.__cause__)
            return _public(request, self.get_response(request))


def last_modified(response, when):
    """Stamp a page's response with the time its content last changed (``TreatmentPage.last_updated``)."""
    if when is not None and response.status_code == 200:
        response["Last-Modified"] = http_date(when.timestamp())
    return response
