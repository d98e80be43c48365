"""Print what one hourly pass over every page costs: NCBI requests, time, and the time at NCBI's rates.

usage: .venv/bin/python benchmarks/hourly.py [--pages 3000] [--rate 3] [--new 2] [--keep]

Embedded mode (SQLite in a scratch file, removed at the end unless --keep) and the fake E-utilities
server of the tests (tests/fakes/eutils.py) on a local port. It creates N published pages, each with its
own search of 20 of the fake's articles, fills every list with a first pass, then lets --new percent of
the searches find one more article and times the second pass: each page refreshed in turn, as the
workers would, through one client whose rate limiter allows --rate requests a second (3 is NCBI's
rate without an API key; at 3, 3,000 pages take about 17 minutes, so try --pages 300 --rate 50).
Figures, not assertions: the projection is requests / rate, plus the time the site itself spent.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PER_PAGE = 20


def setup_django(sqlite_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    for name in ("DATABASE_URL", "REDIS_URL", "CACHE_URL"):
        os.environ.pop(name, None)
    os.environ.update(DJANGO_SETTINGS_MODULE="cancerindex.settings", SQLITE_PATH=str(sqlite_path))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_pages(count: int, fake, pool: list[int]) -> list:
    """``count`` published pages, page n searching 20 consecutive articles of the pool (wrapping)."""
    from tests.factories import SectionFactory
    from treatments.models import TreatmentPage

    section = SectionFactory()
    TreatmentPage.objects.bulk_create(
        TreatmentPage(
            section=section, title=f"Page {n}", slug=f"page-{n}", pubmed_query=f"query {n}", published=True
        )
        for n in range(count)
    )
    pages = list(TreatmentPage.objects.published().with_query().order_by("pk"))
    for n, page in enumerate(pages):
        fake.set_search(page.pubmed_query, searched(pool, n))
    return pages


def searched(pool: list[int], n: int) -> list[int]:
    return [pool[(n + i) % len(pool)] for i in range(PER_PAGE)]


def one_pass(pages, client) -> dict:
    from publications.refresh import refresh_page

    outcomes = {"quiet": 0, "recorded": 0, "failed": 0}
    for page in pages:
        run = refresh_page(page, client=client)
        if run.status != "ok":
            outcomes["failed"] += 1
        outcomes["recorded" if run.recorded else "quiet"] += run.status == "ok"
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=3.0, help="requests a second (NCBI: 3, 10 with a key)")
    parser.add_argument("--new", type=float, default=2.0, help="percent of pages whose search finds one more")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    options = parser.parse_args()

    sqlite_path = Path(tempfile.mkdtemp(prefix="cancerindex-hourly-")) / "bench.sqlite3"
    setup_django(sqlite_path)
    from django.conf import settings
    from django.db import connection

    from publications.models import PageCheck, RefreshRun
    from publications.pubmed import EutilsClient
    from publications.pubmed.ratelimit import LocalRateLimiter
    from publications.refresh import SPREAD_SECONDS, schedule_pass
    from tests.fakes.eutils import FakeEutils, fixture_articles

    with FakeEutils() as fake:
        pool = sorted(fixture_articles())
        fresh, pool = pool[:10], pool[10:]  # articles no page lists before the second pass
        pages = build_pages(options.pages, fake, pool)
        client = EutilsClient(
            fake.base_url,
            tool=settings.NCBI_TOOL,
            email=settings.NCBI_EMAIL or "benchmark@example.org",
            rate_limiter=LocalRateLimiter(options.rate),
        )
        print(f"{len(pages)} pages, {PER_PAGE} results each; rate limit {options.rate:g} requests/s")

        start = time.perf_counter()
        filled = one_pass(pages, client)
        took = time.perf_counter() - start
        print(f"first pass (fills every list): {len(fake.requests)} requests in {took:.1f} s, {filled}")

        step = max(1, round(100 / options.new)) if options.new > 0 else len(pages) + 1
        changed = pages[::step]
        for n, page in enumerate(changed):
            fake.set_search(page.pubmed_query, [fresh[n % len(fresh)], *searched(pool, pages.index(page))])
        fake.requests.clear()
        runs_before = RefreshRun.objects.count()

        due = schedule_pass()
        start = time.perf_counter()
        outcome = one_pass(pages, client)
        elapsed = time.perf_counter() - start
        client.close()

        requests = len(fake.requests)
        esearch, efetch = len(fake.requests_to("esearch")), len(fake.requests_to("efetch"))
        waited = requests / options.rate  # the rate limiter's share of the time
        own = max(0.0, elapsed - waited)  # what the site itself spent (database, parsing)
        print(f"hourly pass: {len(changed)} pages with one new article, the rest unchanged")
        print(f"  requests: {requests} ({esearch} esearch, {efetch} efetch); {outcome}")
        print(
            f"  elapsed: {elapsed:.1f} s at {options.rate:g} requests/s ({own:.1f} s of it the site's work)"
        )
        runs = RefreshRun.objects.count() - runs_before
        print(f"  refresh runs added: {runs}; page checks (one row a page): {PageCheck.objects.count()}")
        print(
            f"  the beat task queued {len(due)} pages, the last {due[-1][1]:.0f} s after the hour"
            if due
            else ""
        )
        for rate in (3, 10):
            projected = requests / rate + own
            per_10k = projected * 10_000 / len(pages)
            print(
                f"  projected at {rate} requests/s: {projected / 60:.1f} min for {len(pages)} pages, "
                f"{per_10k / 60:.1f} min for 10,000 ({'fits' if per_10k < 3600 else 'overruns'} the hour)"
            )
        print(f"  (the schedule spreads a pass over at most {SPREAD_SECONDS // 60} minutes at NCBI's pace)")
    connection.close()
    if options.keep:
        print(f"database kept: {sqlite_path}")
    else:
        sqlite_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
