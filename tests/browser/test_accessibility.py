"""Readers with any screen, keyboard or assistive technology: axe-core finds nothing on the readers'
pages (desktop and a 390 px phone), nothing scrolls sideways at 320 px, and a keyboard alone searches,
opens a result and walks the research list with a focus ring one can see.

axe-core is the copy that the pinned PyPI package ``axe-playwright-python`` ships (requirements-dev.txt);
without it these tests skip on a developer's machine and fail in CI, like the browser itself.
"""

from importlib import resources

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import DEMO_PAGE_URL
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory

from .conftest import DEMO_PAGE_HEADING, in_ci

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

READER_PAGES = {
    "home": "/",
    "section": "/treatments/biological-therapies/",
    "page": DEMO_PAGE_URL,
    "page after a No": DEMO_PAGE_URL + "?voted=no",
    "search": "/search/?q=aldesleukin",
    "tag": "/tags/cytokine/",
    "A-Z": "/a-z/",
    "about": "/about/",
    "disclaimer": "/disclaimer/",
}
AXE_RULESETS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
LONG_URL = "https://example.org/" + "a-very-long-path-segment-without-spaces" * 6
WHITE = (255, 255, 255)


@pytest.fixture(scope="session")
def axe_source() -> str:
    try:
        return (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        message = (
            f"axe-core is missing ({exc}): `pip install -r requirements-dev.txt` (axe-playwright-python)"
        )
        if in_ci():
            pytest.fail(f"CI is set and {message}", pytrace=False)
        pytest.skip(message)


def axe_violations(page: Page, axe_source: str) -> list[str]:
    page.evaluate(
        axe_source
    )  # through DevTools, as the site's Content-Security-Policy refuses inline scripts
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_RULESETS
    )
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in result["violations"]
    ]


def sideways_scroll(page: Page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


@pytest.fixture
def long_words_page(demo_page):
    """A page whose description and abstract hold bare URLs, the words that widened a phone's screen."""
    page = TreatmentPageFactory(
        section=demo_page.section,
        title="Long words",
        slug="long-words",
        description=f"<p>See {LONG_URL} and Pneumonoultramicroscopicsilicovolcanoconiosis.</p>",
    )
    publication = PublicationFactory(abstract=[{"label": "", "category": "", "text": f"Data: {LONG_URL}"}])
    PageListingFactory(page=page, publication=publication)
    return page


@pytest.mark.parametrize("width", [1280, 390])
def test_axe_finds_nothing_on_the_readers_pages(page: Page, demo_page, axe_source, width):
    page.set_viewport_size({"width": width, "height": 800})
    failed = []  # anything a page loads (its stylesheet, the icon) that does not answer 200
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    found = {}
    for name, url in READER_PAGES.items():
        page.goto(url)
        expect(page.get_by_role("main")).to_be_visible()
        if violations := axe_violations(page, axe_source):
            found[name] = violations
    assert found == {}
    assert failed == []


@pytest.mark.parametrize("text_size", ["100%", "200%"])
def test_nothing_scrolls_sideways_at_320_px(page: Page, long_words_page, text_size):
    """At 320 px, and there with text enlarged to 200% (WCAG's reflow and resize text): the header, the
    headings, the tags and the chart's table for screen readers all stay within the screen."""
    page.set_viewport_size({"width": 320, "height": 640})
    urls = {**READER_PAGES, "long words": long_words_page.get_absolute_url()}
    overflowing = {}
    for name, url in urls.items():
        page.goto(url)
        page.evaluate(
            "() => document.querySelectorAll('details').forEach((d) => { d.open = true; })"
        )  # abstracts
        page.evaluate(f"() => {{ document.documentElement.style.fontSize = '{text_size}'; }}")
        if overflow := sideways_scroll(page):
            overflowing[name] = overflow
    assert overflowing == {}
    expect(page.get_by_text("Data: https://example.org/")).to_be_visible()  # the long-words page, wrapped


@pytest.mark.parametrize(("width", "text_size"), [(1280, "100%"), (390, "100%"), (320, "200%")])
def test_yes_and_no_sit_on_one_line(page: Page, demo_page, width, text_size):
    """At a phone's width, and at 320 px with text enlarged to 200% (WCAG's resize text)."""
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(DEMO_PAGE_URL)
    page.evaluate(
        "(size) => document.documentElement.style.setProperty('font-size', size, 'important')", text_size
    )
    feedback = page.get_by_role("group", name="Found this page useful?")
    yes, no = feedback.get_by_role("button", name="Yes"), feedback.get_by_role("button", name="No")
    assert yes.bounding_box()["y"] == no.bounding_box()["y"]


def test_the_footer_reaches_the_bottom_of_a_short_page(page: Page, demo_page):
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto("/disclaimer/")
    expect(page.get_by_role("navigation", name="Breadcrumb")).to_contain_text("Home")
    footer = page.get_by_role("contentinfo").bounding_box()
    assert footer["y"] + footer["height"] == 1000


def rgb(css: str) -> tuple[int, ...]:
    return tuple(int(part) for part in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


def contrast(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    """WCAG's contrast ratio of two sRGB colours."""

    def luminance(colour):
        linear = [
            c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in colour
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted([luminance(first), luminance(second)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def focus_ring(page: Page) -> dict:
    """The focused element's outline, and the colour behind it (its nearest opaque ancestor's background)."""
    return page.evaluate(
        """() => {
            const element = document.activeElement, style = getComputedStyle(element);
            let behind = element.parentElement;
            while (behind && getComputedStyle(behind).backgroundColor.match(/rgba\\(.*, 0\\)|transparent/)) {
                behind = behind.parentElement;
            }
            return {
                tag: element.tagName, text: element.textContent.trim(),
                style: style.outlineStyle, width: parseFloat(style.outlineWidth), colour: style.outlineColor,
                behind: behind ? getComputedStyle(behind).backgroundColor : 'rgb(255, 255, 255)',
            };
        }"""
    )


def assert_visible_ring(ring: dict) -> None:
    assert ring["style"] == "solid" and ring["width"] >= 3, ring
    assert contrast(rgb(ring["colour"]), rgb(ring["behind"])) >= 3, ring


def tab_until(page: Page, check: str, most: int) -> int:
    """Press Tab until `check` (a JS expression on the focused element `e`) holds; how many presses."""
    for presses in range(1, most + 1):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const e = document.activeElement; return Boolean({check}); }}"):
            return presses
    raise AssertionError(f"{most} presses of Tab never reached {check}")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_keyboard_alone_searches_opens_a_result_and_walks_the_research_list(page: Page, demo_page, width):
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/")
    assert tab_until(page, "e.id === 'site-search-q'", most=3) <= 3  # skip link, brand, the search box
    assert_visible_ring(focus_ring(page))  # white on the header's colour
    page.keyboard.type("aldesleukin melanoma")
    page.keyboard.press("Enter")
    expect(page).to_have_url("/search/?q=aldesleukin+melanoma")
    tab_until(page, f"e.textContent.trim() === {DEMO_PAGE_HEADING!r}", most=25)
    ring = focus_ring(page)
    assert ring["tag"] == "A"
    assert_visible_ring(ring)
    page.keyboard.press("Enter")
    expect(page).to_have_url(DEMO_PAGE_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text(DEMO_PAGE_HEADING)
    tab_until(page, "e.closest('.publications') && e.tagName === 'A'", most=40)
    ring = focus_ring(page)
    assert ring["text"] == "[PubMed]"
    assert_visible_ring(ring)
    assert contrast(rgb(ring["colour"]), WHITE) >= 3


def test_after_a_no_the_keyboard_reaches_what_was_missing_and_sends_it(page: Page, demo_page):
    from treatments.models import Feedback

    page.goto(DEMO_PAGE_URL)
    page.get_by_role("button", name="No").click()
    expect(page).to_have_url(DEMO_PAGE_URL + "?voted=no#feedback")
    expect(page.get_by_role("status")).to_have_text(
        "Thank you for your feedback. Your answer, No, is recorded."
    )
    tab_until(page, "e.id === 'feedback-missing-text'", most=10)
    assert_visible_ring(focus_ring(page))
    page.keyboard.type("Doses for children")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(DEMO_PAGE_URL + "?voted=noted#feedback")
    expect(page.get_by_role("status")).to_have_text(
        "Thank you for your feedback. Our editors will read what was missing."
    )
    expect(page.get_by_text("Doses for children")).to_have_count(0)
    assert Feedback.objects.get(page=demo_page).missing == "Doses for children"
