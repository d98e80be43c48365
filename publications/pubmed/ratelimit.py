"""NCBI's request rate, kept per process or across every process through Redis.

NCBI allows 3 requests a second per client (10 with an API key) and blocks clients that go over,
so every request of the site waits in ``acquire()`` for a slot first.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Protocol

import redis

from publications.pubmed.errors import EutilsUnavailable

_RATE_WITHOUT_API_KEY = 3  # requests per second, NCBI's published limits
_RATE_WITH_API_KEY = 10

# Requests are spaced 5 % wider than the nominal rate: a request leaves a moment after its
# slot is granted, and uneven delays (scheduling, the network) must not put one request too
# many into a one-second window as NCBI counts it. 5 % of a second's worth is 50 ms of slack.
_SAFETY_MARGIN = 0.05


class RateLimiter(Protocol):
    """Blocks in ``acquire()`` until one more request to NCBI is allowed."""

    def acquire(self) -> None: ...


def rate_for(api_key: str | None) -> int:
    """NCBI's request rate per second: higher when requests carry an API key."""
    return _RATE_WITH_API_KEY if api_key else _RATE_WITHOUT_API_KEY


def _slot_interval(rate_per_second: float) -> float:
    """Seconds between two requests at ``rate_per_second``, safety margin included."""
    if rate_per_second <= 0:
        raise ValueError("rate_per_second must be positive")
    return (1 + _SAFETY_MARGIN) / rate_per_second


class LocalRateLimiter:
    """Spaces requests evenly within one process (the embedded mode without Redis).

    Even spacing (rather than bursts) keeps any one-second window at or under the rate.
    """

    def __init__(self, rate_per_second: float) -> None:
        self._interval = _slot_interval(rate_per_second)
        self.rate_per_second = rate_per_second
        self._next_slot = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


# GCRA with a burst of one: the key holds the next free slot (microseconds, Redis clock).
# Each call reserves the earliest free slot atomically and returns how long to wait for it,
# so every process on every host shares one queue and one clock.
_GCRA_SCRIPT = """
local now = redis.call('TIME')
local now_us = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval_us = tonumber(ARGV[1])
local next_slot = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now_us, next_slot)
local new_next = slot + interval_us
local ttl_ms = math.ceil((new_next - now_us) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_next), 'PX', ttl_ms)
return slot - now_us
"""


class RedisRateLimiter:
    """One request rate shared by every worker and process, coordinated through Redis.

    Redis's clock and an atomic script decide every slot, so processes on several hosts
    together stay under the rate; a process only sleeps until the slot it was given.
    """

    def __init__(
        self,
        redis_url_or_client: str | redis.Redis,
        rate_per_second: float,
        key: str = "ncbi:eutils:rate",
    ) -> None:
        self._interval_us = round(1_000_000 * _slot_interval(rate_per_second))
        if isinstance(redis_url_or_client, str):
            redis_url_or_client = redis.Redis.from_url(redis_url_or_client)
        self.rate_per_second = rate_per_second
        self.key = key
        self._reserve_slot = redis_url_or_client.register_script(_GCRA_SCRIPT)

    def acquire(self) -> None:
        try:
            wait_us = int(self._reserve_slot(keys=[self.key], args=[self._interval_us]))
        except redis.RedisError as exc:
            raise EutilsUnavailable(
                f"NCBI was not contacted: the shared request-rate limiter (Redis) is unreachable ({exc}).",
                reason=f"Redis error: {exc}",
            ) from exc
        if wait_us > 0:
            time.sleep(wait_us / 1_000_000)


@functools.cache
def shared_rate_limiter(redis_url: str | None, rate_per_second: float) -> RateLimiter:
    """One limiter per process and rate: through Redis when there is one (every worker shares it),
    else in-process; cached so clients share one Redis connection pool and one local schedule."""
    return RedisRateLimiter(redis_url, rate_per_second) if redis_url else LocalRateLimiter(rate_per_second)
