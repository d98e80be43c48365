"""Print how fast PubMed records are parsed and stored into PostgreSQL, beside lxml's raw parse (the limit).

usage: .venv/bin/python benchmarks/ingest.py [--records 10000] [--pg postgres://postgres@127.0.0.1:5432]

It builds one efetch response of N records (the fixture articles of tests/fixtures/pubmed/efetch, repeated
with distinct PMIDs), creates a throw-away database (cancerindex_bench_ingest, dropped at the end), and prints
records/s for: raw lxml (whole tree, and streamed, of the response as NCBI sends it, reference lists and all),
the project's parser (whole tree on the fixture files, streamed on the big response; it cuts the reference
lists out before lxml reads them), and parse + store into PostgreSQL (all new; all re-fetched, which PubMed
had not changed, so only their ``updated_at`` is written; all re-fetched and changed, each row rewritten),
with the CPU time per record of this process and of its PostgreSQL backend (steadier than rates on a shared
machine). Then two ingests of N/2 new records at once, each in a process of its own, as a worker started
with ``--concurrency 2`` runs two refreshes: what the machine stores when one stream's GIL is not the limit.
Peak memory (max RSS of a fresh process) is measured for the streamed ingest at N/10, N/4 and N records: flat
means equal once the pipeline is full (``store_records`` holds at most four batches of 500: one parsed and
waiting, one being parsed, one being built, one being stored), and for a refresh's own path at the same sizes:
efetch over HTTP from the tests' fake E-utilities (in a process of its own), the records spooled
(``publications.spool``), then stored. Figures, not assertions: compare runs on the same machine.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cputime import backend_cpu  # benchmarks/cputime.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "pubmed" / "efetch"
DB = "cancerindex_bench_ingest"
HEAD = b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC '
HEAD += b'"-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
HEAD += b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'


def setup_django(pg: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="cancerindex.settings",
        DATABASE_URL=f"{pg}/{DB}",
        REDIS_URL=os.environ.get("BENCHMARK_REDIS_URL", "redis://127.0.0.1:6379/13"),
        SECRET_KEY="benchmark-only",  # noqa: S106 - a scratch database
    )
    import django

    django.setup()


def build_response(count: int, path: Path, first: int = 90_000_000) -> int:
    """One efetch response of ``count`` articles, PMIDs ``first`` onwards; returns its size in bytes."""
    from lxml import etree

    # The articles as NCBI sent them, reference lists and all (a record's source_xml has none).
    articles = [
        etree.tostring(article)
        for f in sorted(FIXTURES.glob("*.xml"))
        for article in etree.fromstring(f.read_bytes(), etree.XMLParser(load_dtd=False, no_network=True))
        if article.tag in ("PubmedArticle", "PubmedBookArticle")
    ]
    with path.open("wb") as out:
        out.write(HEAD)
        for number in range(count):
            element = etree.fromstring(articles[number % len(articles)])
            element.find(
                "MedlineCitation/PMID" if element.tag == "PubmedArticle" else "BookDocument/PMID"
            ).text = str(first + number)
            out.write(etree.tostring(element) + b"\n")
        out.write(b"</PubmedArticleSet>\n")
    return path.stat().st_size


def trimmed_size(path: Path) -> int:
    """The response's size without its reference lists, as the parser reads it."""
    from publications.pubmed.trim import TrimmedReader

    size = 0
    with path.open("rb") as source:
        reader = TrimmedReader(source)
        while chunk := reader.read(1 << 20):
            size += len(chunk)
    return size


def timed(fn):
    start = time.perf_counter()
    count = fn()
    return count, time.perf_counter() - start


def measured(fn):
    """Records, seconds, and the CPU seconds of this process (all its threads) and of its PostgreSQL
    backend (None if /proc does not show it): on a shared machine, CPU per record varies less than rates."""
    server, cpu = backend_cpu(), time.process_time()
    count, seconds = timed(fn)
    cpu, server_after = time.process_time() - cpu, backend_cpu()
    return count, seconds, cpu, None if server is None or server_after is None else server_after - server


def raw_whole(path: Path) -> int:
    from lxml import etree

    return len(etree.parse(str(path)).getroot().findall("PubmedArticle")) + 0


def raw_streamed(path: Path) -> int:
    from lxml import etree

    count = 0
    for _, element in etree.iterparse(str(path), tag=("PubmedArticle", "PubmedBookArticle"), load_dtd=False):
        count += 1
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]
    return count


def fixture_files_rates() -> tuple[float, float]:
    """Articles/s on the fixture files themselves: raw lxml vs the project's ``parse_efetch`` (best of 5)."""
    from lxml import etree

    from publications.pubmed import parse_efetch

    blobs = [f.read_bytes() for f in sorted(FIXTURES.glob("*.xml"))]
    count = sum(len(parse_efetch(b).records) for b in blobs)
    raw = min(
        timed(lambda: [etree.fromstring(b).findall(".//PubmedArticle") for b in blobs])[1] for _ in range(5)
    )
    ours = min(timed(lambda: [parse_efetch(b) for b in blobs])[1] for _ in range(5))
    return count / raw, count / ours


def parse_streamed(path: Path) -> int:
    from publications.pubmed.parser import iter_efetch

    with path.open("rb") as source:
        return sum(1 for _ in iter_efetch(source))


def ingest(path: Path) -> int:
    """Parse and store, as a refresh does: streamed records, stored in batches, in one transaction."""
    from django.db import transaction

    from publications.models import Publication
    from publications.pubmed.parser import iter_efetch

    counted = []

    def records(source):
        for record in iter_efetch(source):
            counted.append(1)
            yield record

    with path.open("rb") as source, transaction.atomic():
        Publication.objects.store_records(records(source))
    return len(counted)


def child(path: Path) -> None:
    """Run in a fresh process: ingest the file, then print this process's peak memory (VmHWM, MB)."""
    ingest(path)
    status = Path("/proc/self/status").read_text()  # VmHWM: ru_maxrss would carry the parent's over exec
    print(int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024)


def timed_child(path: Path) -> None:
    """Run in a fresh process: ingest the file; print when the ingest began and ended (epoch seconds, so
    that two such processes' times compare), leaving out the process's start and Django's setup."""
    start = time.time()
    ingest(path)
    print(start, time.time())


def two_at_once(paths: list[Path], pg: str) -> tuple[int, float]:
    """New records a second of two ingests at once, each in its own process with its own PostgreSQL
    backend, as two refreshes run on a worker started with ``--concurrency 2`` (the Procfile's default)."""
    children = [
        subprocess.Popen(  # noqa: S603 - this same script
            [sys.executable, __file__, "--pg", pg, "--timed-child", str(path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for path in paths
    ]
    spans = [[float(value) for value in child.communicate()[0].split()[-2:]] for child in children]
    if any(child.returncode for child in children):
        raise RuntimeError("an ingest process failed")
    from publications.models import Publication

    return Publication.objects.count(), max(end for _, end in spans) - min(start for start, _ in spans)


def refresh_child(path: Path) -> None:
    """Run in a fresh process: download the file's records from the fake E-utilities (over HTTP, as a
    refresh does: efetch batches of 200, spooled) and store them; print the peak memory (VmHWM, MB)."""
    from django.conf import settings
    from django.db import transaction

    from publications.models import Publication
    from publications.refresh import Plan, fetch_records, make_client

    settings.NCBI_EUTILS_URL, settings.NCBI_API_KEY = os.environ["BENCHMARK_EUTILS_URL"], "benchmark"
    pmids = [90_000_000 + number for number in range(int(os.environ["BENCHMARK_RECORDS"]))]
    with make_client() as eutils:
        download = fetch_records(eutils, Plan(pmids=pmids, missing=pmids))
    assert len(download.records) == len(pmids), download.warnings[:3]
    with transaction.atomic():
        Publication.objects.store_records(download.records)
    status = Path("/proc/self/status").read_text()
    print(int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024)


def serve_articles(path: Path) -> None:
    """Run in a fresh process: the tests' fake E-utilities answering efetch with the file's articles."""
    sys.path.insert(0, str(ROOT))
    from lxml import etree

    from tests.fakes.eutils import FakeEutils

    with FakeEutils() as fake:
        for _, element in etree.iterparse(str(path), tag=("PubmedArticle", "PubmedBookArticle")):
            fake.add_article(etree.tostring(element, encoding="unicode"))
            element.clear()
        print(fake.base_url, flush=True)
        sys.stdin.read()  # until the parent closes it


def peak_memory(path: Path, pg: str, *, refresh: str | None = None, records: int = 0) -> float:
    """Peak memory of a fresh process storing ``path`` (streamed), or downloading ``records`` of it from
    the fake E-utilities at ``refresh`` and storing them."""
    mode = ["--child"] if refresh is None else ["--refresh-child"]
    env = {**os.environ, "BENCHMARK_EUTILS_URL": refresh or "", "BENCHMARK_RECORDS": str(records)}
    out = subprocess.run(  # noqa: S603 - this same script
        [sys.executable, __file__, "--pg", pg, *mode, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return float(out.stdout.split()[-1])


def refresh_peaks(path: Path, pg: str, counts: list[int]) -> list[float]:
    """Peak memory of a refresh's download and store of each count of records, from one fake server."""
    from publications.models import Publication

    server = subprocess.Popen(  # noqa: S603 - this same script
        [sys.executable, __file__, "--serve", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"the fake E-utilities did not start (it said {url!r})")
        peaks = []
        for count in counts:
            Publication.objects.all().delete()
            peaks.append(peak_memory(path, pg, refresh=url, records=count))
        return peaks
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def recreate_database(pg: str, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {DB}")


def report(records: int, pg: str, scratch: Path) -> None:
    from django.core.management import call_command

    from publications.models import Publication

    big, medium, small = scratch / "big.xml", scratch / "medium.xml", scratch / "small.xml"
    size = build_response(records, big)
    build_response(records // 4, medium)
    build_response(records // 10, small)
    print(f"efetch response: {records:,} records, {size / 1e6:.1f} MB (fixture articles, distinct PMIDs)")
    print(f"  of which the articles' reference lists, cut before parsing (publications/pubmed/trim.py): "
          f"{1 - trimmed_size(big) / size:.0%}")  # fmt: skip
    lxml_files, ours_files = fixture_files_rates()
    ratio = ours_files / lxml_files
    print(
        f"fixture files: raw lxml {lxml_files:,.0f} articles/s; parse_efetch {ours_files:,.0f} ({ratio:.3f})"
    )
    call_command("migrate", verbosity=0)
    rows = [("lxml raw iterparse, streamed", *measured(lambda: raw_streamed(big)))]
    rows.append(("iter_efetch parse only", *measured(lambda: parse_streamed(big))))
    rows.append(("parse + store, all new (INSERT)", *measured(lambda: ingest(big))))
    rows.append(("parse + store, all re-fetched (UPDATE)", *measured(lambda: ingest(big))))
    Publication.objects.update(content_hash="")  # as if PubMed had changed every record: each is rewritten
    rows.append(("parse + store, re-fetched, all changed", *measured(lambda: ingest(big))))
    # Last: the whole tree of a big response takes gigabytes, and what ran after it in the same process
    # ran a third slower (the memory handed back and faulted in again).
    rows.insert(0, ("lxml raw parse, whole tree (limit)", *measured(lambda: raw_whole(big))))
    assert Publication.objects.filter(pmid__gte=90_000_000).count() == records
    limit = rows[0][1] / rows[0][2]
    print(f"  {'':40s} {'records/s':>9s}  {'ratio to lxml':13s}  CPU µs/record: Python, PostgreSQL")
    for name, count, seconds, cpu, server in rows:
        server_cpu = f"{server / count * 1e6:5.0f}" if server is not None and "store" in name else "    -"
        print(f"  {name:40s} {count / seconds:9,.0f}  {count / seconds / limit:13.3f}  "
              f"{cpu / count * 1e6:5.0f}, {server_cpu}")  # fmt: skip
    print_ceiling(next(row for row in rows if "all new" in row[0]))
    halves = [scratch / "first-half.xml", scratch / "second-half.xml"]
    build_response(records // 2, halves[0])
    build_response(records - records // 2, halves[1], first=80_000_000)
    Publication.objects.all().delete()
    count, seconds = two_at_once(halves, pg)
    print(f"  two ingests at once, {records // 2:,} new records each, one process and backend each: "
          f"{count / seconds:,.0f} records/s together")  # fmt: skip
    peaks = []
    for path in (small, medium, big):
        Publication.objects.all().delete()
        peaks.append(peak_memory(path, pg))
    print(f"peak memory of a fresh process ingesting: {records // 10:,} records {peaks[0]:.0f} MB; "
          f"{records // 4:,} records {peaks[1]:.0f} MB; {records:,} records {peaks[2]:.0f} MB "
          f"(response file {size / 1e6:.0f} MB)")  # fmt: skip
    counts = [records // 10, records // 4, records]
    peaks = refresh_peaks(big, pg, counts)
    print(f"peak memory of a fresh process refreshing (efetch over HTTP from the fake E-utilities, records "
          f"spooled, then stored): {counts[0]:,} records {peaks[0]:.0f} MB; {counts[1]:,} records "
          f"{peaks[1]:.0f} MB; {counts[2]:,} records {peaks[2]:.0f} MB")  # fmt: skip


GOAL = 2_000  # new records a second (issue 9)


def print_ceiling(row) -> None:
    """What this machine's cores allow new records at most, whatever runs in parallel: the CPU a record
    costs our process and PostgreSQL together, every core busy with nothing else."""
    _, count, _, cpu, server = row
    if server is None:
        return
    cores, total = os.cpu_count() or 1, (cpu + server) / count * 1e6
    print(
        f"  all new: {total:,.0f} µs of CPU a record in all; {cores} cores allow {cores * 1e6 / total:,.0f} "
        f"records/s at most, every core busy; {GOAL:,}/s needs {cores * 1e6 / GOAL:,.0f} µs or less"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--refresh-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--timed-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve_articles(args.serve)
    if args.child or args.refresh_child or args.timed_child:
        setup_django(args.pg)
        if args.timed_child:
            return timed_child(args.timed_child)
        return child(args.child) if args.child else refresh_child(args.refresh_child)
    recreate_database(args.pg)
    try:
        setup_django(args.pg)
        print(f"machine: {os.cpu_count()} cores; PostgreSQL at {args.pg}")
        with tempfile.TemporaryDirectory(prefix="cancerindex-ingest-") as scratch:
            report(args.records, args.pg, Path(scratch))
    finally:
        from django.db import connections

        connections.close_all()
        recreate_database(args.pg, drop_only=True)


if __name__ == "__main__":
    main()
