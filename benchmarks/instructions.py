"""Print how many instructions our process runs per uncached request of the treatment page.

Usage: .venv/bin/python benchmarks/instructions.py [--requests N]
Needs Valgrind (apt-get install valgrind). It counts with cachegrind: a run of a few requests and one of
N more, so Django's start-up cancels out. The count is our process's user-space instructions only, not
PostgreSQL's nor the kernel's (see page_and_parser.py for their CPU time).

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


def configure() -> None:
    """The environment a run and its children share: set once by the parent, inherited by each child."""
    if os.environ.get("INSTRUCTIONS_CONFIGURED"):
        return
    use_scratch_state("cancerindex-instructions-")
    os.environ.update(
        PAGE_CACHE="0",  # the render itself, not the page cache
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


def counted(requests: int) -> int:
    """Instructions cachegrind counts for a child that makes ``requests`` requests."""
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, __file__, "--child", str(requests),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if run.returncode or not found:
        raise SystemExit(f"valgrind failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    configure()
    if args.child is not None:
        import django

        django.setup()
        serve(args.child)
        return
    if not shutil.which("valgrind"):
        raise SystemExit("needs Valgrind: apt-get install valgrind")
    prepare()
    few, more = counted(WARM), counted(WARM + args.requests)
    print(f"page {PAGE}, uncached, {args.requests} requests counted by Valgrind (cachegrind)")
    print(f"  {(more - few) / args.requests / 1e6:.2f} million instructions per request in our process")


if __name__ == "__main__":
    main()
