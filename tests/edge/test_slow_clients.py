"""Slow clients (slowloris) through the real edge: Varnish in front of gunicorn's sync workers.

A sync worker is held for as long as its client takes to send a request, so a few clients dripping one
header line every few seconds once stopped the site. Varnish reads whole requests itself (and drops a
client whose headers take longer than timeout_req), so gunicorn only ever sees complete requests.
"""

import socket
import time
import uuid

import httpx
import pytest

from .conftest import running_site

pytestmark = pytest.mark.edge

PAGE = "/treatments/biological-therapies/interleukin-2/"
SLOW_CLIENTS = 50
DRIP_EVERY = 2.0  # seconds between header lines: slower than any browser, well under gunicorn's timeout
DURATION = 10.0  # the whole attack; the test ends well within 15 s


@pytest.fixture(scope="module")
def sync_site(tmp_path_factory):
    """gunicorn with sync workers (threads=1), as in the Procfile: the workers slowloris used to hold."""
    yield from running_site(tmp_path_factory, threads=1)


def open_slow(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=2)
    sock.sendall(f"GET {PAGE}?slow={uuid.uuid4().hex} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
    return sock


def drip(sock: socket.socket, n: int) -> bool:
    """One more header line, never the blank line that ends the request; False if the edge hung up."""
    try:
        sock.sendall(f"X-Slow-{n}: {'a' * 20}\r\n".encode())
        return True
    except OSError:
        return False


def reader_request(site, path):
    started = time.monotonic()
    response = httpx.get(site.edge + path, timeout=5)
    return response, time.monotonic() - started


def test_slow_clients_do_not_delay_a_normal_reader(sync_site):
    assert sync_site.threads == 1
    port = sync_site.edge_port
    slow = [open_slow(port) for _ in range(SLOW_CLIENTS)]
    timings, reopened = [], 0
    try:
        started, n = time.monotonic(), 0
        while time.monotonic() - started < DURATION:
            time.sleep(DRIP_EVERY)
            n += 1
            for i, sock in enumerate(slow):
                if not drip(sock, n):  # a real attacker reconnects: keep all 50 open
                    sock.close()
                    slow[i] = open_slow(port)
                    reopened += 1
            # A page the edge has not cached (a new query string): gunicorn itself must answer.
            for path in (PAGE, f"{PAGE}?reader={uuid.uuid4().hex}"):
                response, elapsed = reader_request(sync_site, path)
                assert response.status_code == 200, (path, response.status_code)
                timings.append(elapsed)
    finally:
        for sock in slow:
            sock.close()
    assert max(timings) < 1.0, timings
    assert len(timings) >= 6
