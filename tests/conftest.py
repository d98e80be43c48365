import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client

from treatments.models import TreatmentPage

pytest_plugins = ["tests.workers"]  # the Celery broker fixture both worker test modules use

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed" / "interleukin-2.txt"
DEMO_PAGE_URL = "/treatments/biological-therapies/interleukin-2/"


@pytest.fixture
def demo_page(db):
    """The Interleukin 2 page, loaded exactly as `make run` loads it."""
    call_command("load_demo", stdout=io.StringIO())
    return TreatmentPage.objects.get(slug="interleukin-2")


@pytest.fixture(autouse=True)
def _page_cache_off(settings):
    """Test transactions roll back, so on-commit purges never run: cache tests turn it on themselves."""
    settings.PAGE_CACHE_ENABLED = False


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Tests render templates without running collectstatic first."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def editor(db):
    """A member of the "Editors" group (made by a migration): staff, content only."""
    user = User.objects.create_user("editor", password="a-long-passphrase", is_staff=True)
    user.groups.add(Group.objects.get(name="Editors"))
    return user


@pytest.fixture
def editor_client(editor):
    client = Client()
    client.force_login(editor)
    return client


@pytest.fixture
def celery_eager(monkeypatch):
    """Tasks run in-process, as in embedded mode, even where REDIS_URL is set (CI): no job is queued.

    For tests of what an editor sees once a task has run; tests/publications/test_worker.py runs real workers.
    """
    from cancerindex.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)
