"""The records a refresh downloads are held off the heap until they are stored (``publications.spool``)."""

from __future__ import annotations

from pathlib import Path

from publications.pubmed import parse_efetch
from publications.spool import RecordSpool

EFETCH = Path(__file__).resolve().parents[1] / "fixtures" / "pubmed" / "efetch"


def fixture_records() -> list:
    return [
        record for path in sorted(EFETCH.glob("*.xml")) for record in parse_efetch(path.read_bytes()).records
    ]


def test_records_come_back_equal_and_in_order_however_often_they_are_read():
    records = fixture_records()
    spool = RecordSpool(records)

    assert len(spool) == len(records) > 100
    assert list(spool) == records
    assert list(spool) == records  # a second read, as a retried write would make
    assert spool.pmids == {record.pmid for record in records}
    assert not spool.on_disk  # a few hundred records stay in memory
    spool.close()


def test_records_past_the_memory_limit_go_to_disk_and_still_come_back_equal():
    records = fixture_records()
    spool = RecordSpool(memory_bytes=64 * 1024)
    for record in records[:3]:
        spool.append(record)
    assert not spool.on_disk
    for record in records[3:]:
        spool.append(record)

    assert spool.on_disk
    assert list(spool) == records


def test_appending_after_a_read_adds_to_the_end():
    first, second, *_ = fixture_records()
    spool = RecordSpool([first])
    assert list(spool) == [first]
    spool.append(second)
    assert list(spool) == [first, second]
    assert len(spool) == 2


def test_an_empty_spool_reads_as_nothing():
    assert list(RecordSpool()) == []
