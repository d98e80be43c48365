"""A page's links have one position each, in the database; new links go last; imports never interleave;
editors order them with up and down buttons, through the workflow."""

import re
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import TreatmentPageFactory
from tests.treatments.editing import change_url, form_data
from treatments import importer, workflow
from treatments.models import PageRevision, TreatmentPage, WebResource

pytestmark = pytest.mark.django_db


def links(page):
    return [(r.title, r.position) for r in page.web_resources.all()]


def test_a_link_added_through_the_model_goes_last():
    page = TreatmentPageFactory()
    page.web_resources.create(title="First", url="https://example.org/1")
    page.web_resources.create(title="Second", url="https://example.org/2")
    assert links(page) == [("First", 0), ("Second", 1)]


def test_the_database_refuses_two_links_in_one_position():
    page = TreatmentPageFactory()
    page.web_resources.create(title="First", url="https://example.org/1", position=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        WebResource.objects.create(page=page, title="Clash", url="https://example.org/2", position=0)


def test_reordering_swaps_positions_without_a_clash():
    page = TreatmentPageFactory()
    for n in range(3):
        page.web_resources.create(title=f"L{n}", url=f"https://example.org/{n}")
    content = workflow.content_of(page)
    new = {"title": "New", "url": "https://example.org/new", "note": ""}
    workflow.replace_web_resources(page, [*reversed(content["web_resources"]), new])
    assert links(page) == [("L2", 0), ("L1", 1), ("L0", 2), ("New", 3)]


def import_file(links_prefix, count, *, replace):
    return {
        "sections": [{"path": "drugs", "title": "Drugs"}],
        "pages": [{
            "section": "drugs", "slug": "il-2", "title": "Interleukin 2", "replace_web_resources": replace,
            "web_resources": [
                {"title": f"{links_prefix} {n}", "url": f"https://example.org/{links_prefix}/{n}"}
                for n in range(count)
            ],
        }],
    }  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has one writer at a time already")
@pytest.mark.parametrize(("replace", "seeded"), [(True, True), (False, True), (True, False)])
def test_two_imports_at_once_into_one_page_never_interleave(replace, seeded):
    """Seeded: the page exists, both update it. Not seeded: both would create it."""
    if seeded:
        importer.apply(import_file("seed", 1, replace=True))
    files = [import_file("a", 300, replace=replace), import_file("b", 300, replace=replace)]
    errors, start = [], threading.Barrier(2)

    def run(data):
        try:
            start.wait()
            importer.apply(data)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(data,)) for data in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    rows = list(WebResource.objects.filter(page__slug="il-2").order_by("position"))
    assert [row.position for row in rows] == list(range(len(rows)))
    assert len({row.url for row in rows}) == len(rows)
    prefixes = [row.title.split()[0] for row in rows]
    if replace:  # the later import's list, whole and alone
        assert len(rows) == 300 and len(set(prefixes)) == 1
    else:  # the later file's links first, then the earlier ones and the seed, kept
        assert len(rows) == 601 and prefixes[:300] == [prefixes[0]] * 300 and "seed" in prefixes


# --- In the page admin: a new link goes last; up and down buttons, no JavaScript needed ----------


def three_links(**kwargs):
    page = TreatmentPageFactory(**kwargs)
    for n in range(3):
        page.web_resources.create(title=f"L{n}", url=f"https://example.org/{n}")
    return TreatmentPage.objects.get(pk=page.pk)


def test_a_link_added_in_the_form_without_a_position_goes_last(editor_client):
    page = three_links(published=False)
    data = form_data(page)
    data |= {
        "web_resources-TOTAL_FORMS": 4,
        "web_resources-3-title": "New",
        "web_resources-3-url": "https://example.org/new",
    }
    response = editor_client.post(change_url(page), data)
    assert response.status_code == 302
    assert links(page) == [("L0", 0), ("L1", 1), ("L2", 2), ("New", 3)]


def test_two_links_given_one_position_in_the_form_are_refused_and_nothing_changes(editor_client):
    page = three_links(published=False)
    response = editor_client.post(change_url(page), form_data(page, **{"web_resources-2-position": "0"}))
    assert "Please correct the duplicate data for position." in response.content.decode()
    assert links(page) == [("L0", 0), ("L1", 1), ("L2", 2)]


@pytest.mark.parametrize("published", [False, True])
def test_a_url_listed_twice_in_the_form_is_refused_and_nothing_changes(editor_client, published):
    """Saved, the two rows were one link: a live page lost the first, and a page not yet live kept both,
    whose next save failed (a server error) on every try."""
    page = three_links(published=published)
    again = {"web_resources-TOTAL_FORMS": 4, "web_resources-3-title": "Again", "web_resources-3-position": 3}
    again["web_resources-3-url"] = "example.org/1"  # https:// assumed: the same URL as L1's
    for button in ("_save_draft", "_publish"):
        response = editor_client.post(change_url(page), form_data(page, button, **again))
        assert response.status_code == 200, button
        assert "https://example.org/1 is listed twice" in response.content.decode()
    page.refresh_from_db()
    assert links(page) == [("L0", 0), ("L1", 1), ("L2", 2)] and page.draft is None


def move(client, page, direction, index, url):
    return client.post(change_url(page, "links/move"), {"move": f"{direction} {index} {url}"}, follow=True)


def test_the_form_shows_up_and_down_buttons_that_post_the_link_actions_form(editor_client):
    page = three_links(published=False)
    html = editor_client.get(change_url(page)).content.decode()
    buttons = re.findall(
        r'<button type="submit" form="link-actions" formaction="([^"]+)" name="move" value="([^"]+)"', html
    )
    action = change_url(page, "links/move")
    assert buttons == [
        (action, "down 0 https://example.org/0"),
        (action, "up 1 https://example.org/1"),
        (action, "down 1 https://example.org/1"),
        (action, "up 2 https://example.org/2"),
    ]


def test_moving_a_link_of_a_page_not_yet_live_reorders_it_at_once(editor, editor_client):
    page = three_links(published=False)
    response = move(editor_client, page, "down", 0, "https://example.org/0")
    assert [str(m) for m in response.context["messages"]] == ["Link moved down."]
    assert links(page) == [("L1", 0), ("L0", 1), ("L2", 2)]
    move(editor_client, page, "up", 2, "https://example.org/2")
    assert links(page) == [("L1", 0), ("L2", 1), ("L0", 2)]
    latest = PageRevision.objects.filter(page_pk=page.pk).select_related("revision__user").first()
    assert latest.revision.user == editor
    assert [item["title"] for item in latest.content["web_resources"]] == ["L1", "L2", "L0"]


def test_moving_a_link_of_a_live_page_waits_in_the_draft(editor_client):
    page = three_links()
    response = move(editor_client, page, "up", 1, "https://example.org/1")
    assert [str(m) for m in response.context["messages"]] == [
        "Link moved up. Readers see the new order when you publish."
    ]
    assert links(page) == [("L0", 0), ("L1", 1), ("L2", 2)]  # readers' order, until Publish
    page.refresh_from_db()
    assert [item["title"] for item in page.draft["web_resources"]] == ["L1", "L0", "L2"]
    html = editor_client.get(change_url(page)).content.decode()  # the form shows the draft's order
    assert 'value="down 0 https://example.org/1"' in html
    workflow.publish(page)
    assert links(page) == [("L1", 0), ("L0", 1), ("L2", 2)]


@pytest.mark.parametrize(
    "value",
    [
        "up 1 https://example.org/2",
        "up 0 https://example.org/0",
        "down 2 https://example.org/2",
        "sideways 1 x",
        "up x y",
        "",
        "up ² https://example.org/1",  # "²".isdigit(), which int() refuses: a server error
        "down ١ https://example.org/1",  # an Arabic-Indic 1, which int() read as 1: it moved the link
    ],
)
def test_a_move_from_a_stale_form_or_past_either_end_moves_nothing(editor_client, value):
    page = three_links(published=False)
    response = editor_client.post(change_url(page, "links/move"), {"move": value}, follow=True)
    assert next(str(m) for m in response.context["messages"]) in (
        "The links changed since this page was opened: nothing was moved.",
        "Choose a link to move up or down.",
    )
    assert links(page) == [("L0", 0), ("L1", 1), ("L2", 2)]
