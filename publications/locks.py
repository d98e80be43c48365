"""One refresh of a page at a time, across every worker: a token held in the shared cache (Redis).

Only the holder of the token releases the lock, so a refresh whose lock expired never frees one
that another refresh has taken since. A worker that dies leaves a lock that expires by itself.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache

logger = logging.getLogger(__name__)

# Longer than any refresh (tasks stop at 25 minutes), so a held lock means a refresh is running;
# a run still "running" after this long belongs to a worker that died.
LOCK_SECONDS = 30 * 60


class PageLocked(Exception):
    """Another refresh of this page holds the lock."""

    def __init__(self) -> None:
        super().__init__("Another refresh of this page is running.")


class LockUnavailable(Exception):
    """The cache that holds the locks is unreachable; refreshing unlocked could run two at once."""


def lock_key(page_id: int) -> str:
    return f"publications:refresh-lock:{page_id}"


@contextmanager
def page_lock(page_id: int) -> Iterator[None]:
    """Hold the page's refresh lock for the block; raises PageLocked if another refresh holds it."""
    key, token = lock_key(page_id), secrets.token_hex(16)
    try:
        acquired = cache.add(key, token, LOCK_SECONDS)
    except Exception as exc:  # the cache client's errors vary by backend
        raise LockUnavailable(
            "Could not check whether another refresh of this page is running: the cache is unreachable "
            f"({exc}). The list was kept; try again later."
        ) from exc
    if not acquired:
        raise PageLocked
    try:
        yield
    finally:
        try:
            if cache.get(key) == token:  # not a lock that expired and another refresh now holds
                cache.delete(key)
        except Exception:  # the list is written by now; the lock expires by itself
            logger.exception("Could not release the refresh lock of page %s", page_id)
