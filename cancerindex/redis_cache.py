"""Django's Redis cache, with one client object per connection pool instead of one per call.

Django builds a new ``redis.Redis`` around the (shared) pool on every cache call; a page served
from the cache makes a few calls, and that construction was a sixth of a hit's time. A client
over a pool is thread-safe, so one per pool is enough.

Every call also gives up after ``TIMEOUT`` seconds: redis-py waits forever by default, so a Redis that
stopped answering (paused, swapping, a network that drops packets) held every reader's request until
gunicorn killed the worker, where one that is down is a quick error the page cache renders around.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


TIMEOUT = 1.0  # seconds to connect, and to wait for an answer; a healthy Redis takes a millisecond


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        options = {"socket_connect_timeout": TIMEOUT, "socket_timeout": TIMEOUT, **params.get("OPTIONS", {})}
        super().__init__(server, {**params, "OPTIONS": options})
        self._class = ReusedClientRedisCacheClient
