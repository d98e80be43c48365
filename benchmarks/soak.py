"""Soak: wrk holds the Interleukin 2 page while a gunicorn worker is killed, the cache goes away and comes
back, and the database drops the app's connections; prints requests, errors and recoveries (issue 10).

Not run in CI. By default it starts its own stack on free 127.0.0.1 ports, like `make stack`: Varnish
(deploy/varnish/start) in front of gunicorn's sync workers, a Celery worker, a throw-away PostgreSQL
database and a redis-server of its own for the cache (never the shared Redis on 6379: only the broker
uses it, in db 11). Everything it started is stopped at the end. Target: 0 errors seen by readers.

    .venv/bin/python benchmarks/soak.py                  # 120 s, 64 connections
    .venv/bin/python benchmarks/soak.py --duration 30
    # a running stack: no worker kill, no cache stop
    .venv/bin/python benchmarks/soak.py --edge-url http://127.0.0.1:8000 \\
        --backend-url http://127.0.0.1:8001 --database-url postgres://postgres@127.0.0.1:5432/cancerindex
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAGE = "/treatments/biological-therapies/interleukin-2/"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/cancerindex_soak"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


class Stack:
    """The processes this script starts; each in its own process group, so stop() ends exactly those."""

    def __init__(self, database_url, broker_url):
        self.tmp = Path(tempfile.mkdtemp(prefix="soak-"))
        self.edge_port, self.web_port, self.cache_port = free_port(), free_port(), free_port()
        self.edge_url = f"http://127.0.0.1:{self.edge_port}"
        self.backend_url = f"http://127.0.0.1:{self.web_port}"
        self.database_url = database_url
        self.procs: dict[str, subprocess.Popen] = {}
        self.env = os.environ | {
            "DATABASE_URL": database_url,
            "REDIS_URL": broker_url,
            "CACHE_URL": f"redis://127.0.0.1:{self.cache_port}/0",
            "SECRET_KEY": uuid.uuid4().hex * 2,
            "DEBUG": "0",
            "PAGE_CACHE_VERSION": uuid.uuid4().hex,
            "EDGE_PURGE_URL": self.edge_url + "/",
            "TRUST_X_FORWARDED_FOR": "1",
            "WEB_BIND": f"127.0.0.1:{self.web_port}",
            "EDGE_LISTEN": f"127.0.0.1:{self.edge_port}",
            "VARNISH_WORKDIR": str(self.tmp / "varnish"),
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        }

    def run(self, *command):
        subprocess.run(  # noqa: S603 - our own commands
            command, cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL, timeout=600
        )

    def spawn(self, name, *command):
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - open as long as the process
        self.procs[name] = subprocess.Popen(  # noqa: S603 - our own commands
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self):
        self.run(sys.executable, "scripts/ensure_database.py")
        self.run(sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0")
        if not (ROOT / "staticfiles" / "staticfiles.json").exists():
            self.run(sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0")
        self.start_cache()  # before load_demo: its purges go to this cache
        self.run(sys.executable, "manage.py", "load_demo")
        self.spawn("web", BIN / "gunicorn", "cancerindex.wsgi", "--bind", self.env["WEB_BIND"], "--workers", "3")  # fmt: skip  # noqa: E501
        self.spawn("worker", BIN / "celery", "-A", "cancerindex", "worker", "-l", "warning", "--concurrency", "1")  # fmt: skip  # noqa: E501
        self.spawn("edge", ROOT / "deploy" / "varnish" / "start")
        wait_for(self.backend_url + "/")
        wait_for(self.edge_url + "/")

    def start_cache(self):
        self.spawn("cache", "redis-server", "--port", str(self.cache_port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no")  # fmt: skip
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", self.cache_port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)

    def stop_cache(self):
        self.stop_one("cache")

    def gunicorn_workers(self) -> list[int]:
        master = self.procs["web"].pid
        children = Path(f"/proc/{master}/task/{master}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop_one(self, name, timeout=20):
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self):
        for name in ["edge", "worker", "web", "cache"]:
            self.stop_one(name)
        shutil.rmtree(self.tmp, ignore_errors=True)


def terminate_connections(database_url) -> int:
    """pg_terminate_backend of every other connection to the app's database: what a restart does to them."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


class Probe(threading.Thread):
    """One reader every 0.1 s on a page no cache holds (a new query string): the backend must render it."""

    def __init__(self, base, label):
        super().__init__(daemon=True)
        self.base, self.label = base, label
        self.results: list[tuple[float, bool, str]] = []  # (time, ok, what)
        self.stopping = threading.Event()

    def run(self):
        with httpx.Client(timeout=5) as client:
            while not self.stopping.is_set():
                at = time.monotonic()
                try:
                    status = client.get(f"{self.base}{PAGE}?soak={uuid.uuid4().hex}").status_code
                    self.results.append((at, status == 200, str(status)))
                except httpx.HTTPError as exc:
                    self.results.append((at, False, type(exc).__name__))
                self.stopping.wait(0.1)

    def errors(self):
        return [r for r in self.results if not r[1]]

    def recovery_after(self, start, end):
        """Errors in [start, end) and seconds from start until the first success after the last of them."""
        window = [r for r in self.results if start <= r[0] < end]
        bad = [r for r in window if not r[1]]
        if not bad:
            return 0, 0.0
        later = [r for r in window if r[1] and r[0] > bad[-1][0]]
        return len(bad), (later[0][0] - start) if later else float("nan")


def run_wrk(url, duration, connections) -> dict:
    wrk = shutil.which("wrk") or "/usr/bin/wrk"
    done = subprocess.run(  # noqa: S603 - wrk on our own URL
        [wrk, "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", url],
        capture_output=True, text=True, timeout=duration + 60,
    )  # fmt: skip
    out = done.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1)) if "requests in" in out else 0
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    sockets = m.group(0) if (m := re.search(r"Socket errors:.*", out)) else "Socket errors: none"
    socket_errors = sum(int(n) for n in re.findall(r"\d+", sockets))
    rps = m.group(1) if (m := re.search(r"Requests/sec:\s+([\d.]+)", out)) else "?"
    return {
        "requests": requests,
        "non2xx": non2xx,
        "socket_errors": socket_errors,
        "sockets": sockets,
        "rps": rps,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=120)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--edge-url", help="a running stack's Varnish (then nothing is started or killed)")
    parser.add_argument("--backend-url", help="the running stack's gunicorn, for the backend probe")
    parser.add_argument("--database-url", default=os.environ.get("SOAK_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")

    stack = None
    if args.edge_url:
        edge, backend = args.edge_url.rstrip("/"), (args.backend_url or args.edge_url).rstrip("/")
    else:
        stack = Stack(args.database_url, args.broker_url)
        print(f"starting: varnish {stack.edge_url}, gunicorn {stack.backend_url}, cache :{stack.cache_port}")
        try:
            stack.start()
        except BaseException:
            stack.stop()
            raise
        edge, backend = stack.edge_url, stack.backend_url
    events: list[tuple[float, str]] = []
    probes = [Probe(edge, "reader through the edge"), Probe(backend, "gunicorn directly")]
    try:
        httpx.get(edge + PAGE, timeout=10).raise_for_status()
        for probe in probes:
            probe.start()
        result = {}
        load = threading.Thread(
            target=lambda: result.update(run_wrk(edge + PAGE, args.duration, args.connections))
        )
        started = time.monotonic()
        load.start()

        def at(fraction):
            time.sleep(max(0.0, started + args.duration * fraction - time.monotonic()))

        outage = max(5.0, args.duration / 12)
        if stack:
            at(0.15)
            workers = stack.gunicorn_workers()
            os.kill(workers[0], signal.SIGKILL)
            events.append((time.monotonic(), f"SIGKILL gunicorn worker {workers[0]} (of {len(workers)})"))
            at(0.35)
            stack.stop_cache()
            events.append((time.monotonic(), f"cache redis stopped for {outage:.0f} s"))
            time.sleep(outage)
            stack.start_cache()
            events.append((time.monotonic(), "cache redis started again"))
        at(0.65)
        if args.database_url:
            count = terminate_connections(args.database_url)
            events.append((time.monotonic(), f"pg_terminate_backend: {count} connections"))
        load.join()
        ended = time.monotonic()
        for probe in probes:
            probe.stopping.set()
            probe.join(timeout=10)
        respawned = len(stack.gunicorn_workers()) if stack else None
    finally:
        for probe in probes:
            probe.stopping.set()
        if stack:
            stack.stop()

    print(f"\nwrk {edge}{PAGE}: {args.duration} s, {args.connections} connections")
    print(
        f"  requests {result.get('requests', 0)} ({result.get('rps')}/s),"
        f" non-2xx {result.get('non2xx', 0)}, {result.get('sockets')}"
    )
    print("events and recoveries (probe: a new, uncached URL every 0.1 s):")
    bounds = [t for t, _ in events[1:]] + [ended]
    for (when, what), until in zip(events, bounds, strict=True):
        line = f"  t={when - started:5.1f}s {what}"
        for probe in probes:
            bad, recovered = probe.recovery_after(when, until)
            line += f"; {probe.label}: {bad} errors" + (f", recovered after {recovered:.1f} s" if bad else "")
        print(line)
    if respawned is not None:
        print(f"  gunicorn workers at the end: {respawned}")
    for probe in probes:
        kinds = sorted({what for _, _, what in probe.errors()})
        errors = len(probe.errors())
        print(f"probe {probe.label}: {len(probe.results)} requests, {errors} errors {kinds or ''}")
    reader_errors = result.get("non2xx", 0) + result.get("socket_errors", 0) + len(probes[0].errors())
    print(f"reader-visible errors: {reader_errors}")
    return 1 if reader_errors else 0


if __name__ == "__main__":
    sys.exit(main())
