"""The research list in a real browser: abstracts open without script, the filters and the chart, and
axe-core finds nothing on a page with badges, warnings and linked papers."""

import pytest
from playwright.sync_api import Page, expect

from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory

from .test_accessibility import axe_source, axe_violations  # noqa: F401 - axe_source is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_ABSTRACT = "Patients were randomized (NCT01266603). " + "Overall survival improved markedly. " * 40


@pytest.fixture
def research_page():
    page = TreatmentPageFactory(title="Evidence page", publications_shown=30)
    PageListingFactory(
        page=page, position=0,
        publication=PublicationFactory(
            title="A meta-analysis of aldesleukin.", publication_types=["Meta-Analysis", "Systematic Review"],
            pub_year="2024", pub_month="May", pub_day="31", doi="10.1000/xyz" + "a" * 60, pmcid="PMC1",
            in_pmc=True, abstract=[{"label": "RESULTS", "text": LONG_ABSTRACT}],
            comments_corrections=[
                {"type": "ErratumIn", "pmid": 35767954, "source": "Cell Rep. 2022 Jun 28."}
            ],
        ),
    )  # fmt: skip
    PageListingFactory(
        page=page, position=1,
        publication=PublicationFactory(title="A trial of aldesleukin.", pub_year="2021",
                                       publication_types=["Randomized Controlled Trial"]),
    )  # fmt: skip
    return page


def test_abstracts_open_and_filters_work_without_script(page: Page, research_page, axe_source):  # noqa: F811
    page.goto(research_page.get_absolute_url())
    entry = page.locator("li.publication").first
    expect(entry.locator(".badge")).to_have_text(["Meta-analysis", "Systematic review"])
    expect(entry.locator(".correction-warning")).to_contain_text("Erratum in: Cell Rep. 2022 Jun 28.")
    summary = entry.get_by_text("Abstract", exact=True)
    closed = entry.locator("details.abstract").bounding_box()["height"]
    summary.click()
    expect(entry.get_by_role("link", name="NCT01266603")).to_be_visible()
    assert entry.locator("details.abstract").bounding_box()["height"] > closed * 2
    expect(page.get_by_role("img", name="Listed publications per year")).to_be_visible()
    assert axe_violations(page, axe_source) == []
    page.set_viewport_size({"width": 320, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 320

    page.get_by_role("link", name="Reviews (1)").click()
    expect(page.locator("li.publication")).to_have_count(1)
    expect(page.locator(".list-summary")).to_have_text("1 of 2 publications (reviews only)")
    page.get_by_role("link", name="Trials (1)").click()
    expect(page.locator("li.publication .title")).to_have_text(["A trial of aldesleukin."])
