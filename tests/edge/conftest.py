"""The real edge: varnishd (deploy/varnish/start) in front of a gunicorn, both on free 127.0.0.1 ports.

The backend runs the site in embedded mode on a SQLite file of its own, with the page cache in Redis
when one answers on 127.0.0.1:6379 (so a change made by another process purges it, as in production),
else with the page cache off. Changes are made the way the stack makes them: by another process
(``manage.py shell``) whose commit purges the edge over HTTP (EDGE_PURGE_URL).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
EDGE_TTL = 2  # s-maxage, short so the stale-if-error test can outlive it


def pytest_configure(config):
    config.addinivalue_line("markers", "edge: runs varnishd in front of gunicorn (needs Debian's varnish)")


def have_varnish() -> bool:
    return bool(shutil.which("varnishd") or os.access("/usr/sbin/varnishd", os.X_OK))


def pytest_collection_modifyitems(items):
    if have_varnish() or os.environ.get("CI"):
        return  # in CI a missing varnishd fails the tests below, as it should
    skip = pytest.mark.skip(reason="needs varnishd: apt-get install -y varnish (.ci/run installs it)")
    for item in items:
        if "edge" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def redis_cache_url() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return "redis://127.0.0.1:6379/9"
    except OSError:
        pass
    return ""


class Site:
    """The backend's environment, its gunicorn, and the edge's address."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.edge_port, self.web_port = free_port(), free_port()
        self.edge = f"http://127.0.0.1:{self.edge_port}"
        self.access_log = workdir / "access.log"
        cache_url = redis_cache_url()
        production = ("DATABASE_URL", "REDIS_URL", "CACHE_URL")
        self.env = {k: v for k, v in os.environ.items() if k not in production}
        self.env |= {
            "SQLITE_PATH": str(workdir / "site.sqlite3"),
            "CACHE_URL": cache_url,
            "PAGE_CACHE": "1" if cache_url else "0",
            "PAGE_CACHE_VERSION": uuid.uuid4().hex,
            "EDGE_PURGE_URL": self.edge + "/",
            "EDGE_CACHE_SECONDS": str(EDGE_TTL),
            "TRUST_X_FORWARDED_FOR": "1",
            # cancerindex/wsgi.py refuses to serve with the embedded key.
            "SECRET_KEY": os.environ.get("SECRET_KEY") or uuid.uuid4().hex,
        }
        self.gunicorn = None

    def manage(self, *args, code=None) -> str:
        command = [sys.executable, "manage.py", *args] + (["shell", "-c", code] if code else [])
        done = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start_backend(self, threads=4):
        """threads=1: gunicorn's sync workers, as the Procfile runs them."""
        self.threads = threads
        self.gunicorn = subprocess.Popen(
            [VENV_BIN / "gunicorn", "cancerindex.wsgi", "--bind", f"127.0.0.1:{self.web_port}",
             "--workers", "2", "--threads", str(threads), "--access-logfile", str(self.access_log)],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(f"http://127.0.0.1:{self.web_port}/")

    def stop_backend(self):
        self.gunicorn.terminate()
        self.gunicorn.wait(timeout=30)

    def backend_requests(self) -> int:
        """Requests gunicorn answered so far (its access log: one line each, written after the response)."""
        time.sleep(0.2)
        return len(self.access_log.read_text().splitlines()) if self.access_log.exists() else 0


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    yield from running_site(tmp_path_factory)


def running_site(tmp_path_factory, threads=4, **env):
    """A Site with its gunicorn and varnishd running, stopped when the generator is closed; ``env`` is
    more of the backend's environment."""
    if not have_varnish():
        pytest.fail("varnishd is missing and CI is set: .ci/run installs Debian's varnish")
    site = Site(tmp_path_factory.mktemp("edge"))
    site.env |= env
    site.manage("migrate", "--noinput", "--verbosity", "0")
    site.manage("load_demo")
    site.start_backend(threads=threads)
    env = site.env | {
        "VARNISH_WORKDIR": str(site.workdir / "varnish"),
        "EDGE_LISTEN": f"127.0.0.1:{site.edge_port}",
        "WEB_BIND": f"127.0.0.1:{site.web_port}",
    }
    varnish = subprocess.Popen(
        [ROOT / "deploy" / "varnish" / "start"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(site.edge + "/")
        yield site
    finally:
        varnish.terminate()
        varnish.wait(timeout=30)
        if site.gunicorn.poll() is None:
            site.stop_backend()
