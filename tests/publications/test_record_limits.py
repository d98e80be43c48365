"""One odd record never costs the batch: what the database would refuse is skipped and reported."""

import dataclasses
import datetime

import pytest
from django.db import DatabaseError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publications.limits import record_problems
from publications.models import Publication
from publications.pubmed import AbstractSection, Author, PubmedRecord
from tests.publications.test_refresh import (
    GUT_2017,
    QUERY,
    SEASON,
    article,
    listed_pmids,
    make_page,
    refreshed,
)

pytestmark = pytest.mark.django_db

HUGE_PMID = 2**64  # past PostgreSQL's bigint


def plain_record(**values) -> PubmedRecord:
    return PubmedRecord(pmid=41_000_100, title="A title.", journal_iso="J Tests", pub_year="2024", **values)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"pmcid": "PMC" + "1" * 30}, "PMCID"),
        ({"doi": "10.1/" + "x" * 400}, "DOI"),
        ({"journal_iso": "J" * 301}, "journal (ISO abbreviation)"),
        ({"pmid": HUGE_PMID}, "PMID"),
        ({"volume": "1\x002"}, "volume contains a NUL"),
        ({"authors": [Author(last_name="Nul\x00")]}, "authors contains a NUL"),
    ],
)
def test_each_kind_of_misfit_is_named(values, words):
    problems = record_problems(dataclasses.replace(plain_record(), **values))
    assert any(words in problem for problem in problems), problems


def test_a_fitting_record_has_no_problems():
    assert record_problems(plain_record(doi="10.1/x", pmcid="PMC1")) == []


def test_a_refresh_stores_the_good_articles_and_reports_the_misfits(ncbi):
    page = make_page()
    long_journal = ncbi.add_article(article(41_000_101).replace("J Tests", "J" * 400))
    huge = ncbi.add_article(article(HUGE_PMID))
    ncbi.set_search(QUERY, [long_journal, GUT_2017, huge, SEASON])

    run = refreshed(page)

    assert run.status == "ok"
    assert listed_pmids(page) == [GUT_2017, SEASON]
    assert f"Skipped PMID {long_journal}: journal (ISO abbreviation):" in run.warnings
    assert f"PubMed listed {huge}, which is not a valid PMID; it was left out." in run.warnings
    assert "did not return" not in run.warnings  # skipped, not missing


def test_records_nobody_asked_for_are_never_stored(ncbi):
    page = make_page()
    ncbi.set_search(QUERY, [GUT_2017])
    ncbi.inject("unasked", endpoint="efetch")  # NCBI sends every article the fake knows

    refreshed(page)

    assert list(Publication.objects.values_list("pmid", flat=True)) == [GUT_2017]


# --- Fuzzing the record-to-row path ----------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8"), max_size=450)  # NUL, accents, emoji, past every limit
records = st.builds(
    PubmedRecord,
    pmid=st.integers(min_value=1, max_value=2**70),
    title=texts,
    authors=st.lists(st.builds(Author, last_name=texts, initials=texts, collective_name=texts), max_size=3),
    journal_iso=texts,
    journal_title=texts,
    pub_year=st.text(max_size=6),
    pub_month=texts,
    medline_date=texts,
    volume=texts,
    issue=texts,
    pages=texts,
    doi=texts,
    pmcid=texts,
    book_accession=texts,
    pmc_release_date=st.none() | st.dates(datetime.date(1900, 1, 1), datetime.date(2100, 1, 1)),
    abstract=st.lists(st.builds(AbstractSection, text=texts, label=texts), max_size=2),
    publication_types=st.lists(texts, max_size=2),
    language=texts,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records)
def test_a_record_with_no_problems_always_stores(record):
    """The check and the database agree: what passes the check, the database takes."""
    problems = record_problems(record)
    try:
        with transaction.atomic():
            Publication.objects.store_records([record])
            stored = Publication.objects.filter(pmid=record.pmid).exists()
            transaction.set_rollback(True)
    except (DatabaseError, OverflowError) as exc:
        assert problems, f"the database refused a record the check passed: {exc}"
    else:
        assert stored or problems
