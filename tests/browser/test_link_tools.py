"""An editor orders a page's links and checks them in Chromium with JavaScript off: the up and down
buttons, Check links now and Use the new URL are plain form buttons, so they work without a script.

The links point at the link checker tests' local server (127.0.0.1, so private addresses are allowed
for this test only).
"""

import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from cancerindex.celery import app
from tests.factories import SectionFactory, TreatmentPageFactory
from tests.treatments.test_linkcheck import LinkServer
from treatments.models import TreatmentPage

from .conftest import EDITOR_PASSWORD, EDITOR_USERNAME, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(settings, monkeypatch) -> Iterator[LinkServer]:
    server = LinkServer()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    settings.LINK_CHECK_ALLOW_PRIVATE = True
    settings.LINK_CHECK_HOST_DELAY = 0
    monkeypatch.setitem(app.conf, "task_always_eager", True)  # Check links now checks while the editor waits
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def no_script_page(browser: Browser, base_url, editor) -> Iterator[Page]:
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    log_in(page, EDITOR_USERNAME, EDITOR_PASSWORD)
    yield page
    context.close()


def titles(page: TreatmentPage) -> list[str]:
    return [resource.title for resource in page.web_resources.all()]


def test_an_editor_orders_and_checks_links_without_javascript(no_script_page: Page, site: LinkServer):
    page = TreatmentPageFactory(section=SectionFactory(), published=False)
    for title, path in [("Works", "/page-works"), ("Moved", "/moved"), ("Gone", "/missing")]:
        page.web_resources.create(title=title, url=site.url(path))
    tab = no_script_page
    tab.goto(f"/admin/treatments/treatmentpage/{page.pk}/change/")

    tab.get_by_role("button", name=f"Move down {site.url('/page-works')}").click()
    expect(tab.get_by_text("Link moved down.")).to_be_visible()
    assert titles(page) == ["Moved", "Works", "Gone"]
    tab.get_by_role("button", name=f"Move up {site.url('/missing')}").click()
    assert titles(page) == ["Moved", "Gone", "Works"]

    tab.get_by_role("button", name="Check links now").click()
    expect(
        tab.get_by_text("Links checked: 3 link(s) checked: 1 ok, 1 moved permanently, 1 broken.")
    ).to_be_visible()
    expect(tab.get_by_text("Broken since")).to_be_visible()

    tab.get_by_role("button", name="Use the new URL").click()
    expect(tab.get_by_text(f"“Moved” now links to {site.url('/ok')}.")).to_be_visible()
    assert page.web_resources.filter(title="Moved").get().url == site.url("/ok")
