"""The Redis broker that the tests with real Celery workers and beat share (a plugin of tests/conftest.py)."""

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings
from django.db import connection

from cancerindex.celery import app as celery_app

BROKER_DB = int(os.environ.get("WORKER_TEST_REDIS_DB", "14"))


def redis_url_with_db(url: str, db: int) -> str:
    return urlsplit(url)._replace(path=f"/{db}").geturl()


@pytest.fixture
def broker_url() -> Iterator[str]:
    """The test workers' own Redis database; fails (never skips) when the setup cannot work."""
    if connection.vendor != "postgresql":
        pytest.fail("worker tests need DATABASE_URL pointing at PostgreSQL when REDIS_URL is set")
    if celery_app.conf.task_always_eager:
        pytest.fail(
            "CELERY_TASK_ALWAYS_EAGER is on although REDIS_URL is set: tasks would not reach a worker"
        )
    url = redis_url_with_db(settings.REDIS_URL, BROKER_DB)
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is not reachable: {exc}")
    yield url
    client.close()
