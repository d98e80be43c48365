"""The Redis cache reuses one client per connection pool, and behaves as Django's does."""

import os

import pytest

from cancerindex.redis_cache import RedisCache


def test_one_client_per_pool():
    cache = RedisCache("redis://127.0.0.1:6379/15", {})
    first = cache._cache.get_client(write=True)
    assert cache._cache.get_client(write=True) is first
    assert cache._cache.get_client() is first  # one server: reads and writes share the pool


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a Redis server: set REDIS_URL")
def test_it_stores_and_reads_like_djangos():
    cache = RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": f"test-redis-cache-{os.getpid()}"})
    cache.set("page", {"body": b"<html>"}, timeout=10)
    assert cache.get_many(["page", "missing"]) == {"page": {"body": b"<html>"}}
    assert cache.add("page", "other") is False and cache.delete("page") is True
