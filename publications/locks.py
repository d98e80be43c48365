"""One refresh of a page at a time, across every worker: a token held in the shared cache (Redis).

Only the holder of the token releases the lock, so a refresh whose lock expired never frees one
that another refresh has taken since. A worker that dies leaves a lock that expires by itself;
before that, the same job redelivered (a Celery task keeps its id) takes its own lock over, since
the holder that shares its id can only be the dead one.
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
def page_lock(page_id: int, *, owner: str | None = None) -> Iterator[None]:
    """Hold the page's refresh lock for the block; raises PageLocked if another refresh holds it.

    ``owner`` names the job (the Celery task id): a lock left by the same job, which died, is taken
    over. Without one, every call is a new owner.
    """
    key, token = lock_key(page_id), owner or secrets.token_hex(16)
    try:
        acquired = cache.add(key, token, LOCK_SECONDS)
        if not acquired and owner is not None and cache.get(key) == owner:
            acquired = cache.touch(key, LOCK_SECONDS)  # our own job's lock: it was redelivered
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
