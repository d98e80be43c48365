"""Print how many instructions our process runs per uncached request of the treatment page, per hit of
the Django page cache (``--page-cache``), or per new PubMed record stored (``--ingest``).

Usage: .venv/bin/python benchmarks/instructions.py [--requests N] [--page-cache] [--ingest N]
Needs Valgrind (apt-get install valgrind). It counts with cachegrind: a run of a few requests (or
records) and one of N more, so Django's start-up cancels out. The count is our process's user-space
instructions only, not PostgreSQL's nor the kernel's (see page_and_parser.py and ingest.py for their CPU
time). ``--ingest`` stores records as a refresh does (the fixture articles, reference lists and all, with
distinct PMIDs), into an emptied table: PostgreSQL only (its COPY path), so BENCHMARK_DATABASE_URL must
name a scratch PostgreSQL database.

Why: on a shared machine whose speed drifts by 20% or more within minutes, a count of instructions does
not drift, so two versions of the code can be told apart when they are a few percent apart. Run it on
each (``git worktree``) against the same database. Like page_and_parser.py, it loads the demo into a
throw-away SQLite database unless BENCHMARK_DATABASE_URL names another (a scratch PostgreSQL database:
never a real one).
"""

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from scratch import load_demo, use_scratch_state  # benchmarks/scratch.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
PAGE = "/treatments/biological-therapies/interleukin-2/"
WARM = 10  # requests both runs make: the first compiles statements and fills per-process memories
WARM_RECORDS = 300  # records both ingest runs store: a whole batch (500) and then some is the longer one


def configure(page_cache: bool = False) -> None:
    """The environment a run and its children share: set once by the parent, inherited by each child."""
    if os.environ.get("INSTRUCTIONS_CONFIGURED"):
        return
    use_scratch_state("cancerindex-instructions-")
    os.environ.update(
        PAGE_CACHE="1" if page_cache else "0",  # a hit, or the render itself
        CONN_MAX_AGE="3600",  # one connection for the whole run, as a busy worker keeps it
        INSTRUCTIONS_CONFIGURED="1",
    )


def prepare() -> None:
    import django

    django.setup()
    load_demo()


def serve(requests: int) -> None:
    """The child's part: ``requests`` requests through Django's WSGI handler, with no server."""
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": PAGE, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
    }  # fmt: skip
    statuses = []
    for _ in range(requests):
        body = app({**environ, "wsgi.input": io.BytesIO()}, lambda status, headers: statuses.append(status))
        b"".join(body)
    if any(not status.startswith("200") for status in statuses):
        raise SystemExit(f"{PAGE} answered {sorted(set(statuses))}")


def store(path: Path) -> None:
    """The child's part for ``--ingest``: the records of ``path`` stored (the parent emptied the table)."""
    from ingest import ingest  # benchmarks/ingest.py, beside this script

    ingest(path)


def counted(*child: str) -> int:
    """Instructions cachegrind counts for a child run with these arguments."""
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, __file__, *child,
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if run.returncode or not found:
        raise SystemExit(f"valgrind failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def count_ingest(records: int) -> None:
    """Instructions per new record: two runs, of WARM_RECORDS and of WARM_RECORDS + ``records``."""
    from django.core.management import call_command
    from django.db import connection
    from ingest import build_response  # benchmarks/ingest.py, beside this script

    from publications.models import Publication

    if connection.vendor != "postgresql":
        raise SystemExit("--ingest counts PostgreSQL's COPY path: set BENCHMARK_DATABASE_URL (a scratch one)")
    call_command("migrate", verbosity=0)
    scratch = Path(os.environ["STATIC_ROOT"]).parent
    few, more = scratch / "few.xml", scratch / "more.xml"
    build_response(WARM_RECORDS, few)
    build_response(WARM_RECORDS + records, more)

    def emptied_then_counted(path: Path) -> int:
        """Emptied here, not in the counted child: a delete's cost grows with what the run before left."""
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {Publication._meta.db_table} CASCADE")
        connection.close()
        return counted("--child-ingest", str(path))

    difference = emptied_then_counted(more) - emptied_then_counted(few)
    print(f"{records} new PubMed records stored (fixture articles as NCBI sends them), counted by Valgrind")
    print(f"  {difference / records / 1e6:.2f} million instructions per record in our process")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--page-cache", action="store_true", help="count a hit of the Django page cache")
    parser.add_argument("--ingest", type=int, metavar="N", help="count N new PubMed records stored")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-ingest", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    configure(page_cache=args.page_cache)
    if args.child is not None or args.child_ingest is not None:
        import django

        django.setup()
        if args.child is not None:
            serve(args.child)
        else:
            store(args.child_ingest)
        return
    if not shutil.which("valgrind"):
        raise SystemExit("needs Valgrind: apt-get install valgrind")
    if args.ingest:
        import django

        django.setup()
        count_ingest(args.ingest)
        return
    prepare()
    few, more = counted("--child", str(WARM)), counted("--child", str(WARM + args.requests))
    kind = "a hit of the Django page cache" if args.page_cache else "uncached"
    print(f"page {PAGE}, {kind}, {args.requests} requests counted by Valgrind (cachegrind)")
    print(f"  {(more - few) / args.requests / 1e6:.3f} million instructions per request in our process")


if __name__ == "__main__":
    main()
