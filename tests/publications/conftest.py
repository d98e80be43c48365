"""Fixtures shared by the publications tests."""

import os
from collections.abc import Iterator

import pytest

from tests.fakes.eutils import FakeEutils


@pytest.fixture(scope="session")
def _fake_eutils_server() -> Iterator[FakeEutils]:
    with FakeEutils() as fake:
        yield fake


@pytest.fixture
def fake_eutils(_fake_eutils_server: FakeEutils) -> Iterator[FakeEutils]:
    """A running fake E-utilities server, with no searches, faults or requests left over."""
    _fake_eutils_server.reset()
    yield _fake_eutils_server
    _fake_eutils_server.reset()


@pytest.fixture
def ncbi(settings, fake_eutils: FakeEutils) -> FakeEutils:
    """The fake server wired in through settings, as ``refresh.make_client()`` reads them.

    Timeouts and backoff are small so failing refreshes fail fast. The API key raises the real
    rate limiter to NCBI's 10 requests a second (without one it allows 3), which keeps the suite
    quick while every request still passes the limiter. With Redis as the cache (production
    settings), cache keys get a per-process prefix, so refresh locks never meet another test run's.
    """
    settings.NCBI_EUTILS_URL = fake_eutils.base_url
    settings.NCBI_TIMEOUT = 0.5
    settings.NCBI_DEADLINE = 5.0
    settings.NCBI_MAX_RETRIES = 2
    settings.NCBI_BACKOFF_BASE = 0.01
    settings.NCBI_API_KEY = "test-api-key"
    default_cache = settings.CACHES["default"]
    if "redis" in default_cache["BACKEND"].lower():
        settings.CACHES = {
            **settings.CACHES,
            "default": {**default_cache, "KEY_PREFIX": f"test-{os.getpid()}"},
        }
    return fake_eutils
