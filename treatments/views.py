"""Readers' views: the home page, a section, a treatment page, tag pages, the A-Z, and the feedback vote."""

import functools
import hashlib
import hmac
import ipaddress
import secrets
import unicodedata
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Prefetch, TextField
from django.db.models.functions import Cast
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponsePermanentRedirect,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from taggit.models import Tag

from cancerindex import compiled
from publications.citation import entry_for_date
from publications.models import PageListing, Publication

from . import cache, evidence, paths, ratelimit
from .models import Feedback, Section, TreatmentPage

VISITOR_COOKIE = "ci_visitor"
VISITOR_COOKIE_AGE = 365 * 24 * 3600


@cache.reader_page
def home(request):
    children = Prefetch("children", queryset=Section.objects.with_page_counts())
    sections = Section.objects.roots().with_page_counts().prefetch_related(children)
    return render(request, "treatments/home.html", {"sections": sections})


TAG_PAGES_PER_PAGE = 50


@cache.reader_page
def tag(request, slug):
    """The published pages with a tag; a tag no published page carries is not found (404)."""
    found = get_object_or_404(Tag, slug=slug)
    pages = cache.paginate(request, TreatmentPage.objects.tagged(found), TAG_PAGES_PER_PAGE)
    if not pages.paginator.count:
        raise Http404("No published page has this tag.")
    return render(request, "treatments/tag.html", {"tag": found, "pages": pages})


@cache.reader_page
def a_to_z(request):
    """Every published page by title, and again under its other name, grouped by first letter."""
    entries = []
    for page in TreatmentPage.objects.a_to_z():
        entries.append({"name": page.title, "page": page, "alias": False})
        if page.other_name:
            entries.append({"name": page.other_name, "page": page, "alias": True})
    entries.sort(key=lambda entry: (_folded(entry["name"]), _folded(entry["page"].title)))
    letters: dict[str, list] = {}
    for entry in entries:
        letters.setdefault(_letter(entry["name"]), []).append(entry)
    return render(request, "treatments/a_z.html", {"letters": letters})


def _folded(name: str) -> str:
    """A name as the A-Z sorts it: without case or accents ("Éribulin" between D and F)."""
    decomposed = unicodedata.normalize("NFKD", name.strip())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _letter(name: str) -> str:
    """The heading a name files under: its first letter without accents, or "#" for a digit or sign."""
    first = _folded(name)[:1].upper()
    return first if first.isalpha() and first.isascii() else "#"


@cache.reader_page
def node(request, path):
    """A URL follows the tree: a section's path, or a section's path and a page's slug.

    An old path (a renamed or moved page or section) answers 301 to where it lives now, keeping
    the query string, so links and bookmarks never break.
    """
    found = paths.find(path)
    if found is None:
        raise Http404("No such page.")
    if isinstance(found, paths.Moved):
        return moved(request, found.path)
    if isinstance(found, Section):
        return section_detail(request, found)
    return cache.last_modified(page_detail(request, found), found.last_updated)


def moved(request, path):
    """301, not 302: search engines and bookmarks should take the new URL for good."""
    url = paths.reader_url(path)
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(f"{url}?{query}" if query else url)


SECTION_PAGES_PER_PAGE = 50


def section_detail(request, section):
    """A section's pages, 50 at a time (``?page=N``): a section of 300 pages stays a small page."""
    pages = TreatmentPage.objects.published().in_section(section).select_related("section")
    pages = pages.only("title", "other_name", "slug", "section__path")
    listed = cache.paginate(request, pages, SECTION_PAGES_PER_PAGE)
    context = {
        "section": section,
        "ancestors": trail(section),
        "subsections": section.children.with_page_counts(),
        "pages": listed,
    }
    return render(request, "treatments/section.html", context)


def trail(node) -> list:
    """The sections above a section, or a page's section and those above it, root first (the breadcrumb)."""
    if (found := getattr(node, "trail", None)) is not None:  # read by paths.find with the node
        return found
    if isinstance(node, Section):
        return Section.objects.ancestors_of(node.path)[:-1]
    return Section.objects.ancestors_of(node.section.path)


RELATED_PAGES = 5


def page_detail(request, page):
    """The live page, its links, tags and up to RELATED_PAGES related pages (one query, at any size).

    Its list is a query of its own: as JSON in the same round trip (``compiled.row_sets``), its 90 KB of
    HTML cost more to escape and parse again than the round trip it saved.
    """
    extras = TreatmentPage.objects.reader_extras(page, related=RELATED_PAGES)
    extra = {"tags": extras.tags, "related": extras.related}
    return render_page(request, page, web_resources=extras.links, extra=extra)


def render_page(request, page, *, web_resources, extra=None):
    """The treatment page template for a live page or, from ``treatments.previews``, a draft."""
    as_of = timezone.localdate(page.list_refreshed_at) if page.list_refreshed_at else timezone.localdate()
    listed = publications_listed(page, as_of, only=evidence.chosen_filter(request.GET.get("only")))
    context = {
        "page": page,
        "ancestors": trail(page),
        "web_resources": web_resources,
        "publications_html": listed.html,
        "listed": listed,
        "as_of": as_of,
        **(extra or {}),
    }
    return render(request, "treatments/page.html", context)


def publications_listed(page, as_of, *, only: str = "") -> evidence.Listed:
    """The page's list: each entry's stored HTML and JSON-LD, fetched in one query, with its counts and
    chart.

    Entries are built when their record changes (``Publication.normalize``); only an entry cleared by a
    raw update is built here (and stored again), and only an embargoed PMC link's label depends on the
    day. A filter (``only``) picks among the listed entries in Python: the same one query for every
    filter, and the chart, the counts and the JSON-LD always describe the whole list.
    """
    if not page.publications_shown:
        return evidence.Listed(only=only)
    rows, citations = [], []
    for pk, html, cited, release, book, pmc, types, year in compiled.rows(
        _list_rows, page.publications_shown, model=PageListing, page_id=page.pk
    ):
        rows.append(evidence.Row(pk, html, release, book, bool(pmc), evidence.publication_types(types), year))
        citations.append(cited)
    stale = [row.pk for row, cited in zip(rows, citations, strict=True) if not (row.html and cited)]
    built = Publication.objects.render_stale(stale) if stale else {}
    shown = [row for row in rows if not only or row.kept_by(only, as_of)]
    html = mark_safe(  # noqa: S308 - built by citation.entry_html from cleaned markup and escaped text
        "".join(
            entry_for_date(row.html or built[row.pk][0], release_date=row.release, book_accession=row.book,
                           as_of=as_of)
            for row in shown
        )
    )  # fmt: skip
    listed = evidence.listed(rows, html, only=only, as_of=as_of)
    listed.citations = [cited or built[row.pk][1] for row, cited in zip(rows, citations, strict=True)]
    return listed


def _list_rows(limit, *, page_id):
    """``PageListing.objects.for_page``'s entries for one page size, compiled once (``compiled``)."""
    page = TreatmentPage(pk=page_id, publications_shown=limit)
    columns = ("publication_id", "publication__rendered_entry", "publication__rendered_citation",
               "publication__pmc_release_date", "publication__book_accession", "publication__in_pmc",
               Cast("publication__publication_types", TextField()), "publication__pub_year")  # fmt: skip
    return PageListing.objects.for_page(page).values_list(*columns)


@csrf_exempt
@require_POST
def feedback(request, page_id):
    """Store "Found this page useful?": one vote per visitor, page and day; a later vote replaces it.

    A No may say what was missing (``missing``, from the form on the No's thanks): kept on the same row,
    for editors only. The result comes back in the URL (``?voted=``, ``VOTE_OUTCOMES``), so the thanks
    page is cached like any other (README: Caching).

    No CSRF token: the form sits in a page cached for every reader, so it cannot carry one. A vote
    spends no credential of the reader's (the visitor cookie only counts repeats once, and is SameSite),
    so a forged vote is no more than anyone can cast directly; refusing a foreign Origin or Referer
    still stops other sites from making readers' browsers vote.
    """
    if not _same_site(request):
        return HttpResponseForbidden("Votes are taken from this site's own pages only.")
    if not ratelimit.vote_allowed(client_address(request)):
        return _too_many_votes()
    page = get_object_or_404(TreatmentPage.objects.published(), pk=page_id)
    answer = request.POST.get("useful")
    if answer not in ("yes", "no"):
        return HttpResponseBadRequest("Choose yes or no.")
    useful = answer == "yes"
    missing = "" if useful else request.POST.get("missing", "").strip().replace("\r\n", "\n")
    if len(missing) > MISSING_MAX_LENGTH:
        return HttpResponseBadRequest(f"Say what was missing in {MISSING_MAX_LENGTH} characters or fewer.")
    token = _visitor_token(request)
    outcome = _record_vote(page, _visitor_key(token), useful, missing)
    response = redirect(f"{page.get_absolute_url()}?voted={outcome}#feedback", permanent=False)
    response.status_code = 303
    response.set_signed_cookie(
        VISITOR_COOKIE,
        token,
        max_age=VISITOR_COOKIE_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return response


# What comes back in ``?voted=``: templates/jinja2/treatments/_feedback.html says each in words, and
# offers the "What was missing?" form after a No. Any other value shows no thanks.
VOTE_OUTCOMES = ("yes", "no", "changed-yes", "changed-no", "noted")
# The page cache keeps one copy per vote outcome and list filter (and page of a list: ``cache.paginate``).
cache.keep_query("voted", VOTE_OUTCOMES.__contains__)
cache.keep_query("only", evidence.FILTERS.__contains__)
MISSING_MAX_LENGTH = 500


def _record_vote(page, visitor, useful, missing):
    """Today's vote of this visitor on this page, created or replaced; the ``?voted=`` that says so.

    Text already given survives a later No without text (a reader who votes again from the page).
    """
    today = timezone.localdate()
    todays = Feedback.objects.filter(page=page, visitor=visitor, day=today)
    earlier = todays.values("useful", "missing").first()
    kept = earlier["missing"] if earlier and not useful else ""
    Feedback.objects.update_or_create(
        page=page, visitor=visitor, day=today, defaults={"useful": useful, "missing": missing or kept}
    )
    if missing:
        return "noted"
    answer = "yes" if useful else "no"
    return f"changed-{answer}" if earlier and earlier["useful"] != useful else answer


def _too_many_votes():
    """429 before any query: a flood costs the database nothing, and the reader is told to wait."""
    window = getattr(settings, "FEEDBACK_RATE_NETWORK", ratelimit.NETWORK_RATE)[1]
    response = HttpResponse(
        "Too many votes from your address or network: please try again in a few minutes.",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(window)
    response["Cache-Control"] = "private, no-store"
    return response


def _same_site(request) -> bool:
    """Does the POST come from our own pages? Browsers send Origin (or at least Referer) on a form POST.

    Neither header (an old browser, a script) is let through: it is not a browser being steered by
    another site, and a vote from a script is one anybody can cast.
    """
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source:
        return True
    try:
        parts = urlsplit(source)
    except ValueError:  # not a URL ("http://[", a broken IPv6 address): no page of ours sent it
        return False
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin == f"{request.scheme}://{request.get_host()}" or origin in settings.CSRF_TRUSTED_ORIGINS


def _visitor_token(request):
    """The visitor's cookie; else a token from the address alone, so cookie-less repeats count once.

    Not address and User-Agent: a script that changes its User-Agent each time would count each time.
    """
    token = request.get_signed_cookie(VISITOR_COOKIE, default=None)
    if token:
        return token
    address = client_address(request)
    if not address:
        return secrets.token_hex(16)
    return hashlib.sha256(f"address|{address}".encode()).hexdigest()[:32]


def client_address(request):
    """The reader's address: behind our own proxy (TRUST_X_FORWARDED_FOR), the one it saw, on a request
    that came from it (TRUSTED_PROXIES); else the address the request came from."""
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.headers.get("x-forwarded-for", "")
    if settings.TRUST_X_FORWARDED_FOR and forwarded and _from_our_proxy(remote):
        return forwarded.split(",")[-1].strip()  # the last hop is the one our proxy added
    return remote


def _from_our_proxy(remote: str) -> bool:
    """Is ``remote`` one of TRUSTED_PROXIES (addresses or networks; an IPv4 address seen as IPv6 too)?"""
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return False
    address = getattr(address, "ipv4_mapped", None) or address
    return any(address in network for network in _trusted_networks(tuple(settings.TRUSTED_PROXIES)))


@functools.lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _visitor_key(token):
    return hmac.new(settings.SECRET_KEY.encode(), token.encode(), hashlib.sha256).hexdigest()
