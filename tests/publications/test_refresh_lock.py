"""The per-page refresh lock: held by one refresh at a time, released only by its holder."""

import pytest
from django.core.cache import cache

from publications.locks import LockUnavailable, PageLocked, lock_key, page_lock
from tests.factories import TreatmentPageFactory

pytestmark = pytest.mark.django_db


def test_one_holder_at_a_time_and_released_after():
    page = TreatmentPageFactory()
    with page_lock(page.pk):
        with pytest.raises(PageLocked, match="Another refresh of this page is running"), page_lock(page.pk):
            pytest.fail("a second holder got the lock")
        assert cache.get(lock_key(page.pk))  # the refused attempt did not release the holder's lock
    assert cache.get(lock_key(page.pk)) is None
    with page_lock(page.pk):
        pass


def test_the_lock_is_released_when_the_block_raises():
    page = TreatmentPageFactory()
    with pytest.raises(RuntimeError), page_lock(page.pk):
        raise RuntimeError("refresh failed")
    assert cache.get(lock_key(page.pk)) is None


def test_locks_of_different_pages_are_independent():
    first, second = TreatmentPageFactory(), TreatmentPageFactory()
    with page_lock(first.pk), page_lock(second.pk):
        assert cache.get(lock_key(first.pk)) != cache.get(lock_key(second.pk))


def test_a_lock_that_expired_and_was_taken_by_another_refresh_is_not_released_by_the_first():
    page = TreatmentPageFactory()
    with page_lock(page.pk):
        cache.set(lock_key(page.pk), "another refresh's token")  # ours expired; another took it
    assert cache.get(lock_key(page.pk)) == "another refresh's token"
    cache.delete(lock_key(page.pk))


def test_an_unreachable_cache_refuses_the_lock_in_words_for_editors(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    page = TreatmentPageFactory()
    with pytest.raises(LockUnavailable, match="cache is unreachable"), page_lock(page.pk):
        pytest.fail("locked without a cache")


def test_the_same_job_redelivered_takes_over_its_own_lock_and_no_other_job_can():
    page = TreatmentPageFactory()
    with page_lock(page.pk, owner="task-1"):
        with pytest.raises(PageLocked), page_lock(page.pk, owner="task-2"):
            pytest.fail("another job took the lock")
        with pytest.raises(PageLocked), page_lock(page.pk):
            pytest.fail("an anonymous refresh took the lock")
        with page_lock(page.pk, owner="task-1"):  # its worker died; the same task again
            assert cache.get(lock_key(page.pk)) == "task-1"
