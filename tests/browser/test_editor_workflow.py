"""An editor's walk through the workflow in Chromium, as issue 6 describes it: sign in, edit, save a
draft, preview, publish, compare two revisions, restore one, schedule a publish and see the schedule
publish it, move a section and follow an old URL.

One walk, as an editor would do it, on the demo page: each step starts where the last one left the
page, and a failure names its step. (One test, not one per step: every browser test pays for a fresh
database, the demo and a sign-in, and the editor's change form is the heaviest page of the site.)

Readers are a second browser context with nobody signed in. Locators are the labels and roles people
see ("Save draft", "Publish", "Preview", "Compare", "Restore"), so the test checks the screens, not
the markup.
"""

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect

from tests.conftest import DEMO_PAGE_URL
from treatments.models import Section, TreatmentPage
from treatments.tasks import run_publishing_schedule

from .conftest import DEMO_PAGE_HEADING

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The demo page's published description, as readers see it before any edit.
DEMO_TEXT = "Interleukin 2 (IL-2) is a naturally occurring cytokine made by T-lymphocytes"
FIRST_DRAFT_TEXT = "First draft by the editor: aldesleukin is given by infusion."
DRAFT_TEXT = "Draft by the editor: aldesleukin is given by intravenous infusion in hospital."
SCHEDULED_TEXT = "Scheduled by the editor: high-dose aldesleukin needs a stay in intensive care."
NEW_SECTION_SLUG = "biologic-therapies"
PREVIEW_URL = re.compile(r"/admin/treatments/treatmentpage/\d+/preview/$")


@pytest.fixture
def reader(new_context) -> Page:
    """A reader's tab: a browser context of its own, nobody signed in."""
    return new_context().new_page()


@contextmanager
def step(name: str) -> Iterator[None]:
    """Name the step of the walk that failed."""
    try:
        yield
    except (AssertionError, PlaywrightError) as exc:
        raise AssertionError(f"Step {name!r} failed: {exc}") from exc


def change_url(page: TreatmentPage) -> str:
    return f"/admin/treatments/treatmentpage/{page.pk}/change/"


def history_url(page: TreatmentPage) -> str:
    return f"/admin/treatments/treatmentpage/{page.pk}/history/"


def description_field(tab: Page) -> Locator:
    """Whichever the editor types the description into: the rich-text editor, or a plain text area."""
    rich_text_editor = tab.locator(".field-description [contenteditable=true]")
    field = tab.get_by_label("Description:").or_(rich_text_editor).filter(visible=True).first
    field.wait_for()  # the rich-text editor replaces the text area once its script has run
    return field


def is_rich_text_editor(field: Locator) -> bool:
    return field.evaluate("element => element.isContentEditable")


def set_description(tab: Page, text: str) -> None:
    """Type into the description as an editor does."""
    field = description_field(tab)
    if not is_rich_text_editor(field):
        field.fill(text)
        return
    field.click()
    tab.keyboard.press("ControlOrMeta+A")
    tab.keyboard.press("Delete")
    tab.keyboard.insert_text(text)  # as a paste does: one input event, not 80 key presses


def expect_description(tab: Page, text: str) -> None:
    field = description_field(tab)
    if is_rich_text_editor(field):
        expect(field).to_contain_text(text)
    else:
        expect(field).to_have_value(re.compile(re.escape(text)))


def submit(tab: Page, label: str) -> None:
    """Click one of the form's submit buttons, wait for the page it leads to, and fail with the form's
    errors if it was refused."""
    with tab.expect_navigation():
        tab.get_by_role("button", name=label, exact=True).click()
    if tab.locator(".errornote").count():
        errors = tab.locator(".errornote, .errorlist").all_inner_texts()
        raise AssertionError(f"{label!r} was refused: {errors}")


def open_preview(tab: Page) -> Page:
    """Click "Preview": it saves the draft and opens the preview, in this tab or a new one."""
    before = set(tab.context.pages)
    tab.get_by_role("button", name="Preview", exact=True).click()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        opened = [other for other in tab.context.pages if other not in before]
        if opened:
            opened[0].wait_for_url(PREVIEW_URL)
            return opened[0]
        if PREVIEW_URL.search(tab.url):
            tab.wait_for_load_state()
            return tab
        tab.wait_for_timeout(50)
    raise AssertionError(f"Preview opened nothing: the tab is at {tab.url}")


def expect_reader_sees(reader: Page, url: str, text: str, *, not_text: str | None = None) -> None:
    reader.goto(url)
    expect(reader.get_by_role("heading", level=1)).to_have_text(DEMO_PAGE_HEADING)
    expect(reader.locator("main")).to_contain_text(text)
    if not_text:
        expect(reader.locator("main")).not_to_contain_text(not_text)


def test_an_editor_walks_a_page_from_draft_to_published_and_back(editor_page: Page, reader: Page, demo_page):
    tab = editor_page  # signed in through the login form

    with step("edit and Save draft: readers keep the published text"):
        tab.goto(change_url(demo_page))
        set_description(tab, FIRST_DRAFT_TEXT)
        submit(tab, "Save draft")
        expect(tab).to_have_url(change_url(demo_page))
        expect_description(tab, FIRST_DRAFT_TEXT)  # the form shows the draft, not the published text
        expect_reader_sees(reader, DEMO_PAGE_URL, DEMO_TEXT, not_text=FIRST_DRAFT_TEXT)

    with step("edit again and Preview: saves the draft, shows it with the public template, marked"):
        set_description(tab, DRAFT_TEXT)
        preview = open_preview(tab)
        expect(preview.get_by_text("Preview", exact=True).first).to_be_visible()
        expect(preview.get_by_role("heading", level=1)).to_have_text(DEMO_PAGE_HEADING)
        expect(preview.locator("main")).to_contain_text(DRAFT_TEXT)
        expect(preview.locator("main")).not_to_contain_text(DEMO_TEXT)
        expect_reader_sees(reader, DEMO_PAGE_URL, DEMO_TEXT, not_text=DRAFT_TEXT)

    with step("Publish: readers see the new text"):
        tab.goto(change_url(demo_page))
        expect_description(tab, DRAFT_TEXT)
        submit(tab, "Publish")
        expect_reader_sees(reader, DEMO_PAGE_URL, DRAFT_TEXT, not_text=DEMO_TEXT)

    with step("History: Compare the first and the latest revision, field by field"):
        tab.goto(history_url(demo_page))
        choices = tab.get_by_role("checkbox").or_(tab.get_by_role("radio"))
        expect(choices.nth(1)).to_be_visible()  # two revisions at least: the demo's and the editor's
        choices.first.check()  # newest first
        choices.last.check()
        with tab.expect_navigation():
            tab.get_by_role("button", name="Compare", exact=True).click()
        description = tab.get_by_role("row").filter(has=tab.get_by_role("rowheader", name="Description"))
        expect(description).to_contain_text(DEMO_TEXT)
        expect(description).to_contain_text(DRAFT_TEXT)

    with step("Restore the first revision: a draft until Publish"):
        tab.goto(history_url(demo_page))
        with tab.expect_navigation():
            tab.get_by_role("button", name="Restore", exact=True).last.click()
        expect_reader_sees(reader, DEMO_PAGE_URL, DRAFT_TEXT, not_text=DEMO_TEXT)
        tab.goto(change_url(demo_page))
        expect_description(tab, DEMO_TEXT)
        submit(tab, "Publish")
        expect_reader_sees(reader, DEMO_PAGE_URL, DEMO_TEXT, not_text=DRAFT_TEXT)

    with step("Publish at a time now past, Save draft: the schedule publishes it"):
        set_description(tab, SCHEDULED_TEXT)
        due = timezone.localtime() - timedelta(minutes=1)
        tab.locator("#id_publish_at_0").fill(f"{due:%Y-%m-%d}")
        tab.locator("#id_publish_at_1").fill(f"{due:%H:%M:%S}")
        submit(tab, "Save draft")
        expect_reader_sees(reader, DEMO_PAGE_URL, DEMO_TEXT, not_text=SCHEDULED_TEXT)
        run_publishing_schedule()  # what beat sends every minute, run in-process (beat is tested on its own)
        expect_reader_sees(reader, DEMO_PAGE_URL, SCHEDULED_TEXT, not_text=DEMO_TEXT)
        tab.goto(change_url(demo_page))
        expect(tab.locator("#id_publish_at_0")).to_have_value("")  # done: nothing left scheduled

    with step("move the section: the old URL answers 301 and lands on the page"):
        section = Section.objects.get(slug="biological-therapies")
        tab.goto(f"/admin/treatments/section/{section.pk}/change/")
        tab.get_by_role("textbox", name="Slug:", exact=True).fill(NEW_SECTION_SLUG)
        submit(tab, "Save")
        response = reader.goto(DEMO_PAGE_URL)
        assert response is not None
        assert response.request.redirected_from is not None, "the old URL did not redirect"
        assert response.request.redirected_from.response().status == 301
        expect(reader).to_have_url(f"/treatments/{NEW_SECTION_SLUG}/interleukin-2/")
        expect(reader.get_by_role("heading", level=1)).to_have_text(DEMO_PAGE_HEADING)
        expect(reader.locator("main")).to_contain_text(SCHEDULED_TEXT)
