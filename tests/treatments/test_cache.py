"""The page cache through Django (no edge): one copy for every anonymous reader, purged on commit.

Runs on local memory in embedded mode and on Redis when REDIS_URL is set (settings pick the cache).
"""

import gzip
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import brotli
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client, RequestFactory
from taggit.models import Tag

from tests.factories import PageListingFactory, PublicationFactory, SectionFactory, TreatmentPageFactory
from treatments import cache, views, workflow

pytestmark = pytest.mark.django_db

READER_HEADERS = {"Accept-Encoding": "gzip"}


@pytest.fixture(autouse=True)
def page_cache(settings):
    """The page cache on and empty: a version of its own, so nothing else in a shared Redis is cleared."""
    settings.PAGE_CACHE_ENABLED = True
    settings.PAGE_CACHE_VERSION = f"test-{uuid.uuid4().hex}"
    return caches[settings.PAGE_CACHE_ALIAS]


@pytest.fixture
def treatment():
    parent = SectionFactory(slug="treatments", title="Treatments")
    section = SectionFactory(parent=parent, slug="biological", title="Biological")
    return TreatmentPageFactory(section=section, slug="il-2", title="Interleukin 2")


def get(url, client=None, **headers):
    return (client or Client()).get(url, headers=headers)


def reader_urls(treatment):
    return [
        "/",
        treatment.section.parent.get_absolute_url(),
        treatment.section.get_absolute_url(),
        treatment.get_absolute_url(),
    ]


def test_urls_for_a_page_are_the_page_its_sections_and_home(treatment):
    urls = cache.urls_for(treatment)  # and lists (tags, A-Z, search, feeds): tests/treatments/test_finding.py
    assert sorted(url for url in urls if url == "/" or url.startswith("/treatments/")) == sorted(
        reader_urls(treatment)
    )


def test_reader_pages_carry_nothing_of_one_reader(treatment):
    for url in reader_urls(treatment):
        response = get(url, Client(headers={"cookie": "ci_visitor=abc; csrftoken=" + "x" * 32}))
        assert response.status_code == 200, url
        assert not response.cookies, url
        assert "cookie" not in response.get("Vary", "").lower(), url
        assert b"csrfmiddlewaretoken" not in response.content, url
        assert "public" in response["Cache-Control"] and "s-maxage=" in response["Cache-Control"]
        assert "stale-if-error=" in response["Cache-Control"]
        assert response["ETag"] and response["Last-Modified"]


def test_revalidation_answers_304(treatment):
    first = get(treatment.get_absolute_url())
    assert get(treatment.get_absolute_url(), **{"If-None-Match": first["ETag"]}).status_code == 304
    assert (
        get(treatment.get_absolute_url(), **{"If-Modified-Since": first["Last-Modified"]}).status_code == 304
    )
    assert get(treatment.get_absolute_url(), **{"If-None-Match": 'W/"other"'}).status_code == 200


def test_a_pages_last_modified_is_when_it_last_changed(treatment):
    workflow.publish(treatment)  # stamps content_changed_at
    treatment.refresh_from_db()
    response = get(treatment.get_absolute_url())
    assert response["Last-Modified"] == cache.http_date(treatment.last_updated.timestamp())


def test_the_second_request_is_served_from_the_cache_without_a_query(treatment, django_assert_num_queries):
    first = get(treatment.get_absolute_url(), **READER_HEADERS)
    assert first["X-Page-Cache"] == "MISS"
    with django_assert_num_queries(0):
        second = get(treatment.get_absolute_url(), **READER_HEADERS)
    assert second["X-Page-Cache"] == "HIT"
    assert second.content == first.content
    assert second["Content-Encoding"] == "gzip"
    assert b"Interleukin 2" in gzip.decompress(second.content)
    assert b"Interleukin 2" in get(treatment.get_absolute_url()).content  # plain, for readers without gzip


def test_a_hit_carries_the_headers_of_the_render_it_copies(treatment):
    """Every header a render sent (security, policy, type, language...) comes with each copy; only the
    cache's own say which copy it is, and one copy's headers never reach another."""
    miss = get(treatment.get_absolute_url(), **READER_HEADERS)
    hits = [get(treatment.get_absolute_url(), **READER_HEADERS) for _ in range(2)]
    assert miss["X-Page-Cache"] == "MISS" and [hit["X-Page-Cache"] for hit in hits] == ["HIT", "HIT"]
    own = {"x-page-cache", "date"}
    expected = {k.lower(): v for k, v in miss.items() if k.lower() not in own}
    assert "content-security-policy" in expected and "x-content-type-options" in expected
    for hit in hits:
        assert {k.lower(): v for k, v in hit.items() if k.lower() not in own} == expected
    hits[0]["X-Extra"] = "one reader's"  # what a middleware might add to one response
    plain = get(treatment.get_absolute_url())
    assert plain["X-Page-Cache"] == "HIT" and "X-Extra" not in plain and "Content-Encoding" not in plain
    assert int(plain["Content-Length"]) == len(plain.content) > int(hits[1]["Content-Length"])


@pytest.mark.parametrize(
    ("accept_encoding", "encoding"),
    [
        ("gzip, deflate, br, zstd", "br"),  # what browsers send over HTTPS
        ("gzip, deflate", "gzip"),
        ("br;q=0, gzip", "gzip"),  # brotli refused
        ("BR;q=0.5", "br"),
        ("gzip;q=0, identity", None),
        ("identity", None),
        ("", None),
        ("br;q=nonsense, gzip;q=0.1", "gzip"),
    ],
)
def test_each_reader_gets_the_smallest_copy_it_takes(treatment, accept_encoding, encoding):
    served = [get(treatment.get_absolute_url(), **{"Accept-Encoding": accept_encoding}) for _ in range(2)]
    plain = get(treatment.get_absolute_url()).content
    assert [response["X-Page-Cache"] for response in served] == ["MISS", "HIT"]  # rendered, then stored
    for response in served:
        assert response.get("Content-Encoding") == encoding
        assert "Accept-Encoding" in response["Vary"]
        decoded = {"br": brotli.decompress, "gzip": gzip.decompress}.get(encoding, bytes)(response.content)
        assert decoded == plain
        assert int(response["Content-Length"]) == len(response.content)
    if encoding == "br":
        assert len(response.content) < len(gzip.compress(plain, 6))  # smaller than the gzipped copy


def test_without_the_page_cache_a_reader_who_takes_brotli_and_gzip_gets_gzip(treatment, settings):
    """What the edge forwards for a browser ("br, gzip") still gets compressed with the page cache off."""
    settings.PAGE_CACHE_ENABLED = False
    response = get(treatment.get_absolute_url(), **{"Accept-Encoding": "br, gzip"})
    assert response["Content-Encoding"] == "gzip" and "X-Page-Cache" not in response
    assert gzip.decompress(response.content) == get(treatment.get_absolute_url()).content


def test_a_hit_fetches_only_the_generations_when_this_process_has_the_page(
    treatment, page_cache, monkeypatch
):
    """The ~85 KB entry crosses the network once per process and change, not on every hit."""
    fetched, get_one, get_many = [], page_cache.get, page_cache.get_many

    def spy_one(key, *args, **kwargs):
        fetched.extend([key] if key.startswith("page:") else [])  # an entry, not a generation
        return get_one(key, *args, **kwargs)

    def spy_many(keys, *args, **kwargs):
        fetched.extend(key for key in keys if key.startswith("page:"))
        return get_many(keys, *args, **kwargs)

    monkeypatch.setattr(page_cache, "get", spy_one)
    monkeypatch.setattr(page_cache, "get_many", spy_many)
    cache._recent._entries.clear()
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "MISS"  # rendered here, kept here
    fetched.clear()
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "HIT"
    assert fetched == []
    cache._recent._entries.clear()  # as in another process: it fetches the entry once, then keeps it
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "HIT"
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "HIT"
    assert len(fetched) == 1


def test_within_the_recheck_interval_a_hit_asks_the_cache_nothing(
    treatment, page_cache, monkeypatch, settings
):
    settings.PAGE_CACHE_RECHECK_SECONDS = 60
    asked, get_many = [], page_cache.get_many
    monkeypatch.setattr(
        page_cache, "get_many", lambda keys, *a, **kw: asked.append(keys) or get_many(keys, *a, **kw)
    )
    get(treatment.get_absolute_url())
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "HIT"  # reads the generations once
    asked.clear()
    for _ in range(3):
        assert get(treatment.get_absolute_url())["X-Page-Cache"] == "HIT"
    assert asked == []


def test_a_purge_from_this_process_shows_at_once_inside_the_recheck_interval(
    treatment, settings, django_capture_on_commit_callbacks
):
    settings.PAGE_CACHE_RECHECK_SECONDS = 60
    warm(treatment)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.save_draft(treatment, {**workflow.content_of(treatment), "title": "Aldesleukin"})
        workflow.publish(treatment)
    response = get(treatment.get_absolute_url())
    assert response["X-Page-Cache"] == "MISS"
    assert b"Aldesleukin" in response.content


def test_a_purge_from_another_process_shows_once_the_interval_has_passed(treatment, page_cache, settings):
    """Another process's purge is a new generation in the shared cache, unseen by this one's copies."""
    settings.PAGE_CACHE_RECHECK_SECONDS = 0.2
    url = treatment.get_absolute_url()
    get(url)
    assert get(url)["X-Page-Cache"] == "HIT"
    page_cache.set(cache._generation_key(url), "another-process", timeout=60)  # what purge() writes there
    time.sleep(0.25)
    assert get(url)["X-Page-Cache"] in ("MISS", "STALE")  # rendered again, never the old copy as fresh


def warm(treatment):
    for url in reader_urls(treatment):
        get(url)
        assert get(url)["X-Page-Cache"] == "HIT"


def test_a_publish_purges_the_page_its_sections_and_home_on_commit(
    treatment, django_capture_on_commit_callbacks
):
    warm(treatment)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        workflow.save_draft(treatment, {**workflow.content_of(treatment), "title": "Aldesleukin"})
        workflow.publish(treatment)
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "HIT"  # not before the commit
    for callback in callbacks:
        callback()
    for url in reader_urls(treatment):
        assert get(url)["X-Page-Cache"] == "MISS", url
    assert b"Aldesleukin" in get(treatment.get_absolute_url()).content


def test_a_refresh_purges_the_page(treatment, django_capture_on_commit_callbacks):
    warm(treatment)
    with django_capture_on_commit_callbacks(execute=True):
        treatment.record_change(reason="list")
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "MISS"


def test_a_deletion_purges_the_page_and_its_section(treatment, django_capture_on_commit_callbacks):
    warm(treatment)
    with django_capture_on_commit_callbacks(execute=True):
        treatment.delete()
    assert get(treatment.get_absolute_url()).status_code == 404
    assert b"Interleukin 2" not in get(treatment.section.get_absolute_url()).content


def test_a_deletion_purges_the_pages_of_its_tags(treatment, django_capture_on_commit_callbacks):
    other = TreatmentPageFactory(section=treatment.section, slug="il-7", title="Interleukin 7")
    treatment.tags.add("cytokine")
    other.tags.add("cytokine")
    assert b"Interleukin 2" in get("/tags/cytokine/").content  # cached now
    with django_capture_on_commit_callbacks(execute=True):
        treatment.delete()
    listed = get("/tags/cytokine/").content
    assert b"Interleukin 2" not in listed
    assert b"Interleukin 7" in listed


def test_a_tag_the_page_loses_purges_the_tags_page_and_pages_related_through_it(
    treatment, django_capture_on_commit_callbacks, tmp_path
):
    other = TreatmentPageFactory(section=treatment.section, slug="il-7", title="Interleukin 7")
    treatment.tags.add("cytokine", "immunotherapy")
    other.tags.add("immunotherapy")
    assert b"Interleukin 2" in get("/tags/immunotherapy/").content  # cached now
    assert b"Interleukin 2" in get(other.get_absolute_url()).content  # related through the tag
    assert get("/tags/immunotherapy/")["X-Page-Cache"] == "HIT"
    # An import that changes only the page's tags (it stamps the page with an update, no save).
    spec = {"pages": [{"section": treatment.section.path, "slug": "il-2", "title": "Interleukin 2",
                       "tags": ["cytokine"]}]}  # fmt: skip
    (tmp_path / "tags.json").write_text(json.dumps(spec))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_pages", str(tmp_path / "tags.json"), stdout=io.StringIO())
    assert list(treatment.tags.names()) == ["cytokine"]
    assert b"Interleukin 2" not in get("/tags/immunotherapy/").content
    assert b"Interleukin 2" not in get(other.get_absolute_url()).content


def rename(page, title):
    workflow.save_draft(page, {**workflow.content_of(page), "title": title})
    workflow.publish(page)


def test_a_page_renamed_shows_on_a_page_listing_it_as_related_through_a_shared_pmid(
    treatment, django_capture_on_commit_callbacks
):
    """A page lists another as related if that one lists a PMID it shows, anywhere in its list: the other
    page's own related pages (what was purged) count only the entries it shows, so the rename was not
    seen there until the copy expired (10 minutes, then the edge's)."""
    shared = PublicationFactory()
    PageListingFactory(page=treatment, publication=shared)
    renamed = TreatmentPageFactory(
        section=treatment.section, slug="b", title="Bevacizumab", publications_shown=1
    )
    PageListingFactory(page=renamed, publication=PublicationFactory(), position=0)  # all it shows
    PageListingFactory(page=renamed, publication=shared, position=1)
    assert b"Bevacizumab" in get(treatment.get_absolute_url()).content  # cached now
    with django_capture_on_commit_callbacks(execute=True):
        rename(renamed, "Avastin")
    assert b"Avastin" in get(treatment.get_absolute_url()).content
    with django_capture_on_commit_callbacks(execute=True):
        workflow.unpublish(renamed)
    assert renamed.get_absolute_url().encode() not in get(treatment.get_absolute_url()).content


def test_a_page_renamed_shows_on_every_page_listing_it_as_related_through_a_tag(
    treatment, django_capture_on_commit_callbacks
):
    """Each page shows its own five related pages, most shared first, then by title: a page with one
    common tag shows the first titles with it, though it is far down their own related pages."""
    renamed = TreatmentPageFactory(section=treatment.section, slug="a", title="Abemaciclib")
    renamed.tags.add("chemotherapy")
    treatment.tags.add("chemotherapy")  # "Interleukin 2": after 60 others in Abemaciclib's own ranking
    for number in range(60):
        TreatmentPageFactory(section=treatment.section, title=f"Agent {number:02}").tags.add("chemotherapy")
    assert b"Abemaciclib" in get(treatment.get_absolute_url()).content  # cached now
    with django_capture_on_commit_callbacks(execute=True):
        rename(renamed, "Abemaciclib (Verzenio)")
    assert b"Verzenio" in get(treatment.get_absolute_url()).content


def test_a_tag_renamed_shows_on_every_page_with_it(treatment, django_capture_on_commit_callbacks):
    treatment.tags.add("cytokine")
    warm(treatment)
    assert b"cytokine" in get(treatment.get_absolute_url()).content
    with django_capture_on_commit_callbacks(execute=True):
        tag = treatment.tags.get()
        tag.name = "Cytokines (renamed)"
        tag.save()
    assert b"Cytokines (renamed)" in get(treatment.get_absolute_url()).content


def test_tags_merged_in_the_admin_show_on_every_page(
    treatment, editor_client, django_capture_on_commit_callbacks
):
    """taggit's "Merge selected tags" moves the pages' tagged items row by row: no page and no tag is
    saved, so nothing was purged and readers kept the old tag's name, link and page."""
    other = TreatmentPageFactory(section=treatment.section, slug="il-7", title="Interleukin 7")
    treatment.tags.add("cytokine")
    other.tags.add("cytokines", "cytokine")
    assert b"/tags/cytokine/" in get(treatment.get_absolute_url()).content  # cached now
    assert b"Interleukin 2" in get("/tags/cytokine/").content
    chosen = [tag.pk for tag in Tag.objects.filter(name__in=["cytokine", "cytokines"])]
    editor_client.post("/admin/taggit/tag/", {"action": "render_tag_form", "_selected_action": chosen})
    with django_capture_on_commit_callbacks(execute=True):
        merged = editor_client.post("/admin/taggit/tag/merge-tags/", {"new_tag_name": "cytokine therapy"})
    assert merged.status_code == 302
    assert list(treatment.tags.names()) == ["cytokine therapy"]
    shown = get(treatment.get_absolute_url()).content
    assert b"/tags/cytokine-therapy/" in shown and b"/tags/cytokine/" not in shown
    assert get("/tags/cytokine/").status_code == 404  # no page carries it now


def test_a_section_rename_purges_every_page_below_it(treatment, django_capture_on_commit_callbacks):
    warm(treatment)
    with django_capture_on_commit_callbacks(execute=True):
        treatment.section.parent.title = "Therapies"
        treatment.section.parent.save()
    assert b"Therapies" in get(treatment.get_absolute_url()).content  # the breadcrumb


def test_a_rolled_back_change_purges_nothing(treatment, django_capture_on_commit_callbacks):
    warm(treatment)
    with django_capture_on_commit_callbacks(execute=False):
        treatment.record_change(reason="content")
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "HIT"


def test_staff_never_get_a_cached_page_and_readers_never_get_theirs(treatment, settings):
    staff = get_user_model().objects.create_user("editor", password="x", is_staff=True)
    editor = Client()
    editor.force_login(staff)
    get(treatment.get_absolute_url())  # a reader's copy is in the cache
    for _ in range(2):
        response = get(treatment.get_absolute_url(), editor)
        assert "X-Page-Cache" not in response
        assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "HIT"  # still the reader's copy
    settings.PAGE_CACHE_VERSION += "-again"
    get(treatment.get_absolute_url(), editor)
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "MISS"  # the editor's render was not kept


def test_while_one_request_renders_a_purged_page_the_others_get_the_stale_copy(
    treatment, page_cache, django_assert_num_queries
):
    get(treatment.get_absolute_url())
    cache.purge([treatment.get_absolute_url()])
    request = RequestFactory().get(treatment.get_absolute_url())
    entry_key = cache._keys(request, cache._cached_host(request))[0]
    page_cache.add(entry_key + ":lock", 1, timeout=10)  # someone else is rendering it
    with django_assert_num_queries(0):
        response = get(treatment.get_absolute_url())
    assert response["X-Page-Cache"] == "STALE"
    assert response["Cache-Control"] == "no-cache"  # never kept downstream
    page_cache.delete(entry_key + ":lock")
    assert get(treatment.get_absolute_url())["X-Page-Cache"] == "MISS"


def test_an_unpublished_page_is_never_served_stale_once_it_is_gone(
    treatment, page_cache, django_capture_on_commit_callbacks, monkeypatch
):
    """The stale copy readers get while one request renders is of a page that was there: once the render
    finds none (unpublished, deleted, moved), the copy of the old page went on being served to every
    reader who came during another render, for a day, the edge passing them all through (404s and stale
    copies are never kept there)."""
    url = treatment.get_absolute_url()
    get(url)
    with django_capture_on_commit_callbacks(execute=True):
        workflow.unpublish(treatment)
    assert get(url).status_code == 404
    request = RequestFactory().get(url)
    lock = cache._keys(request, cache._cached_host(request))[0] + ":lock"
    page_cache.add(lock, 1, timeout=10)  # another reader's request, rendering the URL
    monkeypatch.setattr(cache, "WAIT_SECONDS", 0.1)  # no copy: this one waits for it, then renders
    response = get(url)
    page_cache.delete(lock)
    assert b"Interleukin 2" not in response.content
    assert response.status_code == 404


def test_concurrent_requests_for_a_purged_page_render_it_once(treatment, monkeypatch):
    """Without a stale copy, the readers who arrive during the render wait for it."""
    renders = []
    real = cache._render

    def slow_render(request, get_response):
        renders.append(request.path)
        threading.Event().wait(0.3)
        return real(request, get_response)

    monkeypatch.setattr(cache, "_render", slow_render)
    results = []

    def reader():
        results.append(
            cache._serve(RequestFactory().get("/x/"), lambda request: HttpResponse(b"page"), "testserver")
        )

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(renders) == 1
    assert sorted(r["X-Page-Cache"] for r in results) == ["HIT"] * 7 + ["MISS"]


def test_with_the_cache_off_pages_still_tell_the_edge_how_to_cache(treatment, settings):
    settings.PAGE_CACHE_ENABLED = False
    response = get(treatment.get_absolute_url())
    assert "X-Page-Cache" not in response
    assert "public" in response["Cache-Control"] and response["ETag"]


def test_a_page_has_one_etag_whether_the_cache_served_it_or_not(treatment, settings):
    """A reader's copy revalidates (304) whichever path answers: the page cache, or a render with the
    cache off, down, or just purged. Compressed or not, the ETag names the same bytes."""
    settings.PAGE_CACHE_ENABLED = False
    rendered = get(treatment.get_absolute_url())
    assert "X-Page-Cache" not in rendered
    settings.PAGE_CACHE_ENABLED = True
    served = get(treatment.get_absolute_url(), **READER_HEADERS)
    assert served["X-Page-Cache"] == "MISS" and served["Content-Encoding"] == "gzip"
    assert served["ETag"] == rendered["ETag"]
    revalidated = get(treatment.get_absolute_url(), **{"If-None-Match": rendered["ETag"]})
    assert revalidated.status_code == 304
    settings.PAGE_CACHE_ENABLED = False
    assert get(treatment.get_absolute_url(), **{"If-None-Match": served["ETag"]}).status_code == 304


@pytest.mark.parametrize("page_cache", [False, True], ids=["caches off", "page cache"])
def test_a_304_and_a_head_carry_the_headers_their_get_would(treatment, settings, page_cache):
    """With the caches off, a 304 had no Cache-Control and no Vary (set above the middleware that made
    it), and a HEAD had no ETag and never a 304: Django's conditional GET skips HEAD."""
    settings.PAGE_CACHE_ENABLED = page_cache
    url = treatment.get_absolute_url()
    full = get(url, **READER_HEADERS)
    revalidated = get(url, **READER_HEADERS, **{"If-None-Match": full["ETag"]})
    assert revalidated.status_code == 304
    for header in ("Cache-Control", "Vary", "ETag", "Last-Modified"):
        assert revalidated.get(header) == full[header], header
    head = Client().head(url, headers=READER_HEADERS)
    assert head.status_code == 200 and head["ETag"] == full["ETag"] and not head.content
    head = Client().head(url, headers={**READER_HEADERS, "If-None-Match": full["ETag"]})
    assert head.status_code == 304 and head["Cache-Control"] == full["Cache-Control"]


def test_other_pages_are_not_kept(treatment):
    assert get("/no-such-treatment/").status_code == 404
    assert "X-Page-Cache" not in get("/no-such-treatment/")
    assert "X-Page-Cache" not in get("/about/")


class BanRecorder(BaseHTTPRequestHandler):
    bans: list = []

    def do_BAN(self):
        self.bans.append(self.headers["X-Ban-Url"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def edge_server(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), BanRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.EDGE_PURGE_URL = f"http://127.0.0.1:{server.server_port}/"
    BanRecorder.bans = []
    yield BanRecorder.bans
    server.shutdown()


def test_a_change_bans_its_urls_at_the_edge_on_commit(
    treatment, edge_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        treatment.record_change(reason="list")
    (pattern,) = edge_server
    assert pattern.startswith("^(?:") and pattern.endswith(r")(?:\?.*)?$")
    for url in reader_urls(treatment):
        assert url.replace("-", r"\-") in pattern


def test_a_move_bans_everything_at_the_edge(treatment, edge_server, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        treatment.section.slug = "biologicals"
        treatment.section.save()
    assert set(edge_server) == {"^/"}


def test_a_change_made_while_the_cache_is_down_still_bans_its_urls_at_the_edge(
    treatment, edge_server, settings, django_capture_on_commit_callbacks
):
    """Readers are served uncached while Redis is down, but the edge kept its copy of the old page for
    its s-maxage: the purge failed at Redis and never sent the ban."""
    settings.CACHES = {
        "default": {"BACKEND": "cancerindex.redis_cache.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    with django_capture_on_commit_callbacks(execute=True):
        rename(treatment, "Aldesleukin")
        treatment.section.parent.save()  # a section's change: everything
    assert any(treatment.get_absolute_url().replace("-", r"\-") in ban for ban in edge_server)
    assert edge_server[-1] == "^/"


def test_an_edge_that_is_down_is_logged_not_raised(settings, caplog):
    settings.EDGE_PURGE_URL = "http://127.0.0.1:9/"
    assert cache.edge.ban("^/") is False
    assert "Edge purge failed" in caplog.text


def test_hashed_static_files_are_cached_for_a_year(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0, stdout=io.StringIO())
    (hashed,) = [p for p in (tmp_path / "css").glob("site.*.css")]
    response = Client().get(f"/static/css/{hashed.name}", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    max_age = int(response["Cache-Control"].split("max-age=")[1].split(",")[0])
    assert max_age >= 365 * 24 * 3600 and "public" in response["Cache-Control"]
    assert response["Content-Encoding"] == "gzip"
    brotli_response = Client().get(f"/static/css/{hashed.name}", headers={"Accept-Encoding": "gzip, br"})
    assert brotli_response["Content-Encoding"] == "br"
    served = b"".join(brotli_response.streaming_content)
    assert brotli.decompress(served) == hashed.read_bytes()


def test_every_process_purges_not_only_the_web_one():
    """A command or a Celery worker never loads the URLconf: the purge must be connected at start-up
    (``TreatmentsConfig.ready()`` imports ``treatments.cache``)."""
    code = "from treatments.changes import page_changed; print(page_changed.has_listeners())"
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split()[-1] == "True", done.stderr


def test_only_known_query_strings_are_kept(treatment):
    get(treatment.get_absolute_url() + "?voted=yes")
    assert get(treatment.get_absolute_url() + "?voted=yes")["X-Page-Cache"] == "HIT"
    assert "X-Page-Cache" not in get(treatment.get_absolute_url() + "?utm_source=junk")


@pytest.mark.parametrize(
    "query", ["?voted=junk", "?voted=yes&voted=no", "?only=everything", "?page=x", "?page=1234567", "?voted="]
)
def test_only_known_values_of_a_kept_query_string_are_kept(treatment, query):
    """One copy per vote outcome, filter and later page; nobody fills the cache with made-up values."""
    url = treatment.get_absolute_url() + query
    get(url)
    assert "X-Page-Cache" not in get(url)


def test_a_page_number_is_kept_only_where_a_list_has_that_page(treatment, monkeypatch):
    """``?page=`` takes a million values: kept on every reader URL, each number of each page (a treatment
    page has no list of pages), a number past the end or written "02" was one more copy of a page nobody
    links to, and anyone could fill the cache with them."""
    monkeypatch.setattr(views, "SECTION_PAGES_PER_PAGE", 1)
    TreatmentPageFactory(section=treatment.section, slug="il-7", title="Interleukin 7")
    section = treatment.section.get_absolute_url()
    for url in [f"{section}?page=1", f"{section}?page=2", f"{section}?voted=yes&page=2"]:
        assert get(url).status_code == 200
        assert get(url)["X-Page-Cache"] == "HIT", url  # the list's pages, as its links name them
    for url in [f"{section}?page=3", f"{section}?page=999999", f"{section}?page=02", "/a-z/?page=2",
                treatment.get_absolute_url() + "?page=2", "/?page=7", "/search/?page=5"]:  # fmt: skip
        first = get(url)
        assert first.status_code == 200 and "public" in first["Cache-Control"], url
        assert "X-Page-Cache" not in get(url), url


def test_a_cache_that_is_down_serves_the_page_uncached(treatment, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(cache, "_cache", lambda: type("Down", (), {"get_many": down})())
    response = get(treatment.get_absolute_url())
    assert response.status_code == 200 and "X-Page-Cache" not in response


def test_another_host_the_site_accepts_never_puts_its_urls_in_every_readers_copy(
    treatment, settings, django_capture_on_commit_callbacks
):
    """Django accepts a listed host with another port, case or a trailing dot; the copy one such request
    stored (its canonical URL, JSON-LD, sitemap and feed links all built from the Host) was served to
    every reader. Such a host gets its own page, rendered and never kept (each would be one more copy
    anyone could add); the listed host's copy stays its own and is purged as before."""
    settings.ALLOWED_HOSTS = ["cancerindex.org"]
    reader = Client(headers={"host": "cancerindex.org"})
    for odd_host in ("CancerIndex.ORG:8443", "cancerindex.org.", "cancerindex.org:1"):
        odd = Client(headers={"host": odd_host})
        for url in [treatment.get_absolute_url(), "/robots.txt", "/sitemap.xml", "/feeds/site.atom"]:
            response = odd.get(url)
            assert f"http://{odd_host}/".encode() in response.content, url  # as it asked
            assert "X-Page-Cache" not in response and "public" in response["Cache-Control"], url
            response = reader.get(url)
            assert response.status_code == 200, url
            assert odd_host.encode() not in response.content, url
            assert b"http://cancerindex.org/" in response.content, url
    assert reader.get(treatment.get_absolute_url())["X-Page-Cache"] == "HIT"
    with django_capture_on_commit_callbacks(execute=True):
        workflow.save_draft(treatment, {**workflow.content_of(treatment), "title": "Aldesleukin"})
        workflow.publish(treatment)
    response = reader.get(treatment.get_absolute_url())
    assert response["X-Page-Cache"] == "MISS" and b"Aldesleukin" in response.content


@pytest.mark.parametrize("method", ["post", "put", "delete", "options", "trace"])
def test_reader_pages_answer_get_and_head_only(treatment, method):
    for url in [*reader_urls(treatment), "/feeds/site.atom", "/sitemap.xml", "/search/?q=interleukin"]:
        response = getattr(Client(enforce_csrf_checks=True), method)(url)
        assert response.status_code == 405, (method, url)
        assert response["Allow"] == "GET, HEAD" and b"Interleukin" not in response.content
    assert Client().head(treatment.get_absolute_url()).status_code == 200


def test_a_new_tag_purges_only_what_shows_its_page(treatment, django_capture_on_commit_callbacks):
    other = TreatmentPageFactory(section=treatment.section, slug="il-7", title="Interleukin 7")
    warm(treatment)
    get(other.get_absolute_url())
    with django_capture_on_commit_callbacks(execute=True):
        treatment.tags.add("brand-new-tag")  # taggit creates the Tag here
    assert get(other.get_absolute_url())["X-Page-Cache"] == "HIT"  # not the whole site
    assert b"brand-new-tag" in get("/tags/brand-new-tag/").content


@pytest.fixture
def own_redis(settings):
    """A redis-server of this test's own (never the shared one, which these tests fill or pause), as the
    page cache's Redis, configured as settings configure it."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):  # .ci/run runs PostgreSQL and Redis: missing there is a failure
            pytest.fail("redis-server is missing and CI is set")
        pytest.skip("needs redis-server (apt-get install -y redis-server), which embedded mode does not")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        settings.CACHES = {
            "default": {
                "BACKEND": "cancerindex.redis_cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
            }
        }
        yield server, port
    finally:
        server.send_signal(signal.SIGCONT)
        server.terminate()
        server.wait(timeout=10)


def test_a_cache_that_refuses_writes_serves_the_page_uncached(treatment, own_redis):
    """Redis full under its default policy (noeviction), or a read-only replica, answers reads and refuses
    writes: every page not in the cache was a 500."""
    _, port = own_redis
    subprocess.run(
        ["redis-cli", "-p", str(port), "config", "set", "maxmemory", "1"], check=True, capture_output=True
    )
    for url in reader_urls(treatment):
        response = Client(raise_request_exception=False).get(url)
        assert response.status_code == 200 and "public" in response["Cache-Control"], url
    assert b"Interleukin 2" in response.content


def test_a_cache_that_stops_answering_serves_the_page_uncached_at_once(treatment, own_redis):
    """A Redis that stops answering (paused, swapping, a dropped connection) held readers' requests until it
    answered again, or gunicorn killed the worker: each gives up within a second and the page is rendered."""
    server, _ = own_redis
    get(treatment.get_absolute_url())  # connected
    server.send_signal(signal.SIGSTOP)
    threading.Timer(6, server.send_signal, [signal.SIGCONT]).start()  # never hangs this test for good
    started = time.monotonic()
    response = get(treatment.get_absolute_url() + "?voted=yes")
    assert time.monotonic() - started < 3
    assert response.status_code == 200 and "X-Page-Cache" not in response
    assert b"Interleukin 2" in response.content
