"""Fixtures shared by the publications tests."""

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
