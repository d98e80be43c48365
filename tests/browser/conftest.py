"""Browser tests: Playwright (pip) driving Debian's Chromium against pytest-django's live server.

Recipe: ../shared/browser.md. Chromium is /usr/bin/chromium from apt (`.ci/run` installs it); never
`playwright install`. Without it the browser tests are skipped, unless CI is set: then they fail.

Playwright's sync API keeps an asyncio event loop running in the test thread from the first browser
test to the end of the session, and Django refuses ORM calls from a thread with a running loop. So the
browser tests run last (`pytest_collection_modifyitems` below) and only from then on is
DJANGO_ALLOW_ASYNC_UNSAFE set, by a session fixture these tests use.
"""

import importlib
import os
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, User
from playwright.sync_api import Page, expect

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach the internet (refused here).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EDITOR_USERNAME = "editor"
EDITOR_PASSWORD = "a-long-editor-passphrase"
DEMO_PAGE_HEADING = "Interleukin 2 (Aldesleukin)"

# A test that waits longer than this for one element has found a bug, not a slow machine.
expect.set_options(timeout=10_000)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Browser tests last, after pytest-django's ordering (see the module docstring)."""
    browser_tests = [item for item in items if item.get_closest_marker("browser")]
    if browser_tests:
        items[:] = [item for item in items if not item.get_closest_marker("browser")] + browser_tests


@pytest.fixture(scope="session")
def _async_unsafe_allowed():
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.access(CHROMIUM, os.X_OK):
        message = (
            f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does); never `playwright install`"
        )
        if in_ci():
            pytest.fail(f"CI is set and {message}", pytrace=False)
        pytest.skip(message)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(live_server):
    """Relative URLs in page.goto() and expect(page).to_have_url() are on the live server."""
    return live_server.url


@pytest.fixture(autouse=True)
def _browser_test_setup(_async_unsafe_allowed, live_server, transactional_db, settings):
    """Every browser test: the site served by the live server, on a database it can see. Passwords are
    hashed cheaply (the login form is what is tested, not PBKDF2's cost: 0.3 s a hash)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def editors_group() -> Group:
    """The "Editors" group as its migration makes it. Transactional tests empty the tables after each
    test (migration data included), so make it again the way the migration does if it is gone."""
    group = Group.objects.filter(name="Editors").first()
    if group is None or not group.permissions.exists():
        migration = importlib.import_module("treatments.migrations.0002_editors_group")
        migration.create_editors_group(apps, None)
        group = Group.objects.get(name="Editors")
    return group


@pytest.fixture
def editor(transactional_db) -> User:
    user = User.objects.create_user(
        EDITOR_USERNAME, password=EDITOR_PASSWORD, is_staff=True, first_name="Eddie", last_name="Editor"
    )
    user.groups.add(editors_group())
    return user


def log_in(page: Page, username: str, password: str) -> None:
    """Through the admin's real login form, as an editor does."""
    page.goto("/admin/")
    expect(page).to_have_url("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url("/admin/")


@pytest.fixture
def editor_page(page: Page, editor: User) -> Page:
    """A browser tab with the editor signed in."""
    log_in(page, EDITOR_USERNAME, EDITOR_PASSWORD)
    return page
