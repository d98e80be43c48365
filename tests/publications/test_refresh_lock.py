"""The per-page refresh lock: held by one refresh at a time, released only by its holder."""

import pytest
from django.core.cache import cache

from publications.refresh import page_lock
from tests.factories import TreatmentPageFactory

pytestmark = pytest.mark.django_db

KEY = "publications:refresh-lock:{}"


def test_one_holder_at_a_time_and_released_after():
    page = TreatmentPageFactory()
    with page_lock(page.pk) as first, page_lock(page.pk) as second:
        assert (first, second) == (True, False)
    with page_lock(page.pk) as again:
        assert again


def test_a_lock_that_expired_and_was_taken_by_another_refresh_is_not_released_by_the_first():
    page = TreatmentPageFactory()
    with page_lock(page.pk) as acquired:
        assert acquired
        cache.set(KEY.format(page.pk), "another refresh's token")  # ours expired; another took it
    assert cache.get(KEY.format(page.pk)) == "another refresh's token"
    cache.delete(KEY.format(page.pk))
