"""An editor's typing is never lost without a word: the buttons beside the links and the pins post forms
of their own (not the page form), so with unsaved edits in the page form they ask first; Cancel keeps
the editor on the form with the edits, OK goes on without them. With nothing edited, they just act.
"""

import re

import pytest
from playwright.sync_api import Dialog, Page, expect

from publications import curation
from publications.models import Exclusion
from tests.factories import PageListingFactory, SectionFactory, TreatmentPageFactory
from treatments.models import TreatmentPage

from .test_editor_workflow import expect_description, set_description

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIRST, SECOND = "https://example.org/first", "https://example.org/second"


def change_url(page: TreatmentPage) -> str:
    return f"/admin/treatments/treatmentpage/{page.pk}/change/"


def urls(page: TreatmentPage) -> list[str]:
    return [resource.url for resource in page.web_resources.all()]


def test_a_button_outside_the_page_form_asks_before_leaving_unsaved_edits(editor_page: Page, editor):
    page = TreatmentPageFactory(section=SectionFactory(), published=False, other_name="Aldesleukin")
    page.web_resources.create(title="First", url=FIRST, position=0)
    page.web_resources.create(title="Second", url=SECOND, position=1)
    listings = [PageListingFactory(page=page, position=n) for n in range(2)]
    curation.pin(page, listings, user=editor)
    curation.exclude(page, 123456, "Not about IL-2", user=editor)
    tab = editor_page
    asked: list[str] = []
    answer = {"accept": False}

    def on_dialog(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept() if answer["accept"] else dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.goto(change_url(page))
    tab.wait_for_load_state("load")

    # Nothing edited: the button acts at once, nobody is asked.
    tab.get_by_role("button", name=f"Move down {FIRST}").click()
    expect(tab.locator(".messagelist")).to_contain_text("Link moved down.")
    assert urls(page) == [SECOND, FIRST] and asked == []

    # Edited: each of those buttons asks; Cancel keeps the form and the typing, and nothing happens.
    tab.wait_for_load_state("load")
    other_name = tab.get_by_role("textbox", name="Other name:")
    other_name.fill("Proleukin")
    buttons = [
        tab.get_by_role("button", name=f"Move down {SECOND}"),
        tab.get_by_role("button", name="Check links now"),
        tab.locator("#listings-group").get_by_role("button", name=re.compile("Move pin down")).first,
        tab.get_by_role("button", name="Remove the exclusion of PMID 123456"),
    ]
    for button in buttons:
        button.click()
        assert len(asked) == buttons.index(button) + 1, "no question before leaving the edits"
        assert "not saved" in asked[-1]
        expect(other_name).to_have_value("Proleukin")
    assert urls(page) == [SECOND, FIRST] and Exclusion.objects.filter(page=page).exists()
    assert TreatmentPage.objects.get(pk=page.pk).other_name == "Aldesleukin"

    # OK: the editor chose to leave the edits; the button acts.
    answer["accept"] = True
    buttons[0].click()
    expect(tab.locator(".messagelist")).to_contain_text("Link moved down.")
    assert urls(page) == [FIRST, SECOND] and len(asked) == 5
    expect(tab.get_by_role("textbox", name="Other name:")).to_have_value("Aldesleukin")

    # The description, typed into the rich-text editor, counts as an edit too.
    answer["accept"] = False
    tab.wait_for_load_state("load")
    set_description(tab, "A careful rewrite.")
    buttons[3].click()
    assert len(asked) == 6
    expect_description(tab, "A careful rewrite.")
