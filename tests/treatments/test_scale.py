"""Reader pages and the page form cost a fixed number of queries at any size (issue 9, Scale).

Sizes are built with bulk_create: 30 and 3,000 listed entries on a page, 1 and 3,000 pages in a
section. Counts only, never timings: ``benchmarks/scale.py`` prints the times at full size.
"""

import itertools
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from publications.models import PageListing, Publication
from tests.factories import SectionFactory, TreatmentPageFactory
from tests.treatments.editing import change_url, form_data
from treatments.models import TreatmentPage

pytestmark = pytest.mark.django_db

SMALL, LARGE = 30, 3000
PMIDS = itertools.count(20_000_000)


def add_publications(count: int) -> list[Publication]:
    """``count`` publications, normalized as stored ones are (bulk inserts skip save())."""
    rows = [
        Publication(
            pmid=pmid, title=f"Trial {pmid} of a treatment.", journal="Cancer Res",
            authors=[{"last_name": f"Author{pmid}", "initials": "J"}], pub_year=str(1990 + pmid % 35),
            volume="79", issue="1", pages="1-10", source_xml=f"<PubmedArticle>{'x' * 2000}</PubmedArticle>",
        )
        for pmid in itertools.islice(PMIDS, count)
    ]  # fmt: skip
    for row in rows:
        row.normalize()
    return Publication.objects.bulk_create(rows, batch_size=500)


def list_on(page, count: int) -> None:
    """``count`` entries on the page's list, newest first, after those it has."""
    offset = PageListing.objects.filter(page=page).count()
    listings = [
        PageListing(page=page, publication=publication, position=offset + n)
        for n, publication in enumerate(add_publications(count))
    ]
    PageListing.objects.bulk_create(listings, batch_size=500)


def add_pages(section, count: int, *, published: bool = True) -> None:
    pages = [
        TreatmentPage(section=section, slug=f"bulk-{n}", title=f"Bulk treatment {n:04}", published=published)
        for n in range(count)
    ]
    TreatmentPage.objects.bulk_create(pages, batch_size=500)


def queries_for(client, url, *, method="get", data=None, status=200):
    """The queries one request makes, with every cache cold (a purge, a first view)."""
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
    assert response.status_code == status, response.content.decode()[:2000]
    return len(queries), response


def test_a_treatment_page_costs_the_same_queries_at_30_and_3000_entries(client):
    page = TreatmentPageFactory()
    list_on(page, SMALL)
    small, response = queries_for(client, page.get_absolute_url())
    assert response.content.decode().count('<li class="publication') == SMALL
    list_on(page, LARGE - SMALL)
    large, response = queries_for(client, page.get_absolute_url())
    assert large == small
    assert response.content.decode().count('<li class="publication') == page.publications_shown


def test_a_section_page_costs_the_same_queries_for_1_and_3000_pages(client):
    one, many = SectionFactory(), SectionFactory()
    add_pages(one, 1)
    add_pages(many, LARGE)
    small, _ = queries_for(client, one.get_absolute_url())
    large, response = queries_for(client, many.get_absolute_url())
    assert large == small
    assert response.content.decode().count("Bulk treatment") == 50


def test_a_section_lists_its_pages_50_at_a_time_with_previous_and_next(client):
    section = SectionFactory()
    add_pages(section, 120)
    first = client.get(section.get_absolute_url()).content.decode()
    assert "Bulk treatment 0049" in first and "Bulk treatment 0050" not in first
    assert 'href="?page=2" rel="next"' in first and 'rel="prev"' not in first
    assert "Page 1 of 3" in first
    last = client.get(section.get_absolute_url(), {"page": 3}).content.decode()
    assert last.count("Bulk treatment") == 20 and 'href="?page=2" rel="prev"' in last
    assert 'rel="next"' not in last
    assert "Page 1 of 3" in client.get(section.get_absolute_url(), {"page": "nonsense"}).content.decode()


def test_a_short_section_has_no_page_links(client):
    section = SectionFactory()
    add_pages(section, 3)
    html = client.get(section.get_absolute_url()).content.decode()
    assert "Bulk treatment 0002" in html and 'class="pagination"' not in html


def test_the_home_page_costs_the_same_queries_for_1_and_3000_pages(client):
    section = SectionFactory()
    add_pages(section, 1)
    small, _ = queries_for(client, "/")
    add_pages(SectionFactory(parent=section, slug="more", path=f"{section.path}/more"), LARGE)
    large, _ = queries_for(client, "/")
    assert large == small


def test_the_feeds_cost_the_same_queries_at_30_and_3000_entries_and_1_and_3000_pages(client):
    section = SectionFactory()
    page = TreatmentPageFactory(section=section)
    list_on(page, SMALL)
    small = [queries_for(client, url)[0] for url in (f"/feeds/{page.pk}.atom", "/feeds/site.atom")]
    list_on(page, LARGE - SMALL)
    add_pages(section, LARGE)
    for other in TreatmentPage.objects.exclude(pk=page.pk)[:50]:
        list_on(other, 2)
    large = [queries_for(client, url)[0] for url in (f"/feeds/{page.pk}.atom", "/feeds/site.atom")]
    assert large == small
    _, response = queries_for(client, "/feeds/site.atom")
    assert response.content.decode().count("<entry>") == 50  # feeds.SITE_FEED_SIZE, whatever the size


def test_search_costs_the_same_queries_for_1_and_3000_matching_pages(client):
    section = SectionFactory()
    add_pages(section, 1)
    small, response = queries_for(client, "/search/?q=bulk")
    assert "treatment 0000" in response.content.decode()
    add_pages(SectionFactory(), LARGE)
    large, response = queries_for(client, "/search/?q=bulk")
    assert large == small
    assert 'class="pagination"' in response.content.decode()


def test_the_page_list_in_the_admin_costs_the_same_queries_for_1_and_3000_pages(editor_client):
    section = SectionFactory()
    add_pages(section, 1)
    small, _ = queries_for(editor_client, "/admin/treatments/treatmentpage/")
    add_pages(SectionFactory(), LARGE)
    large, response = queries_for(editor_client, "/admin/treatments/treatmentpage/")
    assert large == small
    assert len(response.content) < 200_000


# --- The page form: bounded, no query per row ----------------------------------------------------

ROW = re.compile(r'name="listings-(\d+)-id"')


def form_rows(html: str) -> int:
    return len(set(ROW.findall(html)))


def page_with_entries(count: int):
    page = TreatmentPageFactory(pubmed_query="cancer")
    list_on(page, count)
    return page


def test_the_page_form_shows_what_readers_see_plus_pinned_and_hidden_at_any_size(editor_client):
    small_page, large_page = page_with_entries(SMALL), page_with_entries(LARGE)
    far_down = PageListing.objects.filter(page=large_page).order_by("-position")
    pinned, hidden = far_down[0], far_down[1]
    PageListing.objects.filter(pk=pinned.pk).update(pinned=True)
    PageListing.objects.filter(pk=hidden.pk).update(hidden=True)
    small, response = queries_for(editor_client, change_url(small_page))
    assert form_rows(response.content.decode()) == SMALL
    large, response = queries_for(editor_client, change_url(large_page))
    html = response.content.decode()
    assert form_rows(html) == large_page.publications_shown + 1  # the hidden one; the pinned one is shown
    assert f'value="{pinned.pk}"' in html and f'value="{hidden.pk}"' in html
    assert f"/admin/publications/pagelisting/?page__id__exact={large_page.pk}" in html
    assert large == small
    assert len(response.content) < 400_000


def test_the_page_form_never_loads_the_publications_records(editor_client):
    page = page_with_entries(SMALL)
    with CaptureQueriesContext(connection) as queries:
        editor_client.get(change_url(page))
    listing_queries = [q["sql"] for q in queries if "publications_pagelisting" in q["sql"]]
    assert listing_queries and not any("source_xml" in sql for sql in listing_queries)


def pin_post(page, pin_index: int) -> dict:
    """The form as the editor submits it: the rows it showed, one of them pinned."""
    shown = list(PageListing.objects.for_form(page))
    data = form_data(page) | {"listings-TOTAL_FORMS": len(shown), "listings-INITIAL_FORMS": len(shown)}
    for i, listing in enumerate(shown):
        data |= {f"listings-{i}-id": listing.pk, f"listings-{i}-page": page.pk}
    data[f"listings-{pin_index}-pinned"] = "on"
    return data, shown[pin_index]


def test_saving_the_page_form_costs_the_same_queries_at_30_and_3000_entries(editor_client):
    counts = []
    for count in (SMALL, LARGE):
        page = page_with_entries(count)
        data, chosen = pin_post(page, 5)
        queries, _ = queries_for(editor_client, change_url(page), method="post", data=data, status=302)
        counts.append(queries)
        assert PageListing.objects.get(pk=chosen.pk).pinned
    assert counts[0] == counts[1]


def test_the_form_saves_a_row_a_refresh_moved_out_of_view_since_it_was_shown(editor_client):
    page = page_with_entries(40)
    data, chosen = pin_post(page, 29)
    PageListing.objects.filter(pk=chosen.pk).update(position=1000)  # a refresh pushed it down
    response = editor_client.post(change_url(page), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert PageListing.objects.get(pk=chosen.pk).pinned


def test_a_listing_of_another_page_cannot_be_saved_through_this_form(editor_client):
    page, other = page_with_entries(3), page_with_entries(3)
    data, _ = pin_post(page, 0)
    data["listings-0-id"] = PageListing.objects.filter(page=other).first().pk
    editor_client.post(change_url(page), data)
    assert not PageListing.objects.filter(page=other, pinned=True).exists()


def test_saving_the_page_form_costs_no_query_per_row(editor_client):
    counts = []
    for shown in (10, 200):
        page = page_with_entries(shown)
        TreatmentPage.objects.filter(pk=page.pk).update(publications_shown=shown)
        page.refresh_from_db()
        data, chosen = pin_post(page, 3)
        assert data["listings-INITIAL_FORMS"] == shown
        queries, _ = queries_for(editor_client, change_url(page), method="post", data=data, status=302)
        counts.append(queries)
        assert PageListing.objects.get(pk=chosen.pk).pinned
    assert counts[0] == counts[1]
