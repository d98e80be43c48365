"""What readers' pages say about themselves to machines: canonical URL, Open Graph, schema.org JSON-LD.

Plain functions returning dicts, built in Python from the models (never by hand in templates), so each
shape is tested on its own; ``treatments.templatetags.reader_meta`` puts them in the page's head. URLs
are absolute, from the request's host: a cached page keeps the host it was rendered for, and
ALLOWED_HOSTS keeps that one of ours.
"""

import json
from html import unescape

from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from django.utils.html import format_html, strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from publications import citation

SITE_NAME = "CancerIndex"
SITE_DESCRIPTION = "CancerIndex: a guide to cancer information and the latest research."
SCHEMA = "https://schema.org"
DOI_URL = "https://doi.org/{doi}"
DESCRIPTION_WORDS = 40  # as the page's meta description
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


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


def text_of(rich_text: str, words: int = DESCRIPTION_WORDS) -> str:
    """Rich text as one line of plain text, cut at ``words`` words."""
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


def medical_web_page(request, page, trail, publications) -> dict:
    """The treatment page: what it is, when it changed and was reviewed, where it sits, what it cites."""
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
    if articles := [scholarly_article(publication) for publication in publications]:
        data["citation"] = articles
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


def scholarly_article(publication) -> dict:
    """One listed entry: its title as text, authors, date, journal, and its PMID and DOI."""
    title = publication.title_text
    data = {"@type": "ScholarlyArticle", "headline": title, "name": title}
    if authors := [author for author in map(_author, publication.authors) if author["name"]]:
        data["author"] = authors
    if published := date_published(publication.pub_year, publication.pub_month):
        data["datePublished"] = published
    if journal := publication.journal_title or publication.journal:
        data["isPartOf"] = {"@type": "Periodical", "name": journal}
    if publication.pages:
        data["pagination"] = publication.pages
    identifiers = []
    if publication.pmid:
        identifiers.append(_identifier("PMID", str(publication.pmid)))
    if publication.doi:
        identifiers.append(_identifier("DOI", publication.doi))
        data["sameAs"] = DOI_URL.format(doi=publication.doi)
    if identifiers:
        data["identifier"] = identifiers
    data["url"] = (
        publication.pubmed_url
        if publication.pmid or not publication.doi
        else DOI_URL.format(doi=publication.doi)
    )
    return data


def date_published(year: str, month: str = "") -> str | None:
    """ISO 8601 as far as it is known: "2019-06", "2019", or None."""
    if not (len(year) == 4 and year.isdigit()):
        return None
    if month in _MONTHS:
        return f"{year}-{_MONTHS.index(month) + 1:02d}"
    if month.isdigit() and 1 <= int(month) <= 12:
        return f"{year}-{int(month):02d}"
    return year


def _author(author: dict) -> dict:
    kind = "Organization" if author.get("collective_name") else "Person"
    return {"@type": kind, "name": citation.author_name(author)}


def _identifier(kind: str, value: str) -> dict:
    return {"@type": "PropertyValue", "propertyID": kind, "value": value}


# --- Embedding -----------------------------------------------------------------------------------

# As django.utils.html.json_script escapes: no "</script>", "<!--" or "&" can end or bend the element.
# (Three str.replace calls: str.translate with a dict looks up every character in Python, 10x slower.)
_SCRIPT_SAFE = (("<", "\\u003C"), (">", "\\u003E"), ("&", "\\u0026"))


def json_ld(data: dict) -> SafeString:
    """A ``<script type="application/ld+json">`` holding ``data``, safe whatever its strings contain."""
    text = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    for character, escaped in _SCRIPT_SAFE:
        text = text.replace(character, escaped)
    safe = mark_safe(text)  # noqa: S308 - every <, > and & is escaped
    return format_html('<script type="application/ld+json">{}</script>', safe)
