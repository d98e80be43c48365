"""Chromium finds the demo page as a reader does: the header's search box, a tag, the A-Z; at desktop
width and at 390 px (a phone), where nothing may scroll sideways."""

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import DEMO_PAGE_URL

from .conftest import DEMO_PAGE_HEADING

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = [1280, 390]


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


@pytest.mark.parametrize("width", WIDTHS)
def test_a_reader_searches_from_the_header_and_opens_the_page(page: Page, demo_page, width):
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/")
    search = page.get_by_role("search", name="Site")
    search.get_by_role("searchbox", name="Search").fill("aldesleukin melanoma")
    search.get_by_role("button", name="Search").click()
    expect(page).to_have_url("/search/?q=aldesleukin+melanoma")
    expect(page.get_by_role("status")).to_have_text("1 result for “aldesleukin melanoma”")
    results = page.get_by_role("region", name="Treatment pages (1)").get_by_role("listitem")
    expect(results).to_have_count(1)
    expect(results.locator("mark").first).to_have_text("Aldesleukin")
    no_sideways_scroll(page)
    results.get_by_role("link", name=DEMO_PAGE_HEADING).click()
    expect(page).to_have_url(DEMO_PAGE_URL)
    no_sideways_scroll(page)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_reader_follows_a_tag_and_the_a_to_z(page: Page, demo_page, width):
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(DEMO_PAGE_URL)
    page.get_by_role("link", name="cytokine").click()
    expect(page).to_have_url("/tags/cytokine/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Pages tagged “cytokine”")
    no_sideways_scroll(page)
    page.get_by_role("link", name="A–Z of treatments").click()
    expect(page).to_have_url("/a-z/")
    page.get_by_role("navigation", name="Letters").get_by_role("link", name="I").click()
    expect(page.get_by_role("link", name=DEMO_PAGE_HEADING)).to_be_visible()
    no_sideways_scroll(page)


def test_a_long_hostile_query_still_fits_a_phone(page: Page, demo_page):
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/search/?q=" + "Supercalifragilisticexpialidocious" * 8 + "%00%22<b>")
    expect(page.get_by_role("status")).to_contain_text("0 results for")
    no_sideways_scroll(page)
