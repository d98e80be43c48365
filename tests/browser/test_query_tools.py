"""The page form's PubMed tools in Chromium: "Test query" shows PubMed's count, translation and first
titles under the field, and "Refresh now" shows its outcome, both without leaving the form; without
JavaScript the same buttons lead to pages that say the same.

The site asks the fake NCBI (tests/fakes/eutils.py) over real HTTP, as in the publications tests.
"""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from publications.models import PageListing, RefreshRun
from tests.factories import PageListingFactory, TreatmentPageFactory
from tests.fakes.eutils import FakeEutils
from tests.publications.test_refresh import COLLECTIVE, GUT_2017, INT_J_MOL_SCI, JCI_ELOCATION, OTHERS, SEASON
from treatments import workflow
from treatments.models import TreatmentPage

from .conftest import EDITOR_PASSWORD, EDITOR_USERNAME, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUERY = "interleukin-2[tiab] AND neoplasms[mh]"
NEW_QUERY = "aldesleukin[tiab]"
TRANSLATION = '"aldesleukin"[Title/Abstract]'
MANY = [INT_J_MOL_SCI, COLLECTIVE, JCI_ELOCATION, GUT_2017, SEASON, *OTHERS]  # 13 real articles


@pytest.fixture
def ncbi(settings) -> Iterator[FakeEutils]:
    """The fake NCBI, wired in through settings (the live server runs in this process)."""
    with FakeEutils() as fake:
        settings.NCBI_EUTILS_URL = fake.base_url
        settings.NCBI_TIMEOUT, settings.NCBI_DEADLINE, settings.NCBI_MAX_RETRIES = 2.0, 5.0, 1
        settings.NCBI_BACKOFF_BASE, settings.NCBI_API_KEY = 0.01, "test-api-key"
        yield fake


@pytest.fixture
def treatment(transactional_db, celery_eager) -> TreatmentPage:
    page = TreatmentPageFactory(pubmed_query=QUERY, title="Aldesleukin")
    PageListingFactory(page=page)
    return page


def change_url(page: TreatmentPage) -> str:
    return f"/admin/treatments/treatmentpage/{page.pk}/change/"


def test_test_query_and_refresh_now_answer_under_the_field_without_a_reload(
    editor_page: Page, ncbi: FakeEutils, treatment: TreatmentPage
):
    ncbi.set_search(NEW_QUERY, MANY, translation=TRANSLATION)
    ncbi.set_search(QUERY, [INT_J_MOL_SCI, GUT_2017])
    page = editor_page
    page.goto(change_url(treatment))
    page.evaluate("window.stillTheSamePage = true")  # gone if the browser loads another page

    page.get_by_label("PubMed query").fill(NEW_QUERY)
    page.get_by_role("button", name="Test query").click()

    result = page.locator(".pubmed-tools-result")
    expect(result).to_contain_text("13 publications found in PubMed.")
    expect(result).to_contain_text(f"PubMed's translation: {TRANSLATION}")
    expect(result).to_contain_text("the next refresh would bring 13 new, 1 dropped")
    expect(result.locator("li.publication")).to_have_count(10)
    expect(result.locator("li.publication h3.title").first).to_have_text("Host-Pathogen Interaction 5.0.")

    page.get_by_role("button", name="Refresh now").click()  # the saved query, not the one typed

    status = page.locator(".pubmed-refresh-status")
    expect(status).to_contain_text("Refreshed: 2 new, 1 dropped (PubMed found 2; 2 new to the site).")
    expect(status.get_by_role("link", name="The run's details")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.get_by_label("PubMed query")).to_have_value(NEW_QUERY)  # the editor's typing is kept
    assert RefreshRun.objects.get(page=treatment).status == RefreshRun.Status.OK
    assert PageListing.objects.filter(page=treatment).count() == 2


def test_without_javascript_the_buttons_lead_to_pages_that_say_the_same(
    new_context, live_server, editor, ncbi: FakeEutils, treatment: TreatmentPage
):
    ncbi.set_search('"tumour cels"', [], warnings={"QuotedPhraseNotFound": '"tumour cels"'}, errors=())
    ncbi.set_search(QUERY, [INT_J_MOL_SCI])
    page = new_context(java_script_enabled=False).new_page()
    log_in(page, EDITOR_USERNAME, EDITOR_PASSWORD)
    page.goto(change_url(treatment))

    page.get_by_label("PubMed query").fill('"tumour cels"')
    page.get_by_role("button", name="Test query").click()
    expect(page.get_by_text("0 publications found in PubMed.")).to_be_visible()
    expect(page.get_by_text('PubMed found no match for the quoted phrase "tumour cels"')).to_be_visible()

    page.goto(change_url(treatment))
    page.get_by_label("PubMed query").fill('"tumour cels"')
    page.get_by_role("button", name="Save draft", exact=True).click()
    confirm = page.get_by_label("Save this query despite PubMed's warning")
    expect(confirm).to_be_visible()
    confirm.check()
    page.get_by_role("button", name="Save draft", exact=True).click()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    treatment.refresh_from_db()
    assert treatment.pubmed_query == '"tumour cels"'

    TreatmentPage.objects.filter(pk=treatment.pk).update(pubmed_query=QUERY)
    page.goto(change_url(treatment))
    page.get_by_role("textbox", name="Other name:").fill("Proleukin")  # saved first, never lost
    page.get_by_role("button", name="Refresh now").click()
    expect(page.get_by_text("Refreshed: 1 new, 1 dropped")).to_be_visible()
    expect(page.get_by_text("Draft saved.")).to_be_visible()
    assert workflow.working_content(TreatmentPage.objects.get(pk=treatment.pk))["other_name"] == "Proleukin"
    # Enter in a field saves a draft: never "Test query" nor "Refresh now", which come first on the form.
    page.goto(change_url(treatment))
    page.locator("#id_title").press("Enter")
    expect(page.get_by_text("Draft saved.")).to_be_visible()
