"""The production database connection: what settings ask of PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.postgresql import updates_counted

pytestmark = pytest.mark.django_db


def test_postgresql_never_jit_compiles_the_sites_short_queries():
    """JIT spent 0.7 s compiling the related-pages query (32 ms to run) at 3,000 pages."""
    if connection.vendor != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


def test_every_text_and_json_column_of_a_publication_is_stored_with_lz4():
    """pglz took several times LZ4's CPU to store a record's 26 KB of XML, and to read entries back."""
    if connection.vendor != "postgresql":
        pytest.skip("column compression is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = %s::regclass"
            " AND attnum > 0 AND NOT attisdropped AND atttypid IN ('text'::regtype, 'jsonb'::regtype)",
            ["publications_publication"],
        )
        columns = dict(cursor.fetchall())
    assert {"source_xml", "rendered_entry", "rendered_citation", "abstract"} <= columns.keys()
    assert {name for name, method in columns.items() if method != "l"} == set()


def test_a_publication_refetched_unchanged_is_updated_in_place_without_touching_an_index():
    """Publications' pages keep room (fillfactor 70): a re-fetch's ``updated_at`` on a page filled by
    later inserts is still a HOT update (no index entry written), where a full page would move the row."""
    if connection.vendor != "postgresql":
        pytest.skip("fillfactor and HOT updates are PostgreSQL's")
    from django.utils import timezone

    from publications.models import Publication
    from tests.factories import PublicationFactory

    first, *later = [PublicationFactory() for _ in range(40)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (ctid::text::point)[0] FROM publications_publication WHERE id = %s", [later[-1].pk]
        )
        assert cursor.fetchone()[0] > 0  # the first page is as full as inserts make it
    before = updates_counted()
    Publication.objects.filter(pk=first.pk).update(updated_at=timezone.now())
    updates, hot = (after - was for after, was in zip(updates_counted(), before, strict=True))
    assert (updates, hot) == (1, 1)


def test_psycopg_remembers_the_conversion_of_every_statement_a_treatment_page_runs(client):
    """A statement longer than psycopg's limit was converted again on every request (4% of a page's
    instructions): each statement the page runs fits the limit our backend raises (cancerindex/postgresql)."""
    if connection.vendor != "postgresql":
        pytest.skip("psycopg's statement memory is PostgreSQL's")
    from psycopg import _queries

    from cancerindex.postgresql.base import STATEMENT_CACHE_LENGTH
    from tests.factories import PageListingFactory, TreatmentPageFactory

    page = TreatmentPageFactory()
    PageListingFactory.create_batch(3, page=page)
    client.get(page.get_absolute_url())  # compiled statements built
    _queries._query2pg.cache_clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(page.get_absolute_url()).status_code == 200
        assert client.get(page.get_absolute_url()).status_code == 200
    assert _queries.MAX_CACHED_STATEMENT_LENGTH == STATEMENT_CACHE_LENGTH
    longest = max(len(query["sql"].encode()) for query in queries.captured_queries)
    assert 4096 < longest <= STATEMENT_CACHE_LENGTH  # the extras statement: over psycopg's own limit
    converted = _queries._query2pg.cache_info()
    assert converted.misses == len(queries) // 2  # each statement converted once, on the first request
    assert converted.hits == len(queries) // 2
