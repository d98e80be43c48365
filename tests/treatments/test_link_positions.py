"""A page's links have one position each, in the database; new links go last; imports never interleave."""

import threading

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import TreatmentPageFactory
from treatments import importer, workflow
from treatments.models import WebResource

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
