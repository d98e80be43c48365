"""Refresh one page's "Latest Research Publications" from PubMed.

The plain function that the Celery task, the management command and the tests all call. It asks
NCBI first and writes afterwards, in one transaction: readers see the old list or the new one,
never half of one, and when anything fails the old list stays as it was and the failure is
recorded on a RefreshRun for editors.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from treatments.models import TreatmentPage

from . import pubmed
from .limits import record_problems
from .locks import LockUnavailable, PageLocked, page_lock
from .models import PageListing, Publication, RefreshRun
from .pubmed import (
    EutilsClient,
    EutilsError,
    ParseResult,
    PubmedParseError,
    PubmedRecord,
    iter_efetch,
    parse_esearch,
)

logger = logging.getLogger(__name__)

SEARCH_HEADROOM = 20  # extra results, so hidden entries and deletions do not leave the list short
MAX_PMID = 2**63 - 1  # what the PMID column (a bigint) holds; a larger "PMID" is left out, not fatal


class RefreshFailed(Exception):
    """A refresh that cannot complete; its message is what editors read."""


def make_client() -> EutilsClient:
    """The E-utilities client from settings; its rate limit is shared through Redis when there is one."""
    return pubmed.make_client(
        base_url=settings.NCBI_EUTILS_URL,
        tool=settings.NCBI_TOOL,
        email=settings.NCBI_EMAIL,
        api_key=settings.NCBI_API_KEY or None,
        redis_url=settings.REDIS_URL or None,
        timeout=settings.NCBI_TIMEOUT,
        deadline=settings.NCBI_DEADLINE,
        max_retries=settings.NCBI_MAX_RETRIES,
        backoff_base=settings.NCBI_BACKOFF_BASE,
    )


@dataclass
class Plan:
    """What a refresh asks NCBI for, decided from the database alone once the search has answered."""

    pmids: list[int]  # the search's results, newest first
    missing: list[int] = field(default_factory=list)  # not stored yet
    rechecked: list[int] = field(default_factory=list)  # stored, but last fetched long ago
    invalid: list[int] = field(default_factory=list)  # "PMIDs" no database column could hold

    @property
    def warnings(self) -> list[str]:
        return [f"PubMed listed {pmid}, which is not a valid PMID; it was left out." for pmid in self.invalid]

    @property
    def to_fetch(self) -> list[int]:
        return self.missing + self.rechecked


@dataclass
class Download:
    """What efetch sent for a plan; nothing of it is written yet."""

    records: list[PubmedRecord] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def refresh_page(
    page: TreatmentPage, *, client: EutilsClient | None = None, job: str | None = None
) -> RefreshRun:
    """Refresh ``page``'s list; always returns the RefreshRun that says what happened.

    ``job`` (the Celery task id) lets a redelivered task take over the lock its dead worker left.
    """
    run = RefreshRun.objects.start(page)
    steps = Steps(page)
    try:
        with page_lock(page.pk, owner=job):
            # Holding the lock, any other run of this page still "running" belongs to a dead worker.
            RefreshRun.objects.filter(page=page).exclude(pk=run.pk).close_interrupted(older_than=0)
            if not page.pubmed_query.strip():
                raise RefreshFailed("This page has no PubMed query.")
            with _client(client) as eutils:
                new = steps.run(eutils)
    except PageLocked as exc:
        return run.skip(str(exc))
    except (RefreshFailed, LockUnavailable, EutilsError) as exc:  # every pubmed error is an EutilsError
        return run.fail(str(exc), warnings=steps.warnings)
    except Exception as exc:
        logger.exception("Refresh of page %s failed unexpectedly", page.pk)
        return run.fail(f"Unexpected error: {exc!r}", warnings=steps.warnings)
    return run.finish(found=len(steps.plan.pmids), new=new, warnings=steps.warnings)


@dataclass
class Steps:
    """One refresh's steps, keeping what each found so a failure later still reports it."""

    page: TreatmentPage
    plan: Plan | None = None
    download: Download | None = None

    def run(self, eutils: EutilsClient) -> int:
        self.plan = plan_fetch(self.page, search(eutils, self.page))
        self.download = fetch_records(eutils, self.plan)
        return apply(self.page, self.plan, self.download)

    @property
    def warnings(self) -> list[str]:
        return (self.plan.warnings if self.plan else []) + (self.download.warnings if self.download else [])


@contextmanager
def _client(client: EutilsClient | None) -> Iterator[EutilsClient]:
    """The caller's client, or one from settings that is closed afterwards."""
    if client is not None:
        yield client
        return
    owned = make_client()
    try:
        yield owned
    finally:
        owned.close()


# --- The steps: network-only search and download, database-only plan and apply -------------------


def search(eutils: EutilsClient, page: TreatmentPage) -> list[int]:
    """The page's search, newest first, with room for hidden entries and deletions."""
    retmax = page.publications_shown + PageListing.objects.filter(page=page, hidden=True).count()
    with _unreadable("search results"):
        result = parse_esearch(eutils.esearch(page.pubmed_query, retmax=retmax + SEARCH_HEADROOM))
    if not result.pmids:
        reasons = "; ".join(result.errors + result.warnings) or "no results"
        raise RefreshFailed(f"PubMed found nothing for this query ({reasons}); the list was kept.")
    return result.pmids


def plan_fetch(page: TreatmentPage, pmids: list[int]) -> Plan:
    """The records to fetch: those not stored yet, and stored ones due for a fresh look."""
    invalid = [pmid for pmid in pmids if not 0 < pmid <= MAX_PMID]
    pmids = [pmid for pmid in pmids if 0 < pmid <= MAX_PMID]
    stored = Publication.objects.stored_pmids(pmids)
    missing = [pmid for pmid in pmids if pmid not in stored]
    rechecked = Publication.objects.due_for_recheck(page, pmids)
    return Plan(pmids=pmids, missing=missing, rechecked=rechecked, invalid=invalid)


def fetch_records(eutils: EutilsClient, plan: Plan) -> Download:
    """efetch the plan's records in batches; malformed articles, and records the database would
    refuse, are skipped and reported; records not asked for are dropped."""
    download, skipped, asked = Download(), [], set(plan.to_fetch)
    for _batch, xml in eutils.efetch_batches(plan.to_fetch):
        result = ParseResult()
        with _unreadable("article records"):  # one article in memory at a time, however large the answer
            for record in iter_efetch(io.BytesIO(xml), result=result):
                if record.pmid not in asked:  # never store what we did not ask for, however much is sent
                    continue
                if problems := record_problems(record):
                    download.warnings.append(f"Skipped PMID {record.pmid}: {'; '.join(problems)}")
                    skipped.append(record.pmid)
                else:
                    download.records.append(record)
        download.deleted += result.deleted_pmids  # NCBI's word on what it withdrew, asked or not
        download.warnings += [f"Skipped PMID {p.pmid or '?'}: {p.message}" for p in result.problems]
        skipped += [p.pmid for p in result.problems]
    answered = {record.pmid for record in download.records} | set(download.deleted) | set(skipped)
    unanswered = [pmid for pmid in plan.missing if pmid not in answered]
    if len(unanswered) > skipped.count(None):  # a skipped article without a PMID answers one of them
        download.warnings.append(
            f"PubMed found but did not return {len(unanswered)} record(s): PMID "
            + ", ".join(map(str, unanswered[:20]))
            + (" ..." if len(unanswered) > 20 else "")
        )
    return download


@contextmanager
def _unreadable(what: str) -> Iterator[None]:
    """A response the parser refuses, in words for editors: the parser's own message is for developers."""
    try:
        yield
    except PubmedParseError as exc:
        raise RefreshFailed(
            f"PubMed's {what} could not be read ({exc}); the list was kept. Try again later."
        ) from exc


@transaction.atomic
def apply(page: TreatmentPage, plan: Plan, download: Download) -> int:
    """Write the new list in one transaction; returns how many publications are new to the site."""
    TreatmentPage.objects.select_for_update().filter(pk=page.pk).first()  # serialise writers of this page
    new = Publication.objects.store_records(download.records)
    if download.deleted:
        _delete_everywhere(download.deleted, refreshing=page)
    by_pmid = dict(Publication.objects.filter(pmid__in=plan.pmids).values_list("pmid", "pk"))
    ranked = [by_pmid[pmid] for pmid in plan.pmids if pmid in by_pmid]
    if not ranked:
        raise RefreshFailed("PubMed returned none of the records it found; the list was kept.")
    PageListing.objects.replace_for_page(page, ranked)
    Publication.objects.unlisted_without_pmid().delete()  # the demo entries a first refresh replaced
    page.record_change(reason="list")
    return new


def _delete_everywhere(pmids: list[int], *, refreshing: TreatmentPage) -> None:
    """PubMed deleted these citations: they leave every list, and every page that showed one changed."""
    others = list(
        TreatmentPage.objects.filter(listings__publication__pmid__in=pmids).exclude(pk=refreshing.pk)
    )
    Publication.objects.filter(pmid__in=pmids).delete()
    for other in {page.pk: page for page in others}.values():
        other.record_change(reason="list")
