"""Streaming ingest: records read one at a time from an efetch response and stored in batches."""

import dataclasses
import datetime
import hashlib
import io
import json
from pathlib import Path

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from publications.models import Publication, PublicationQuerySet, record_digest
from publications.pubmed import parse_efetch
from publications.pubmed.errors import MalformedResponse
from publications.pubmed.parser import iter_efetch, parse_article_xml
from publications.pubmed.records import AbstractSection, Author, ParseResult, PubmedRecord
from tests.postgresql import toast_rows_written, updates_counted

EFETCH = Path(__file__).resolve().parents[1] / "fixtures" / "pubmed" / "efetch"
FILES = sorted(EFETCH.glob("*.xml"))


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_streaming_reads_what_the_whole_document_parser_reads(path):
    data = path.read_bytes()
    try:
        whole = parse_efetch(data)
    except MalformedResponse:  # a fixture NCBI answered with an error: the stream refuses it too
        with pytest.raises(MalformedResponse):
            list(iter_efetch(io.BytesIO(data)))
        return
    streamed = ParseResult()
    assert list(iter_efetch(io.BytesIO(data), result=streamed)) == whole.records
    assert streamed.deleted_pmids == whole.deleted_pmids
    assert [p.pmid for p in streamed.problems] == [p.pmid for p in whole.problems]


def test_streaming_refuses_declared_entities():
    article = (EFETCH / "metapub-11636720.xml").read_bytes().split(b"<PubmedArticleSet>", 1)[1]
    declared = b'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY x "boom">]>'
    data = declared + b"<PubmedArticleSet>" + article
    with pytest.raises(MalformedResponse):
        list(iter_efetch(io.BytesIO(data)))


@pytest.mark.parametrize(
    "data",
    [b"<eFetchResult><ERROR>Empty id list</ERROR></eFetchResult>", b"<ERROR>Bad</ERROR>", b"<Other/>"],
)
def test_streaming_reports_ncbi_errors_and_unexpected_documents(data):
    with pytest.raises(MalformedResponse):
        list(iter_efetch(io.BytesIO(data)))


def test_streaming_reports_malformed_xml():
    with pytest.raises(MalformedResponse):
        list(iter_efetch(io.BytesIO(b"<PubmedArticleSet><PubmedArticle>")))


def records(count, start=40_000_000):
    template = parse_efetch((EFETCH / "metapub-11636720.xml").read_bytes()).records[0]
    for number in range(count):
        yield dataclasses.replace(template, pmid=start + number)


@pytest.mark.django_db
def test_store_records_takes_a_stream_and_stores_it_in_batches(django_assert_max_num_queries):
    with django_assert_max_num_queries(8 * 5):  # a few statements per batch of 5, never one per record
        assert Publication.objects.store_records(records(25), batch_size=5) == 25
    stored = Publication.objects.filter(pmid__gte=40_000_000)
    assert stored.count() == 25
    assert all(row.rendered_entry.startswith('<li class="publication') for row in stored)
    assert Publication.objects.store_records(records(25), batch_size=10) == 0  # re-fetched: updated


@pytest.mark.django_db
def test_a_refetch_rewrites_the_stored_entry():
    (record,) = records(1)
    Publication.objects.store_records([record])
    Publication.objects.store_records([dataclasses.replace(record, title="Corrected <i>title</i>.")])
    assert "Corrected <i>title</i>." in Publication.objects.get(pmid=record.pmid).rendered_entry


@pytest.mark.django_db
def test_a_parse_error_mid_stream_reaches_the_caller():
    def broken():
        yield from records(3)
        raise MalformedResponse("truncated")

    with pytest.raises(MalformedResponse):
        Publication.objects.store_records(broken(), batch_size=2)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path runs on PostgreSQL only")
def test_postgresql_copies_new_records_and_upserts_refetched_ones():
    assert Publication.objects.store_records(records(7, start=41_000_000), batch_size=4) == 7
    assert Publication.objects.store_records(records(9, start=41_000_000), batch_size=4) == 2
    assert Publication.objects.filter(pmid__gte=41_000_000).count() == 9


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path runs on PostgreSQL only")
def test_postgresql_falls_back_to_the_upsert_when_another_refresh_inserted_first(monkeypatch):
    Publication.objects.store_records(records(2, start=42_000_000))
    original = PublicationQuerySet.filter

    def blind_lookup(self, *args, **kwargs):  # as if the rows were inserted after the lookup
        return (
            original(self, *args, **kwargs).none()
            if "pmid__in" in kwargs
            else original(self, *args, **kwargs)
        )

    monkeypatch.setattr(PublicationQuerySet, "filter", blind_lookup)
    assert Publication.objects.store_records(records(3, start=42_000_000)) == 1
    monkeypatch.undo()
    assert Publication.objects.filter(pmid__gte=42_000_000).count() == 3


@pytest.mark.django_db
def test_stored_records_are_cleaned_whatever_built_them():
    (record,) = records(1, start=43_000_000)
    unsafe = dataclasses.replace(record, title="<script>x()</script><i>T</i> & co")
    Publication.objects.store_records([unsafe])
    stored = Publication.objects.get(pmid=43_000_000)
    assert stored.title == "<i>T</i> &amp; co"
    assert "<script" not in stored.rendered_entry and "<i>T</i> &amp; co" in stored.rendered_entry


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="column compression is PostgreSQL's")
def test_large_columns_are_compressed_with_lz4_on_postgresql():
    """pglz made compressing each record's XML the slowest part of storing it (0006_lz4_compression)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
            [Publication._meta.db_table],
        )
        compression = dict(cursor.fetchall())
    assert compression["source_xml"] == "l"
    assert compression["rendered_entry"] == "l"


# Re-fetched records PubMed has not changed are not rewritten (content_hash)


def stored_row(pmid):
    return Publication.objects.values("updated_at", "content_hash", "title", "rendered_entry").get(pmid=pmid)


@pytest.mark.django_db
def test_an_unchanged_refetch_moves_updated_at_on_and_rewrites_nothing():
    (record,) = records(1, start=44_000_000)
    Publication.objects.store_records([record])
    long_ago = timezone.now() - datetime.timedelta(days=60)
    Publication.objects.filter(pmid=record.pmid).update(updated_at=long_ago)  # due for its re-check
    before = stored_row(record.pmid)
    assert len(before["content_hash"]) == 32

    with CaptureQueriesContext(connection) as queries:
        assert Publication.objects.store_records([dataclasses.replace(record)]) == 0

    after = stored_row(record.pmid)
    assert after["updated_at"] > long_ago + datetime.timedelta(days=59)  # fetched now: not due again
    assert {**after, "updated_at": None} == {**before, "updated_at": None}
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("INSERT", "UPDATE", "COPY"))]
    assert len(writes) == 1 and writes[0].startswith("UPDATE") and "rendered_entry" not in writes[0]


@pytest.mark.django_db
def test_an_edited_row_is_rewritten_by_its_next_refetch():
    """Saving (an editor, the admin) or a queryset update forgets the digest: PubMed's record wins again."""
    (record,) = records(1, start=44_100_000)
    Publication.objects.store_records([record])
    row = Publication.objects.get(pmid=record.pmid)
    row.title = "Edited by hand."
    row.save()
    assert Publication.objects.get(pmid=record.pmid).content_hash == ""
    Publication.objects.store_records([record])
    assert Publication.objects.get(pmid=record.pmid).title == record.title

    Publication.objects.filter(pmid=record.pmid).update(journal="Changed")
    assert stored_row(record.pmid)["content_hash"] == ""
    Publication.objects.store_records([record])
    assert Publication.objects.get(pmid=record.pmid).journal == record.journal_iso


@pytest.mark.django_db
def test_a_timestamp_update_keeps_the_digest():
    (record,) = records(1, start=44_200_000)
    Publication.objects.store_records([record])
    digest = stored_row(record.pmid)["content_hash"]
    Publication.objects.filter(pmid=record.pmid).update(updated_at=timezone.now())
    assert stored_row(record.pmid)["content_hash"] == digest


def built(record):
    row = Publication.from_record(record)
    row.normalize()
    return row


def test_the_digest_changes_with_every_field_of_the_record():
    record = parse_efetch((EFETCH / "metapub-25364329.xml").read_bytes()).records[0]
    digest = record_digest(record)
    assert len(digest) == 32
    assert record_digest(dataclasses.replace(record)) == digest  # equal records, equal digests
    change = {
        str: lambda v: v + "x", bool: lambda v: not v, int: lambda v: v + 1, list: lambda v: [*v, "x"],
        dict: lambda v: {**v, "x": "y"}, datetime.date: lambda v: v + datetime.timedelta(days=1),
        type(None): lambda v: datetime.date(2020, 1, 1),
    }  # fmt: skip
    for field in dataclasses.fields(PubmedRecord):
        value = getattr(record, field.name)
        changed = dataclasses.replace(record, **{field.name: change[type(value)](value)})
        assert record_digest(changed) != digest, field.name
    author = dataclasses.replace(record.authors[0], initials="Q")
    assert record_digest(dataclasses.replace(record, authors=[author, *record.authors[1:]])) != digest
    assert record_digest(dataclasses.replace(record, is_retracted=1)) != record_digest(
        record
    )  # 1 is not True


def test_a_record_the_digest_cannot_read_has_none():
    (record,) = records(1)
    assert record_digest(dataclasses.replace(record, dates={"pubmed": object()})) == ""


class Text(str):
    pass


@pytest.mark.django_db
def test_a_record_without_a_digest_is_rewritten_at_each_refetch():
    (record,) = records(1, start=44_500_000)
    odd = dataclasses.replace(
        record, journal_title=Text(record.journal_title)
    )  # a str marshal will not write
    Publication.objects.store_records([odd])
    assert stored_row(record.pmid)["content_hash"] == ""
    Publication.objects.store_records([dataclasses.replace(odd, title="Corrected.")])
    assert stored_row(record.pmid)["title"] == "Corrected."


@pytest.mark.django_db
def test_a_row_written_by_other_code_is_rewritten_once_by_its_refetch():
    """A digest from before this deploy (another build of the row, or 0012's digest of the columns) never
    matches: the re-fetch builds the row again, then the next one finds it unchanged."""
    (record,) = records(1, start=44_600_000)
    Publication.objects.store_records([record])
    with connection.cursor() as cursor:  # a row built by older code, with that code's digest
        cursor.execute(
            "UPDATE publications_publication SET rendered_entry = %s, content_hash = %s WHERE pmid = %s",
            ["<li>older</li>", "0" * 32, record.pmid],
        )
    Publication.objects.store_records([record])
    rewritten = stored_row(record.pmid)
    assert rewritten["rendered_entry"].startswith('<li class="publication')
    assert rewritten["content_hash"] == record_digest(record)
    with CaptureQueriesContext(connection) as queries:
        Publication.objects.store_records([record])
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("INSERT", "UPDATE", "COPY"))]
    assert len(writes) == 1 and "rendered_entry" not in writes[0]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="HOT updates are PostgreSQL's")
def test_a_rewrite_that_leaves_every_indexed_column_as_it_was_writes_no_index_entry(monkeypatch):
    """After a deploy every re-fetch is a rewrite (the digest covers the code), most of its values as
    they were: a value equal to the stored one keeps it, so the update is HOT (no to_tsvector, no index
    entry) and long values are not compressed and stored again. What changed is written all the same."""
    from publications import models

    (record,) = records(1, start=44_650_000)
    # An abstract too long to stay in the row (stored aside, in TOAST), as PubMed's longest are.
    words = " ".join(hashlib.sha256(b"%d" % number).hexdigest() for number in range(400))
    record = dataclasses.replace(record, abstract=[AbstractSection(text=words, label="RESULTS")])
    Publication.objects.store_records([record])  # alone on its table page: room for a new version
    stored = Publication.objects.values("source_xml", "rendered_entry").get(pmid=record.pmid)
    monkeypatch.setattr(models, "_build_fingerprint", lambda: b"the next deploy")
    revised = dataclasses.replace(record, dates={**record.dates, "revised_record": "2026-11-26"})
    before, toasted = updates_counted(), toast_rows_written()
    assert Publication.objects.store_records([revised]) == 0
    updates, hot = (after - was for after, was in zip(updates_counted(), before, strict=True))
    assert (updates, hot) == (1, 1)
    assert toast_rows_written() == toasted  # the abstract kept where it was, not stored again
    row = Publication.objects.get(pmid=record.pmid)
    assert row.dates["revised_record"] == "2026-11-26"
    assert row.content_hash == record_digest(revised)
    assert (row.source_xml, row.rendered_entry) == (stored["source_xml"], stored["rendered_entry"])

    Publication.objects.store_records([dataclasses.replace(revised, title="A new <i>title</i>")])
    row = Publication.objects.get(pmid=record.pmid)
    assert row.title == "A new <i>title</i>" and "A new <i>title</i>" in row.rendered_entry


@pytest.mark.django_db
def test_a_batch_of_new_changed_and_unchanged_records_stores_each_as_it_should():
    first = list(records(4, start=44_700_000))
    Publication.objects.store_records(first[:3])
    Publication.objects.filter(pmid=first[0].pmid).update(
        updated_at=timezone.now() - datetime.timedelta(days=60)
    )
    again = [first[0], dataclasses.replace(first[1], title="Changed <b>title</b>."), first[2], first[3]]
    assert Publication.objects.store_records(again, batch_size=10) == 1
    rows = {row.pmid: row for row in Publication.objects.filter(pmid__gte=44_700_000)}
    assert len(rows) == 4
    assert rows[first[0].pmid].updated_at > timezone.now() - datetime.timedelta(days=1)
    assert "Changed <b>title</b>." in rows[first[1].pmid].rendered_entry
    assert rows[first[1].pmid].content_hash == record_digest(again[1])
    assert all(row.rendered_entry.startswith('<li class="publication') for row in rows.values())


@pytest.mark.django_db
def test_a_pmid_sent_twice_in_a_stream_is_stored_as_last_sent():
    """Each batch is read from the database before the one ahead of it is written: the last one sent
    wins all the same, new or stored, changed or not."""
    (record,) = records(1, start=44_800_000)
    first, last = dataclasses.replace(record, title="First."), dataclasses.replace(record, title="Last.")
    assert Publication.objects.store_records([first, last], batch_size=1) == 1
    assert stored_row(record.pmid)["title"] == "Last."
    Publication.objects.store_records([first, last], batch_size=1)  # stored as last, then changed, then back
    assert stored_row(record.pmid)["title"] == "Last."
    assert stored_row(record.pmid)["content_hash"] == record_digest(last)


def stream(*articles: bytes) -> io.BytesIO:
    head = b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet>\n<PubmedArticleSet>\n'
    return io.BytesIO(head + b"\n".join(articles) + b"\n</PubmedArticleSet>\n")


def article_xml(pmid: int) -> bytes:
    record = parse_efetch((EFETCH / "metapub-11636720.xml").read_bytes()).records[0]
    return record.source_xml.replace(f">{record.pmid}</PMID>", f">{pmid}</PMID>").encode()


@pytest.mark.django_db
def test_a_malformed_article_mid_stream_stops_the_store_and_nothing_after_it_is_stored():
    broken = article_xml(45_000_006).replace(b"</ArticleTitle>", b"</ArticleTitl>")
    articles = [*map(article_xml, range(45_000_000, 45_000_006)), broken, article_xml(45_000_007)]
    with pytest.raises(MalformedResponse, match="not well-formed"), transaction.atomic():
        Publication.objects.store_records(iter_efetch(stream(*articles)), batch_size=2)
    assert not Publication.objects.filter(pmid__gte=45_000_000).exists()  # as a refresh does: all or nothing

    with pytest.raises(MalformedResponse):  # outside a transaction: what came before is stored, and right
        Publication.objects.store_records(iter_efetch(stream(*articles)), batch_size=2)
    stored = Publication.objects.filter(pmid__gte=45_000_000)
    # The parser reads ahead (some 32 KB): the batch the error reached first is not stored either.
    assert {45_000_000, 45_000_001, 45_000_002, 45_000_003} <= set(stored.values_list("pmid", flat=True))
    assert not stored.filter(pmid__gte=45_000_006).exists()
    for row in stored:
        assert row.content_hash == record_digest(parse_article_xml(row.source_xml))
        assert row.rendered_entry == built(parse_article_xml(row.source_xml)).rendered_entry


@pytest.mark.django_db
def test_an_unusable_article_mid_stream_is_reported_and_the_others_stored():
    no_pmid = article_xml(45_100_001).replace(b">45100001</PMID>", b"></PMID>")
    result = ParseResult()
    articles = [article_xml(45_100_000), no_pmid, article_xml(45_100_002)]
    assert Publication.objects.store_records(iter_efetch(stream(*articles), result=result), batch_size=2) == 2
    assert [problem.message for problem in result.problems] == ["PubmedArticle: no PMID"]
    assert sorted(Publication.objects.filter(pmid__gte=45_100_000).values_list("pmid", flat=True)) == [
        45_100_000,
        45_100_002,
    ]


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_entries_are_built_as_before_for_every_fixture(path):
    """Each fixture article's stored entry HTML, byte for byte, as the code before the ingest speed-up
    built it (SHA-256 prefixes in entry_html_sha256.json): the pages show the same entries."""
    expected = json.loads((EFETCH.parent / "entry_html_sha256.json").read_text())
    try:
        parsed = parse_efetch(path.read_bytes()).records
    except MalformedResponse:
        return
    for record in parsed:
        entry = built(record).rendered_entry
        assert hashlib.sha256(entry.encode()).hexdigest()[:16] == expected[str(record.pmid)], record.pmid


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the binary COPY runs on PostgreSQL only")
def test_postgresql_stores_every_column_as_the_orm_reads_it_back():
    record = parse_efetch((EFETCH / "metapub-25364329.xml").read_bytes()).records[0]
    Publication.objects.store_records([record])
    stored = Publication.objects.get(pmid=record.pmid)
    expected = built(record)
    for name in Publication.hashed_fields():
        assert getattr(stored, name) == getattr(expected, name), name


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the binary COPY runs on PostgreSQL only")
def test_postgresql_copies_json_columns_as_the_orm_writes_them():
    """The COPY's JSON (psycopg's jsonb dumper) and the ORM's (JSONField) store the same values, whatever
    the text."""
    (record,) = records(1, start=44_200_000)
    odd = 'Ünïcödé "quoted" \\back\\slash \u2028 line\tsep 中文 😀'
    record = dataclasses.replace(
        record,
        abstract=[AbstractSection(text=odd, label=odd)],
        authors=[Author(last_name=odd, initials="Ü")],
        publication_types=[odd, "Journal Article"],
        dates={**record.dates, "odd": "2020-01-02"},
        retraction_notices=[odd],
    )
    Publication.objects.store_records([record])
    copied = Publication.objects.get(pmid=record.pmid)
    by_orm = built(dataclasses.replace(record, pmid=44_200_001))
    by_orm.save()
    by_orm.refresh_from_db()
    for name in ("authors", "abstract", "publication_types", "dates", "retraction_notices"):
        assert getattr(copied, name) == getattr(by_orm, name), name
    assert copied.abstract[0]["text"] == odd and copied.authors[0]["last_name"] == odd


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the binary COPY runs on PostgreSQL only")
def test_postgresql_refuses_a_nul_in_the_source_xml_as_it_refuses_it_in_text():
    (record,) = records(1, start=44_300_000)
    with pytest.raises(DataError):
        Publication.objects.store_records([dataclasses.replace(record, source_xml="<a>\x00</a>")])


@pytest.mark.django_db
def test_saving_some_fetched_columns_forgets_the_digest_too():
    (record,) = records(1, start=44_400_000)
    Publication.objects.store_records([record])
    row = Publication.objects.get(pmid=record.pmid)
    row.title = "Edited by hand."
    row.save(update_fields=["title"])
    assert stored_row(record.pmid)["content_hash"] == ""
    Publication.objects.store_records([record])
    assert Publication.objects.get(pmid=record.pmid).title == record.title


def test_the_read_ahead_stops_reading_once_its_caller_stops():
    """A store that fails on the first batch does not wait for the rest of the download to be parsed."""
    from publications.models import _read_ahead

    pulled = []

    def batches():
        for number in range(50):
            pulled.append(number)
            yield [number]

    reading = _read_ahead(batches(), depth=1)
    assert next(reading) == [0]
    reading.close()  # the caller stops (a failed store leaves its loop)

    assert len(pulled) <= 4  # this one, one waiting, one being offered: never all 50
