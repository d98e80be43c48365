"""Build issue 9's size (3,000 pages, 300,000 listings, 50,000 publications) and time what grows.

Usage: .venv/bin/python benchmarks/scale.py [--requests N] [--keep]
It needs PostgreSQL: BENCHMARK_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/cancerindex_bench_scale)
names a scratch database, dropped and created afresh (its name must contain "bench": never point it at a
real one), and dropped again at the end unless --keep. Redis: BENCHMARK_REDIS_URL (default db 14),
flushed before each timed request so every render is uncached. Prints, per reader page and admin view,
the median time in-process, the SQL queries and the response size; then the recheck query (old and new)
and the pruning of refresh runs. Figures, not assertions: compare runs on the same machine.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import django
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/cancerindex_bench_scale"
DATABASE_URL = os.environ.get("BENCHMARK_DATABASE_URL", DEFAULT_URL)
DATABASE_NAME = urlsplit(DATABASE_URL).path.lstrip("/")


def configure() -> None:
    """Settings for the scratch database; the builders below also run in tests, on the test database
    (tests/test_benchmarks.py), so that this script keeps up with the models."""
    if "bench" not in DATABASE_NAME:
        sys.exit(f"refusing to drop {DATABASE_NAME!r}: a scratch database's name contains 'bench'")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="cancerindex.settings",
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=os.environ.get("BENCHMARK_REDIS_URL", "redis://127.0.0.1:6379/14"),
        SECRET_KEY="benchmark-only",  # noqa: S106 - a scratch database
        STATIC_ROOT=tempfile.mkdtemp(prefix="cancerindex-scale-static-"),
    )
    os.environ.pop("CACHE_URL", None)


PAGES, SECTIONS, BIG_SECTION = 3000, 28, 300
LISTINGS_PER_PAGE, BIG_PAGE_LISTINGS = 99, 3000  # 2,999 x 99 + 3,000 = 299,901 listings
PUBLICATIONS = 50_000
RUN_DAYS = 100  # a run per page per day: 300,000 runs, 10 days of them past the 90 kept


def recreate_database(drop_only=False):
    admin_url = urlsplit(DATABASE_URL)._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def build():
    """The content at full size: ORM for what needs Python (a publication's HTML), SQL for the rest."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    start = time.perf_counter()
    build_tree()
    build_publications()
    build_listings_and_runs()
    print(f"built in {time.perf_counter() - start:.0f} s: {counts()}")


def build_tree():
    from treatments.models import Section, TreatmentPage

    root = Section.objects.create(slug="treatments", title="Treatments")
    sections = [
        Section.objects.create(parent=root, slug=f"group-{n}", title=f"Group {n}") for n in range(SECTIONS)
    ]
    sizes = [BIG_SECTION] + [(PAGES - BIG_SECTION) // (SECTIONS - 1)] * (SECTIONS - 1)
    sizes[-1] += PAGES - sum(sizes)
    pages = [
        TreatmentPage(
            section=section, slug=f"treatment-{s}-{n}", title=f"Treatment {s}-{n:03}", published=True,
            description="<p>" + "About this treatment. " * 40 + "</p>", pubmed_query=f"treatment {s} {n}",
        )
        for s, (section, size) in enumerate(zip(sections, sizes, strict=True))
        for n in range(size)
    ]  # fmt: skip
    TreatmentPage.objects.bulk_create(pages, batch_size=1000)


def build_publications():
    from publications.models import Publication

    abstract = [
        {"label": "BACKGROUND", "text": "Why the trial was run. " * 20},
        {"text": "What it found. " * 30},
    ]
    for first in range(0, PUBLICATIONS, 5000):
        rows = [
            Publication(
                pmid=30_000_000 + n, title=f"A randomised trial of treatment {n} in <i>advanced</i> cancer.",
                authors=[{"last_name": f"Author{n}", "initials": "J"}, {"last_name": "Lee", "initials": "A"}],
                journal="Cancer Res", pub_year=str(1995 + n % 30), volume="79", issue="1", pages="1-10",
                abstract=abstract, source_xml=f"<PubmedArticle>{'<x/>' * 600}</PubmedArticle>",
            )
            for n in range(first, min(first + 5000, PUBLICATIONS))
        ]  # fmt: skip
        for row in rows:
            row.normalize()
        Publication.objects.bulk_create(rows, batch_size=1000)


def build_listings_and_runs():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM treatments_treatmentpage")
        first_page, last_page = cursor.fetchone()
        cursor.execute("SELECT min(id) FROM publications_publication")
        (first_pub,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO publications_pagelisting"
            " (page_id, publication_id, position, first_listed_at, pinned, hidden)"
            " SELECT p.id, %s + (p.id * 7919 + n) %% %s, n, now(), n = 50, n = 60"
            " FROM treatments_treatmentpage p, generate_series(0, %s - 1) n WHERE p.id <> %s",
            [first_pub, PUBLICATIONS, LISTINGS_PER_PAGE, first_page],
        )
        cursor.execute(
            "INSERT INTO publications_pagelisting"
            " (page_id, publication_id, position, first_listed_at, pinned, hidden)"
            " SELECT %s, %s + n, n, now(), false, false FROM generate_series(0, %s - 1) n",
            [first_page, first_pub, BIG_PAGE_LISTINGS],
        )
        cursor.execute(
            "INSERT INTO publications_refreshrun (page_id, started_at, finished_at, status, query,"
            " pmids_found, publications_new, error, warnings, publications_added, publications_dropped,"
            " query_changed, previous_query)"
            " SELECT p.id, now() - d * interval '1 day', now() - d * interval '1 day' + interval '2 seconds',"
            " CASE WHEN (p.id + d) %% 97 = 0 THEN 'failed' ELSE 'ok' END, p.pubmed_query, 100, 1,"
            " CASE WHEN (p.id + d) %% 97 = 0 THEN 'HTTP 500 from NCBI' ELSE '' END, '', 1, 1, false, ''"
            " FROM treatments_treatmentpage p, generate_series(0, %s - 1) d",
            [RUN_DAYS],
        )
        cursor.execute(
            "UPDATE publications_publication SET updated_at = now() - (id %% %s) * interval '1 day'", [60]
        )
        cursor.execute("ANALYZE")
    return first_page, last_page


def counts():
    from publications.models import PageListing, Publication, RefreshRun
    from treatments.models import TreatmentPage

    models = (TreatmentPage, PageListing, Publication, RefreshRun)
    return ", ".join(f"{m.objects.count():,} {m._meta.verbose_name_plural}" for m in models)


def measure(client, label, url, requests, *, method="get", data=None, status=200):
    """Median time of ``requests`` uncached requests, with the first one's queries and size."""
    from django.core.cache import cache
    from django.db import connection

    queries, timings = [], []
    for attempt in range(requests):
        cache.clear()
        start = time.perf_counter()
        with connection.execute_wrapper(lambda execute, sql, *a: queries.append(sql) or execute(sql, *a)):
            response = (
                getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
            )
        timings.append(time.perf_counter() - start)
        assert response.status_code == status, (url, response.status_code)
        if attempt == 0:
            first_queries, size = len(queries), len(response.content)
    median = statistics.median(timings) * 1000
    print(f"  {label:<44} {median:8.1f} ms {first_queries:5d} queries {size:>10,} bytes")


def reader_pages(client, requests):
    from treatments.models import Section, TreatmentPage

    big_page = TreatmentPage.objects.order_by("pk").first()
    small_page = TreatmentPage.objects.order_by("pk").last()
    big_section = big_page.section
    print("reader pages (uncached):")
    measure(client, f"treatment page, {BIG_PAGE_LISTINGS:,} listed", big_page.get_absolute_url(), requests)
    measure(client, f"treatment page, {LISTINGS_PER_PAGE} listed", small_page.get_absolute_url(), requests)
    measure(client, f"section of {BIG_SECTION} pages, page 1", big_section.get_absolute_url(), requests)
    measure(
        client,
        f"section of {BIG_SECTION} pages, page 6",
        big_section.get_absolute_url() + "?page=6",
        requests,
    )
    measure(
        client, "section of sections", Section.objects.get(slug="treatments").get_absolute_url(), requests
    )
    measure(client, "home", "/", requests)
    measure(client, "site feed (Atom)", "/feeds/site.atom", requests)
    measure(client, "page feed, 3,000 listed (Atom)", f"/feeds/{big_page.pk}.atom", requests)
    measure(client, "search: interleukin", "/search/?q=interleukin", requests)
    return big_page


def admin_views(client, big_page, requests):
    from publications.models import PageListing

    page_form = f"/admin/treatments/treatmentpage/{big_page.pk}/change/"
    print("admin (signed in as a superuser):")
    for label, url in [
        ("page list", "/admin/treatments/treatmentpage/"),
        (f"page form, {BIG_PAGE_LISTINGS:,} listed", page_form),
        ("publication list", "/admin/publications/publication/"),
        ("publication search: a PMID", "/admin/publications/publication/?q=30012345"),
        ("publication search: title words", "/admin/publications/publication/?q=treatment+4711"),
        ("publication search: an author", "/admin/publications/publication/?q=author49999"),
        ("refresh runs", "/admin/publications/refreshrun/"),
        ("refresh runs: failed", "/admin/publications/refreshrun/?status__exact=failed"),
        ("refresh runs: one page", f"/admin/publications/refreshrun/?page__id__exact={big_page.pk}"),
        ("refresh runs: search a page", "/admin/publications/refreshrun/?q=treatment+3-017"),
        ("a page's whole list", f"/admin/publications/pagelisting/?page__id__exact={big_page.pk}"),
    ]:
        measure(client, label, url, requests)
    shown = list(PageListing.objects.for_form(big_page))
    data = page_form_data(big_page, shown)
    measure(
        client,
        f"page form saved ({len(shown)} rows, 1 pinned)",
        page_form,
        1,
        method="post",
        data=data,
        status=302,
    )


def page_form_data(page, shown):
    data = {
        "section": page.section_id, "slug": page.slug, "title": page.title, "description": page.description,
        "pubmed_query": page.pubmed_query, "publications_shown": page.publications_shown, "tags": "",
        "web_resources-TOTAL_FORMS": 0, "web_resources-INITIAL_FORMS": 0, "_save_draft": "1",
        "listings-TOTAL_FORMS": len(shown), "listings-INITIAL_FORMS": len(shown),
    }  # fmt: skip
    for i, listing in enumerate(shown):
        data |= {f"listings-{i}-id": listing.pk, f"listings-{i}-page": page.pk}
    data["listings-3-pinned"] = "on"
    return data


def recheck_and_prune(big_page):
    from django.db.models import Q
    from django.utils import timezone

    from publications.models import RECHECK_AFTER, Publication, RefreshRun

    found = list(range(30_000_000, 30_000_000 + 400))
    stale = Publication.objects.filter(pmid__isnull=False, updated_at__lt=timezone.now() - RECHECK_AFTER)
    old = stale.filter(Q(pmid__in=found) | Q(listings__page=big_page, listings__pinned=True)).distinct()
    print("refresh:")
    timed("recheck, one query (OR across a LEFT JOIN)", lambda: list(old.order_by("updated_at")[:200]))
    timed("recheck, two indexed queries", lambda: Publication.objects.due_for_recheck(big_page, found))
    before = RefreshRun.objects.count()
    deleted = timed("prune refresh runs", RefreshRun.objects.prune, repeat=1)
    print(f"  pruned {deleted:,} of {before:,} runs (kept 90 days, each page's latest run and failure)")


def timed(label, work, repeat=5):
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        timings.append(time.perf_counter() - start)
    print(f"  {label:<44} {statistics.median(timings) * 1000:8.1f} ms")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5, help="timed requests per view (median)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    args = parser.parse_args()
    configure()
    recreate_database()
    django.setup()
    from django.contrib.auth.models import User
    from django.db import connections
    from django.test import Client

    try:
        build()
        client = Client(HTTP_HOST="127.0.0.1")
        big_page = reader_pages(client, args.requests)
        client.force_login(User.objects.create_superuser("bench", password="bench-only-passphrase"))  # noqa: S106
        admin_views(client, big_page, args.requests)
        recheck_and_prune(big_page)
    finally:
        connections.close_all()
        if not args.keep:
            recreate_database(drop_only=True)


if __name__ == "__main__":
    main()
