"""Atom and RSS feeds of the latest research: one per treatment page, one for the whole site.

An entry is a publication as a page lists it: its title as text, the citation line as summary, the
PubMed link, and the date the page first listed it (``PageListing.first_listed_at``). Only what readers
see is in a feed: published pages, and the entries their page shows (``PageListing.for_page``'s rule:
not hidden, within the page's limit, pinned first). Neither feed loads a record's XML, and each is a
fixed number of queries whatever the size. The views are readers' pages, cached whole like the
pages themselves and purged with them (``cache.urls_for``).
"""

import re
from html import escape

from django.contrib.syndication.views import Feed
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed

from publications.models import NEWEST_LISTED, PageListing

from . import cache
from .models import TreatmentPage
from .structured_data import SITE_NAME

SITE_FEED_SIZE = 50  # the newest entries across the site
# Entry ids: tag URIs (RFC 4151) on the listing, so an entry keeps its id if its page moves.
ENTRY_ID = "tag:cancerindex.org,1996:listing/{pk}"


# What XML 1.0 cannot carry, even escaped: C0 controls but tab, newline and return, lone surrogates,
# U+FFFE and U+FFFF. An editor's paste from a word processor brings a vertical tab (its line break).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value):
    """``value`` with what XML cannot carry dropped (a control character becomes a space); other
    values as they are. Django's feed writer refuses such a character with a server error."""
    if isinstance(value, str):
        return _NOT_XML.sub(" ", value)
    if isinstance(value, list | tuple):
        return [xml_text(item) for item in value]
    return value


class _Generator:
    """What both formats' writers do: every text XML-safe (``xml_text``); an empty feed dated by what it
    is of (the page's last change), not by the time it was served."""

    def __init__(self, *args, **kwargs):
        super().__init__(*map(xml_text, args), **{key: xml_text(value) for key, value in kwargs.items()})

    def add_item(self, *args, **kwargs):
        super().add_item(*map(xml_text, args), **{key: xml_text(value) for key, value in kwargs.items()})

    def latest_post_date(self):
        if not self.items and self.feed.get("updated") is not None:
            return self.feed["updated"]
        return super().latest_post_date()


class AtomFeed(_Generator, Atom1Feed):
    pass


class RssFeed(_Generator, Rss201rev2Feed):
    pass


class _ListingFeed(Feed):
    """What both feeds show of a listing; subclasses say which listings, and of what."""

    feed_type = AtomFeed
    author_name = SITE_NAME
    language = "en-GB"
    item_guid_is_permalink = False

    def item_title(self, listing):
        return listing.publication.title_text

    def item_description(self, listing):
        """The citation line (summaries are HTML in both formats, so the text is escaped)."""
        publication = listing.publication
        line = publication.citation_line
        if publication.is_retracted:
            line = f"Retracted publication. {line}"
        return escape(line)

    def item_link(self, listing):
        return listing.publication.pubmed_url

    def item_guid(self, listing):
        return ENTRY_ID.format(pk=listing.pk)

    def item_author_name(self, listing):
        return listing.publication.author_line or None

    def item_pubdate(self, listing):
        return listing.first_listed_at

    def item_updateddate(self, listing):
        return listing.first_listed_at


class PageFeed(_ListingFeed):
    """A published page's latest research, as the page lists it."""

    def get_object(self, request, page_id):
        return TreatmentPage.objects.published().select_related("section").get(pk=page_id)

    def title(self, page):
        return f"{page.display_title}: latest research - {SITE_NAME}"

    def subtitle(self, page):
        return f"The latest research publications listed on {SITE_NAME}'s {page.display_title} page."

    description = subtitle

    def link(self, page):
        return page.get_absolute_url()

    def items(self, page):
        return PageListing.objects.for_page(page).with_citation()

    def feed_extra_kwargs(self, page):
        return {"updated": page.last_updated}


class SiteFeed(_ListingFeed):
    """The newest entries across every published page; each names its page as its category."""

    title = f"{SITE_NAME}: latest research"
    subtitle = description = "The research publications most recently listed on CancerIndex's pages."

    def link(self):
        return reverse("treatments:home")

    def items(self):
        return newest_listings(SITE_FEED_SIZE)

    def item_categories(self, listing):
        return [listing.page.display_title]


class PageRssFeed(PageFeed):
    feed_type = RssFeed


class SiteRssFeed(SiteFeed):
    feed_type = RssFeed


def newest_listings(limit: int):
    """The ``limit`` most recently listed entries that readers see, across all published pages, in one query.

    An entry counts only if its page shows it (``PageListing.objects.newest_shown``): within the page's
    limit in the page's order, so the first refresh of a new page adds its shown entries, not its
    thousand results.
    """
    return (
        PageListing.objects.filter(pk__in=PageListing.objects.newest_shown(limit))
        .select_related("page__section")
        .with_citation("page__title", "page__other_name", "page__slug", "page__section__path")
        .order_by(*NEWEST_LISTED)
    )


_views = {
    "page_atom": PageFeed(),
    "page_rss": PageRssFeed(),
    "site_atom": SiteFeed(),
    "site_rss": SiteRssFeed(),
}


@cache.reader_page
def page_atom(request, page_id):
    return _views["page_atom"](request, page_id=page_id)


@cache.reader_page
def page_rss(request, page_id):
    return _views["page_rss"](request, page_id=page_id)


@cache.reader_page
def site_atom(request):
    return _views["site_atom"](request)


@cache.reader_page
def site_rss(request):
    return _views["site_rss"](request)
