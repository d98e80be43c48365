"""What readers' pages say about themselves to machines: canonical URL, Open Graph, schema.org JSON-LD.

Plain functions returning dicts, built in Python from the models (never by hand in templates), so each
shape is tested on its own; ``treatments.templating`` puts them in the page's head. URLs
are absolute, from the request's host: a cached page keeps the host it was rendered for, and
ALLOWED_HOSTS keeps that one of ours.
"""

from collections.abc import Sequence
from functools import lru_cache
from html import unescape

from django.utils.html import format_html, strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from cancerindex.reversing import reverse
from publications.schema import script_safe_json

SITE_NAME = "CancerIndex"
SITE_DESCRIPTION = "CancerIndex: a guide to cancer information and the latest research."
SCHEMA = "https://schema.org"
DESCRIPTION_WORDS = 40  # as the page's meta description


# --- URLs ----------------------------------------------------------------------------------------


def canonical_url(request, paginated=None) -> str:
    """The page's own absolute URL without its query string; a later page of a list keeps ``?page=N``."""
    url = request.build_absolute_uri(request.path)
    number = getattr(paginated, "number", 1)
    return f"{url}?page={number}" if number > 1 else url


# --- Open Graph ----------------------------------------------------------------------------------


def open_graph(*, title: str, description: str, url: str, kind: str = "website") -> dict[str, str]:
    """The og: properties every shared link previews from."""
    return {
        "og:title": title,
        "og:description": description,
        "og:url": url,
        "og:type": kind,
        "og:site_name": SITE_NAME,
    }


@lru_cache(maxsize=1024)
def text_of(rich_text: str, words: int = DESCRIPTION_WORDS) -> str:
    """Rich text as one line of plain text, cut at ``words`` words (remembered: a page's head and its
    JSON-LD both ask, on every render, for the same text)."""
    return Truncator(" ".join(unescape(strip_tags(rich_text)).split())).words(words)


# --- schema.org ----------------------------------------------------------------------------------


def breadcrumb_list(crumbs: list[tuple[str, str]]) -> dict:
    """A BreadcrumbList of (name, absolute URL) pairs, home first."""
    return {
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": number, "name": name, "item": url}
            for number, (name, url) in enumerate(crumbs, start=1)
        ],
    }


def crumbs(request, trail, current: tuple[str, str]) -> list[tuple[str, str]]:
    """Home, each section of the trail, and the current node: what the visible breadcrumb shows."""
    home = ("Home", request.build_absolute_uri(reverse("treatments:home")))
    sections = [(s.title, request.build_absolute_uri(s.get_absolute_url())) for s in trail]
    return [home, *sections, current]


def medical_web_page(request, page, trail) -> dict:
    """The treatment page: what it is, when it changed and was reviewed, where it sits (``json_ld`` adds
    what it cites)."""
    url = request.build_absolute_uri(page.get_absolute_url())
    data = {
        "@context": SCHEMA,
        "@type": "MedicalWebPage",
        "name": page.display_title,
        "url": url,
        "description": text_of(page.description),
        "inLanguage": "en-GB",
        "dateModified": page.last_updated.isoformat(),
        "isPartOf": {
            "@type": "WebSite",
            "name": SITE_NAME,
            "url": request.build_absolute_uri(reverse("treatments:home")),
        },
        "breadcrumb": breadcrumb_list(crumbs(request, trail, (page.display_title, url))),
    }
    if page.last_reviewed_at:
        data["lastReviewed"] = page.last_reviewed_at.isoformat()
    return data


def section_page(request, section, trail) -> dict:
    """A section: its breadcrumb, as a CollectionPage of the site."""
    url = request.build_absolute_uri(section.get_absolute_url())
    return {
        "@context": SCHEMA,
        "@type": "CollectionPage",
        "name": section.title,
        "url": url,
        "breadcrumb": breadcrumb_list(crumbs(request, trail, (section.title, url))),
    }


# --- Embedding -----------------------------------------------------------------------------------


def json_ld(data: dict, *, citations: Sequence[str] = ()) -> SafeString:
    """A ``<script type="application/ld+json">`` holding ``data``, safe whatever its strings contain.

    ``citations`` are entries' ScholarlyArticles as their records store them (``publications.schema``,
    already script-safe JSON): they go in as ``data["citation"]`` without being parsed and dumped again.
    """
    text = script_safe_json(data)
    if citations:
        text = f'{text[:-1]},"citation":[{",".join(citations)}]}}'
    safe = mark_safe(text)  # noqa: S308 - every <, > and & is escaped
    return format_html('<script type="application/ld+json">{}</script>', safe)
