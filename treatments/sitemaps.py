"""What crawlers read first: sitemap.xml (home, every section, every published page), robots.txt, favicon.ico.

The sitemap and robots.txt are readers' pages (cached, purged with a page: ``cache.urls_for``); their URLs
are absolute, from the request's host. The icon is a static file served at the root, where browsers
and feed readers look for it without reading a page.
"""

import functools

from django.contrib.sitemaps import Sitemap
from django.contrib.sitemaps.views import sitemap as sitemap_view
from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from . import cache
from .models import Section, TreatmentPage

ICON = "favicon.ico"
ICON_CACHE_SECONDS = 7 * 24 * 3600  # its URL has no hash, so a week rather than a year


class HomeSitemap(Sitemap):
    def items(self):
        return ["treatments:home"]

    def location(self, name):
        return reverse(name)


# Items are lists, not querysets: the sitemap's paginator would count each queryset first (a query more).


class SectionSitemap(Sitemap):
    def items(self):
        return list(Section.objects.only("path").order_by("path"))


class PageSitemap(Sitemap):
    """Published pages, dated by their last change (an edit or a list refresh)."""

    def items(self):
        pages = TreatmentPage.objects.published().select_related("section").order_by("pk")
        return list(pages.only("slug", "section__path", "content_changed_at", "list_refreshed_at"))

    def lastmod(self, page):
        return page.last_updated


SITEMAPS = {"home": HomeSitemap, "sections": SectionSitemap, "pages": PageSitemap}


@cache.reader_page
def sitemap(request):
    return sitemap_view(request, sitemaps=SITEMAPS)


@cache.reader_page  # GET and HEAD only, as every reader's page
def robots_txt(request):
    sitemap_url = request.build_absolute_uri(reverse("treatments:sitemap"))
    return render(
        request, "robots.txt", {"sitemap_url": sitemap_url}, content_type="text/plain; charset=utf-8"
    )


@require_safe
def favicon(request):
    """The icon's bytes, read once per process; no query, no session."""
    response = HttpResponse(_icon(), content_type="image/x-icon")
    response["Cache-Control"] = f"public, max-age={ICON_CACHE_SECONDS}"
    return response


@functools.cache
def _icon() -> bytes:
    found = finders.find(ICON)
    if found is None:  # pragma: no cover - the file is in static/, in the repository
        raise Http404("No icon.")
    with open(found, "rb") as icon:
        return icon.read()
