"""An editor curates the demo page's list in Chromium: adds a publication by PMID (looked up, shown as
readers will see it, then added and pinned), moves the pin up and down with the buttons (no script
needed: they are plain form buttons), and excludes the PMID with a reason; readers see each step at once
and the page's history says who did what.

PubMed is the fake E-utilities server, on 127.0.0.1, reached through the site's own client.
"""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from publications import curation
from publications.models import PageListing
from tests.conftest import DEMO_PAGE_URL
from tests.fakes.eutils import FakeEutils
from treatments.models import TreatmentPage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TERT = 27797938
TERT_TITLE = "Leucocyte telomere length, genetic variants at the TERT gene region"


@pytest.fixture
def ncbi(settings) -> Iterator[FakeEutils]:
    with FakeEutils() as fake:
        settings.NCBI_EUTILS_URL = fake.base_url
        settings.NCBI_API_KEY = "test-api-key"
        settings.NCBI_TIMEOUT, settings.NCBI_DEADLINE, settings.NCBI_MAX_RETRIES = 2.0, 5.0, 1
        yield fake


@pytest.fixture
def reader(new_context) -> Page:
    return new_context().new_page()


def change_url(page: TreatmentPage) -> str:
    return f"/admin/treatments/treatmentpage/{page.pk}/change/"


def list_rows(tab: Page) -> Locator:
    return tab.locator("#listings-group tbody tr.form-row")


def pinned_titles(tab: Page) -> list[str]:
    rows = tab.locator("#listings-group tbody tr.listing-pinned .curated-entry .title")
    return [" ".join(text.split()) for text in rows.all_inner_texts()]


def test_an_editor_adds_orders_and_excludes_a_publication(
    editor_page: Page, reader: Page, demo_page, editor, ncbi
):
    tab = editor_page
    first, second = PageListing.objects.filter(page=demo_page).order_by("position")[:2]
    curation.pin(demo_page, [first, second], user=editor)
    first_title, second_title = first.publication.title_text, second.publication.title_text

    # Add by PMID: looked up, shown as readers will see it, then added (pinned, after the other pins).
    tab.goto(change_url(demo_page))
    tab.locator("#listings-group").get_by_role("link", name="Add publications by PMID or DOI…").click()
    tab.get_by_label("PMIDs or DOIs").fill(f"{TERT}, not-a-pmid")
    tab.get_by_role("button", name="Look up").click()
    expect(tab.get_by_role("heading", name="As readers will see it")).to_be_visible()
    expect(tab.locator("ul.publications .title")).to_contain_text(TERT_TITLE)
    expect(tab.locator("ul.publications .title i")).to_have_text("TERT")  # the title's markup
    expect(tab.locator(".curation-errors")).to_contain_text("“not-a-pmid” is neither a PMID")
    expect(tab.get_by_label(re.compile("Pin it at the top"))).to_be_checked()
    tab.get_by_role("button", name="Add 1 publication to this page").click()
    expect(tab).to_have_url(re.compile(rf"{change_url(demo_page)}#listings-group$"))
    expect(tab.locator(".messagelist")).to_contain_text(f"Added by hand: {TERT_TITLE}")
    added = list_rows(tab).filter(has_text=TERT_TITLE)
    expect(added.locator(".curation-flag")).to_have_text(["Free full text", "Pinned #3", "Added by hand"])
    assert [title[:40] for title in pinned_titles(tab)] == [
        first_title[:40],
        second_title[:40],
        TERT_TITLE[:40],
    ]
    reader.goto(DEMO_PAGE_URL)
    expect(reader.locator(".publication .title").nth(2)).to_contain_text(TERT_TITLE)

    # Up, up, then down: the pins' order, as readers see it.
    for direction in ("up", "up"):
        added.get_by_role("button", name=re.compile(f"Move pin {direction}")).click()
        expect(tab.locator(".messagelist")).to_contain_text("Pins reordered")
    expect(list_rows(tab).first).to_contain_text(TERT_TITLE)
    reader.goto(DEMO_PAGE_URL)
    expect(reader.locator(".publication .title").first).to_contain_text(TERT_TITLE)
    list_rows(tab).filter(has_text=TERT_TITLE).get_by_role("button", name=re.compile("Move pin down")).click()
    expect(tab.locator(".messagelist")).to_contain_text("moved down to position 2")
    expect(list_rows(tab).nth(0)).to_contain_text(first_title)
    expect(list_rows(tab).nth(1)).to_contain_text(TERT_TITLE)

    # Exclude it with a reason: off the list at once, listed among the exclusions, off the reader's page.
    list_rows(tab).filter(has_text=TERT_TITLE).get_by_role("link", name="Exclude…").click()
    expect(tab.get_by_label("PMID")).to_have_value(str(TERT))
    expect(tab.locator(".module .curated-entry")).to_contain_text(TERT_TITLE)
    tab.get_by_label("Reason").fill("About the gut, not IL-2")
    tab.get_by_role("button", name="Exclude from this page").click()
    expect(tab.locator(".messagelist")).to_contain_text(f"Excluded: PMID {TERT}: About the gut, not IL-2")
    expect(list_rows(tab).filter(has_text=TERT_TITLE)).to_have_count(0)
    exclusion = tab.locator(f"#exclusion-{TERT}")
    expect(exclusion).to_contain_text("About the gut, not IL-2")
    expect(exclusion).to_contain_text("editor")
    reader.goto(DEMO_PAGE_URL)
    expect(reader.locator("main")).not_to_contain_text(TERT_TITLE)

    # Enter in a field still saves the draft, whatever buttons the list has.
    tab.get_by_role("textbox", name="Other name:").press("Enter")
    expect(tab.locator(".messagelist")).to_contain_text("Draft saved")
    expect(tab.locator(f"#exclusion-{TERT}")).to_be_visible()

    # The page's history: who did each step.
    tab.goto(f"/admin/treatments/treatmentpage/{demo_page.pk}/history/")
    history = tab.locator("#change-history")
    for line in (f"Added by hand: {TERT_TITLE}", "Pins reordered", f"Excluded: PMID {TERT}"):
        expect(history.locator("tr", has_text=line).first).to_contain_text("editor")
