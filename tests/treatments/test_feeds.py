"""Following and finding: each page's and the site's Atom and RSS feeds, sitemap.xml, robots.txt, the icon."""

import datetime
import struct
import uuid

import lxml.etree
import lxml.html
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.http import parse_http_date

from publications.models import NEWEST_LISTED, PageListing
from tests.factories import PageListingFactory, SectionFactory, TreatmentPageFactory
from treatments import cache, feeds, paths
from treatments.models import Section, TreatmentPage

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
DAY = datetime.timedelta(days=1)
START = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)


def listed(page, number, *, days_ago=0, **extra):
    """A listing first listed ``days_ago`` days before START, at position ``number``."""
    return PageListingFactory(page=page, position=number, first_listed_at=START - days_ago * DAY, **extra)


@pytest.fixture
def page():
    section = SectionFactory(slug="treatments", title="Treatments")
    return TreatmentPageFactory(section=section, slug="il-2", title="Interleukin 2", publications_shown=3)


def atom(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    root = lxml.etree.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    return root


def rss(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    assert response["Content-Type"] == "application/rss+xml; charset=utf-8"
    root = lxml.etree.fromstring(response.content)
    assert root.tag == "rss" and root.get("version") == "2.0"
    return root.find("channel")


def entries(feed):
    return feed.findall(f"{ATOM}entry")


def titles(feed):
    return [entry.findtext(f"{ATOM}title") for entry in entries(feed)]


# --- A page's feed -------------------------------------------------------------------------------


def test_a_pages_atom_feed_lists_what_the_page_shows_in_its_order(client, page):
    newest = listed(page, 0, days_ago=0, publication__title="Newest.")
    listed(page, 1, publication__title="Hidden.", hidden=True)
    older = listed(page, 2, days_ago=3, publication__title="Older.")
    listed(page, 3, publication__title="Past the limit.")
    pinned = listed(page, 9, days_ago=30, publication__title="Pinned.", pinned=True)

    feed = atom(client, f"/feeds/{page.pk}.atom")

    assert titles(feed) == ["Pinned.", "Newest.", "Older."]  # as on the page: hidden never, limit kept
    assert feed.findtext(f"{ATOM}title") == "Interleukin 2: latest research - CancerIndex"
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {
        "alternate": "http://testserver/treatments/il-2/",
        "self": f"http://testserver/feeds/{page.pk}.atom",
    }
    first = entries(feed)[0]
    assert (
        first.find(f"{ATOM}link").get("href") == f"https://pubmed.ncbi.nlm.nih.gov/{pinned.publication.pmid}/"
    )
    assert first.findtext(f"{ATOM}published") == "2024-04-01T12:00:00+00:00"  # first listed, 30 days before
    assert first.findtext(f"{ATOM}id") == f"tag:cancerindex.org,1996:listing/{pinned.pk}"
    assert first.findtext(f"{ATOM}summary") == "Cancer Res. 2019; 79(1):1-10"
    assert first.findtext(f"{ATOM}author/{ATOM}name") == "Smith J"
    # The feed is as new as its newest entry, and says so to HTTP too.
    assert feed.findtext(f"{ATOM}updated") == "2024-05-01T12:00:00+00:00"
    assert newest.first_listed_at > older.first_listed_at


def test_entry_titles_are_text_and_summaries_are_escaped_citations(client, page):
    listed(
        page,
        0,
        publication__title="IL-2<sup>+</sup> cells & <i>TERT</i>.",
        publication__journal="J Am Coll Surg & Med",
        publication__is_retracted=True,
    )

    entry = entries(atom(client, f"/feeds/{page.pk}.atom"))[0]

    assert entry.findtext(f"{ATOM}title") == "IL-2+ cells & TERT."
    summary = entry.find(f"{ATOM}summary")
    assert summary.get("type") == "html"
    assert summary.text == "Retracted publication. J Am Coll Surg &amp; Med. 2019; 79(1):1-10"


def test_a_pages_rss_feed_carries_the_same_entries(client, page):
    only = listed(page, 0, days_ago=2, publication__title="A <i>study</i>.")

    channel = rss(client, f"/feeds/{page.pk}.rss")

    assert channel.findtext("title") == "Interleukin 2: latest research - CancerIndex"
    assert channel.findtext("link") == "http://testserver/treatments/il-2/"
    [item] = channel.findall("item")
    assert item.findtext("title") == "A study."
    assert item.findtext("link") == f"https://pubmed.ncbi.nlm.nih.gov/{only.publication.pmid}/"
    assert item.find("guid").get("isPermaLink") == "false"
    assert item.findtext("guid") == f"tag:cancerindex.org,1996:listing/{only.pk}"
    assert item.findtext("pubDate") == "Mon, 29 Apr 2024 12:00:00 +0000"
    assert item.findtext("description") == "Cancer Res. 2019; 79(1):1-10"


def test_an_empty_feed_is_dated_by_its_pages_last_change_and_stays_the_same_bytes(client, page):
    first, second = client.get(f"/feeds/{page.pk}.atom"), client.get(f"/feeds/{page.pk}.atom")
    assert first.content == second.content
    updated = lxml.etree.fromstring(first.content).findtext(f"{ATOM}updated")
    assert datetime.datetime.fromisoformat(updated) == page.last_updated
    assert parse_http_date(first["Last-Modified"]) == int(page.last_updated.timestamp())


@pytest.mark.parametrize("suffix", ["atom", "rss"])
def test_drafts_and_unknown_pages_have_no_feed(client, suffix):
    draft = TreatmentPageFactory(published=False)
    listed(draft, 0)
    assert client.get(f"/feeds/{draft.pk}.{suffix}").status_code == 404
    assert client.get(f"/feeds/999999.{suffix}").status_code == 404


@pytest.mark.parametrize("size", [1, 25])
def test_a_pages_feed_is_two_queries_whatever_its_size_and_never_reads_the_xml(
    client, page, size, django_assert_num_queries
):
    page.publications_shown = 30
    page.save()
    for number in range(size):
        listed(page, number, publication__source_xml="<PubmedArticle>…</PubmedArticle>")
    with CaptureQueriesContext(connection) as queries, django_assert_num_queries(2):  # the page, its list
        assert len(entries(atom(client, f"/feeds/{page.pk}.atom"))) == size
    assert not any("source_xml" in query["sql"] for query in queries.captured_queries)


# --- The site's feed -----------------------------------------------------------------------------


def test_the_site_feed_is_the_newest_entries_readers_see_across_published_pages(client, page):
    other = TreatmentPageFactory(title="Aldesleukin", publications_shown=1)
    draft = TreatmentPageFactory(published=False)
    listed(page, 0, days_ago=1, publication__title="IL-2, yesterday.")
    listed(page, 1, days_ago=5, publication__title="IL-2, last week.")
    listed(page, 2, days_ago=0, publication__title="IL-2, hidden today.", hidden=True)
    listed(other, 0, days_ago=2, publication__title="Aldesleukin, two days ago.")
    listed(other, 1, days_ago=0, publication__title="Aldesleukin, past the page's limit.")
    listed(draft, 0, days_ago=0, publication__title="On a draft page.")

    feed = atom(client, "/feeds/site.atom")

    assert titles(feed) == ["IL-2, yesterday.", "Aldesleukin, two days ago.", "IL-2, last week."]
    assert feed.findtext(f"{ATOM}title") == "CancerIndex: latest research"
    categories = [entry.find(f"{ATOM}category").get("term") for entry in entries(feed)]
    assert categories == ["Interleukin 2", "Aldesleukin", "Interleukin 2"]
    channel = rss(client, "/feeds/site.rss")
    assert [item.findtext("title") for item in channel.findall("item")] == titles(feed)
    assert channel.findtext("link") == "http://testserver/"


def test_the_site_feed_is_bounded(client, page, monkeypatch):
    monkeypatch.setattr(feeds, "SITE_FEED_SIZE", 2)
    for number in range(3):
        listed(page, number, days_ago=number, publication__title=f"Entry {number}.")
    assert titles(atom(client, "/feeds/site.atom")) == ["Entry 0.", "Entry 1."]


def test_the_site_feed_takes_each_pages_shown_entries_by_the_pages_own_order(page):
    """Pins first (in their order), hidden never, each page's limit, drafts never, ties in their page's
    order: the site feed's query (a walk down the newest listings) picks what ranking every listing picks."""
    other = TreatmentPageFactory(publications_shown=2)
    draft = TreatmentPageFactory(published=False)
    # A first refresh of many entries at once: only the page's first two are shown.
    burst = [listed(other, number, days_ago=0) for number in range(6)]
    old_pin = listed(page, 9, days_ago=30, pinned=True, pin_position=2)
    first_pin = listed(page, 8, days_ago=20, pinned=True, pin_position=1)
    hidden = listed(page, 0, days_ago=0, hidden=True)
    newest = listed(page, 1, days_ago=1)
    past_limit = listed(page, 2, days_ago=2)
    listed(draft, 0, days_ago=0)
    reference = (
        PageListing.objects.filter(page__published=True)
        .shown_on_their_pages()
        .order_by(*NEWEST_LISTED)
        .values_list("pk", flat=True)
    )
    for limit in (1, 3, 5, 50):
        chosen = set(PageListing.objects.newest_shown(limit).values_list("pk", flat=True))
        assert chosen == set(list(reference)[:limit])
    assert set(PageListing.objects.newest_shown(50).values_list("pk", flat=True)) == {
        burst[0].pk, burst[1].pk, first_pin.pk, old_pin.pk, newest.pk,
    }  # fmt: skip
    assert hidden.pk not in reference and past_limit.pk not in reference


def test_entries_listed_at_once_come_in_their_pages_order(client, page):
    """One refresh lists its entries at one instant: the feed keeps the page's order (newest research
    first), whatever order the rows were written in."""
    for number in (2, 0, 1):
        listed(page, number, days_ago=0, publication__title=f"Position {number}.")
    listed(page, 3, days_ago=1, publication__title="Yesterday.")
    page.publications_shown = 4
    page.save()

    assert titles(atom(client, "/feeds/site.atom")) == [
        "Position 0.",
        "Position 1.",
        "Position 2.",
        "Yesterday.",
    ]


def test_the_site_feed_looks_past_a_burst_its_pages_do_not_show(client, page):
    """Hundreds of visible entries newer than the rest, on a page that shows three of them, leave room
    for older entries of other pages."""
    other = TreatmentPageFactory(title="Aldesleukin")
    listed(other, 0, days_ago=3, publication__title="Older, on another page.")
    for number in range(200):
        listed(page, number, days_ago=0, publication__title=f"Burst {number}.")

    assert titles(atom(client, "/feeds/site.atom")) == [
        "Burst 0.", "Burst 1.", "Burst 2.", "Older, on another page.",
    ]  # fmt: skip


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has no index walk to check: it ranks every listing (newest_shown), and CI runs PostgreSQL",
)
def test_the_site_feed_walks_the_newest_listings_index_not_every_page(page):
    """The walk down the newest visible listings reads its index, and each page's list through the page's
    index: never every page's shown entries (52 ms at 3,000 pages)."""
    listed(page, 0, days_ago=0)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = PageListing.objects.newest_shown(50).query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "listing_newest_visible" in plan
    assert "listing_page_order" in plan


@pytest.mark.parametrize("pages", [1, 6])
def test_the_site_feed_is_one_query_whatever_the_size(client, pages, django_assert_num_queries):
    for _ in range(pages):
        page = TreatmentPageFactory()
        for number in range(4):
            listed(page, number, days_ago=number, publication__source_xml="<PubmedArticle/>")
    with CaptureQueriesContext(connection) as queries, django_assert_num_queries(1):
        assert len(entries(atom(client, "/feeds/site.atom"))) == 4 * pages
    assert "source_xml" not in queries.captured_queries[0]["sql"]


# --- Finding the feeds, and keeping them fresh ---------------------------------------------------


def test_pages_name_their_feeds_and_the_sites_in_the_head(client, page):
    head = lxml.html.fromstring(client.get(page.get_absolute_url()).content).find("head")
    feeds_named = {(link.get("type"), link.get("href")) for link in head.cssselect('link[rel="alternate"]')}
    assert feeds_named == {
        ("application/atom+xml", f"/feeds/{page.pk}.atom"),
        ("application/rss+xml", f"/feeds/{page.pk}.rss"),
        ("application/atom+xml", "/feeds/site.atom"),
        ("application/rss+xml", "/feeds/site.rss"),
    }
    for _, href in feeds_named:
        assert client.get(href).status_code == 200, href
    home = lxml.html.fromstring(client.get("/").content)
    assert len(home.cssselect('head link[rel="alternate"]')) == 2  # the site's feeds everywhere


def test_feeds_are_cached_and_purged_with_their_page(
    client, page, settings, django_capture_on_commit_callbacks
):
    settings.PAGE_CACHE_ENABLED = True
    settings.PAGE_CACHE_VERSION = f"test-{uuid.uuid4().hex}"
    urls = [f"/feeds/{page.pk}.atom", f"/feeds/{page.pk}.rss", "/feeds/site.atom", "/feeds/site.rss",
            "/sitemap.xml"]  # fmt: skip
    assert set(urls) <= set(cache.urls_for(page))
    for url in urls:
        client.get(url)
        assert client.get(url)["X-Page-Cache"] == "HIT", url
    with django_capture_on_commit_callbacks(execute=True):
        listed(page, 0, publication__title="Just listed.")
        page.record_change(reason="list")
    for url in urls:
        response = client.get(url)
        assert response["X-Page-Cache"] == "MISS", url
    assert b"Just listed." in client.get(f"/feeds/{page.pk}.atom").content


# --- Sitemap, robots.txt, icon -------------------------------------------------------------------


def test_the_sitemap_lists_home_sections_and_published_pages_with_their_last_change(client, page):
    page.record_change(reason="list", at=timezone.now() + DAY)
    page.refresh_from_db()
    draft = TreatmentPageFactory(section=page.section, slug="draft", published=False)

    response = client.get("/sitemap.xml")

    assert response.status_code == 200
    root = lxml.etree.fromstring(response.content)
    urls = {url.findtext(f"{SITEMAP}loc"): url.findtext(f"{SITEMAP}lastmod") for url in root}
    assert urls == {
        "http://testserver/": None,
        "http://testserver/treatments/": None,
        "http://testserver/treatments/il-2/": timezone.localdate(page.last_updated).isoformat(),
    }
    assert f"http://testserver{draft.get_absolute_url()}" not in urls


@pytest.mark.parametrize("pages", [1, 5])
def test_the_sitemap_is_two_queries_whatever_the_size(client, pages, django_assert_num_queries):
    TreatmentPageFactory.create_batch(pages)
    with django_assert_num_queries(2):  # sections, pages
        response = client.get("/sitemap.xml")
    assert response.content.count(b"<url>") == 1 + 2 * pages


def test_robots_txt_names_the_sitemap_by_its_absolute_url(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    lines = response.content.decode().splitlines()
    assert "User-agent: *" in lines and "Disallow: /admin/" in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines
    assert client.post("/robots.txt").status_code == 405


def test_the_icon_is_a_real_icon_served_at_the_root_with_long_cache_headers(
    client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert "max-age=604800" in response["Cache-Control"] and "public" in response["Cache-Control"]
    reserved, kind, count = struct.unpack("<HHH", response.content[:6])
    assert (reserved, kind) == (0, 1) and count >= 1  # an ICO directory
    width, height = response.content[6], response.content[7]
    assert (width, height) == (16, 16)
    head = lxml.html.fromstring(client.get("/").content).find("head")
    assert head.cssselect('link[rel="icon"]')[0].get("href") == "/static/favicon.ico"


# --- Reserved names ------------------------------------------------------------------------------


def test_no_section_can_take_the_names_of_feeds_sitemap_robots_or_the_icon():
    assert paths.is_reserved("feeds")
    with pytest.raises(ValidationError, match="reserved"):
        Section(slug="feeds", title="Feeds").full_clean()
    for name in ("sitemap.xml", "robots.txt", "favicon.ico"):
        assert paths.path_problem(name) is not None  # a dot: never a slug
        with pytest.raises(ValidationError):
            Section(slug=name, title=name).full_clean()


def test_a_page_slug_cannot_shadow_them_either(client, page):
    assert not TreatmentPage.objects.filter(slug__contains=".").exists()
    assert client.get("/feeds/").status_code == 404  # "feeds" is not a section


def test_what_xml_cannot_carry_is_dropped_from_every_feed_not_a_server_error(client, page, settings):
    """A vertical tab is what a word processor's line break pastes into a title; U+FFFE is not a
    character XML allows either. Every feed stays well-formed and says the rest."""
    settings.PAGE_CACHE_ENABLED = False
    TreatmentPage.objects.filter(pk=page.pk).update(other_name="Aldesleukin\x0b(Proleukin)\ufffe")
    listed(
        page, 0, publication__title="CD8<sup>+</sup>\x0bT cells\ufffe.", publication__authors_text="Ann\x01 B"
    )
    for url in (f"/feeds/{page.pk}.atom", "/feeds/site.atom"):
        feed = atom(client, url)  # parsed by lxml: well-formed
        assert titles(feed) == ["CD8+ T cells ."], url
        names = feed.findtext(f"{ATOM}title") + " ".join(c.get("term") for c in feed.iter(f"{ATOM}category"))
        assert "\x0b" not in names and "\ufffe" not in names
    assert "Aldesleukin (Proleukin)" in atom(client, "/feeds/site.atom").find(
        f"{ATOM}entry/{ATOM}category"
    ).get("term")
    for url in (f"/feeds/{page.pk}.rss", "/feeds/site.rss"):
        channel = rss(client, url)
        assert [item.findtext("title") for item in channel.findall("item")] == ["CD8+ T cells ."], url
