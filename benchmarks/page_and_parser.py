"""Print how fast the treatment page renders and how fast the PubMed parser runs.

Usage: .venv/bin/python benchmarks/page_and_parser.py [--requests N]
It migrates and loads the demo into a throw-away SQLite database unless BENCHMARK_DATABASE_URL
names another (say, a scratch PostgreSQL database): never point it at a real one.
Figures, not assertions: compare runs on the same machine.
"""

import argparse
import io
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scratch import load_demo, use_scratch_state  # noqa: E402 - benchmarks/scratch.py, beside this script

use_scratch_state("cancerindex-bench-")
os.environ.setdefault("PAGE_CACHE", "0")  # time the render itself, not the page cache (treatments/cache.py)

import cputime  # noqa: E402 - benchmarks/cputime.py, beside this script
import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from publications.pubmed import parse_efetch  # noqa: E402

PAGE = "/treatments/biological-therapies/interleukin-2/"
FIXTURES = ROOT / "tests" / "fixtures" / "pubmed" / "efetch"


def bench_page(requests: int) -> None:
    load_demo()
    client = Client(HTTP_HOST="127.0.0.1")
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)):
        response = client.get(PAGE)
    assert response.status_code == 200, response.status_code
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        client.get(PAGE)
        timings.append(time.perf_counter() - start)
    timings.sort()
    print(f"page {PAGE}: {len(response.content):,} bytes, {len(queries)} SQL queries")
    print(
        f"  {requests} renders in-process: median {statistics.median(timings) * 1000:.1f} ms, "
        f"p95 {timings[int(len(timings) * 0.95) - 1] * 1000:.1f} ms, {requests / sum(timings):.0f} pages/s"
    )
    bench_parts(requests)


def bench_parts(requests: int) -> None:
    """Where a render's CPU goes: the whole request, then each part the treatment page view runs, in this
    process and (on PostgreSQL on this machine) in its backend."""
    from django.core.wsgi import get_wsgi_application
    from django.template.loader import get_template
    from django.test import RequestFactory
    from django.urls import resolve
    from django.utils import timezone

    from treatments import paths, views
    from treatments.models import TreatmentPage

    path = PAGE.strip("/")
    page = paths.find(path)
    as_of = timezone.localdate(page.list_refreshed_at) if page.list_refreshed_at else timezone.localdate()
    request = RequestFactory().get(PAGE, HTTP_HOST="127.0.0.1")
    request.resolver_match = resolve(PAGE)  # the head's canonical URL, Open Graph and JSON-LD need it
    listed = views.publications_listed(page, as_of)
    extras = TreatmentPage.objects.reader_extras(page, related=views.RELATED_PAGES)
    context = {
        "page": page, "ancestors": views.trail(page), "as_of": as_of, "listed": listed,
        "publications_html": listed.html, "web_resources": extras.links, "tags": extras.tags,
        "related": extras.related,
    }  # fmt: skip
    template = get_template("treatments/page.html")
    wsgi = get_wsgi_application()
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": PAGE, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
    }  # fmt: skip
    parts = {
        "whole request (WSGI, no server)": lambda: b"".join(wsgi(dict(environ), lambda *_: None)),
        "  finding the page (paths.find, one query)": lambda: paths.find(path),
        "  the list (publications_listed)": lambda: views.publications_listed(page, as_of),
        "  tags, links, related (one query)": lambda: TreatmentPage.objects.reader_extras(
            page, related=views.RELATED_PAGES
        ),
        "  the template alone": lambda: template.render(context, request),
    }
    print("  CPU per call, µs: this process / its PostgreSQL backend")
    for name, part in parts.items():
        python, backend = cputime.per_call(part, requests)
        print(f"    {name:44s} {python:7.0f} / {'-' if backend is None else f'{backend:.0f}'}")


def bench_parser() -> None:
    blobs = [path.read_bytes() for path in sorted(FIXTURES.glob("*.xml"))]
    tracemalloc.start()
    start = time.perf_counter()
    articles = sum(len(parse_efetch(blob).records) for blob in blobs)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = sum(map(len, blobs))
    print(
        f"parser: {articles} articles from {len(blobs)} files ({size / 1e6:.1f} MB) "
        f"in {elapsed * 1000:.0f} ms"
    )
    print(
        f"  {articles / elapsed:.0f} articles/s, {size / 1e6 / elapsed:.1f} MB/s, "
        f"peak memory {peak / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    bench_page(args.requests)
    bench_parser()
