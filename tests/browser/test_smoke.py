"""Chromium reads the demo page as a reader, and an editor signs in and opens it in the admin."""

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import DEMO_PAGE_URL
from treatments.models import TreatmentPage

from .conftest import DEMO_PAGE_HEADING

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_readers_see_the_demo_page(page: Page, demo_page):
    page.goto(DEMO_PAGE_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text(DEMO_PAGE_HEADING)
    expect(page.get_by_role("heading", name="Latest Research Publications")).to_be_visible()


def test_an_editor_signs_in_and_opens_the_page_in_the_admin(editor_page: Page, demo_page: TreatmentPage):
    page = editor_page
    expect(page.get_by_role("link", name="Treatment pages")).to_be_visible()
    page.get_by_role("link", name="Treatment pages").click()
    page.get_by_role("link", name=DEMO_PAGE_HEADING).click()
    expect(page).to_have_url(f"/admin/treatments/treatmentpage/{demo_page.pk}/change/")
    expect(page.get_by_role("textbox", name="Title:", exact=True)).to_have_value(demo_page.title)
