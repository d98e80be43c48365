"""Refresh one page's "Latest Research Publications" from PubMed.

The plain function that the Celery task, the management command and the tests all call. It asks
NCBI first and writes afterwards, in one transaction: readers see the old list or the new one,
never half of one, and when anything fails the old list stays as it was and the failure is
recorded on a RefreshRun for editors.
"""

from __future__ import annotations

import datetime
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from treatments.models import TreatmentPage

from .models import PageListing, Publication, RefreshRun
from .pubmed import client as pubmed_client
from .pubmed.client import EutilsClient, EutilsError
from .pubmed.parser import PubmedParseError, parse_efetch, parse_esearch
from .pubmed.records import PubmedRecord

logger = logging.getLogger(__name__)

SEARCH_HEADROOM = 20  # extra results, so hidden entries and deletions do not leave the list short
# Stored records are fetched again once they are this old, so later retractions, corrections,
# PMC releases and deletions reach the page; at most this many per refresh, to stay polite.
RECHECK_AFTER = datetime.timedelta(days=30)
RECHECK_PER_REFRESH = 200
# What a re-fetched record rewrites: everything built from PubMed, not the row's identity.
REFETCHED_FIELDS = [
    field.name for field in Publication._meta.concrete_fields
    if field.name not in {"id", "pmid", "more_authors", "created_at"}
]  # fmt: skip
LOCK_SECONDS = 30 * 60  # longer than any refresh (tasks stop at 25 minutes); a dead worker's lock expires


class RefreshFailed(Exception):
    """A refresh that cannot complete; its message is what editors read."""


def make_client() -> EutilsClient:
    """The E-utilities client from settings; its rate limit is shared through Redis when there is one."""
    return pubmed_client.make_client(
        base_url=settings.NCBI_EUTILS_URL,
        tool=settings.NCBI_TOOL,
        email=settings.NCBI_EMAIL,
        api_key=settings.NCBI_API_KEY or None,
        redis_url=settings.REDIS_URL or None,
        timeout=settings.NCBI_TIMEOUT,
        max_retries=settings.NCBI_MAX_RETRIES,
        backoff_base=settings.NCBI_BACKOFF_BASE,
    )


@contextmanager
def page_lock(page_id: int) -> Iterator[bool]:
    """Whether this process may refresh the page now: one refresh of a page at a time, across workers."""
    key = f"publications:refresh-lock:{page_id}"
    token = secrets.token_hex(16)
    try:
        acquired = cache.add(key, token, LOCK_SECONDS)
    except Exception as exc:  # the cache (Redis) is down: refreshing unlocked could run two at once
        raise RefreshFailed(
            "Could not check whether another refresh of this page is running: the cache is unreachable "
            f"({exc}). The list was kept; try again later."
        ) from exc
    try:
        yield acquired
    finally:
        if acquired:
            try:
                if cache.get(key) == token:  # not a lock that expired and another refresh now holds
                    cache.delete(key)
            except Exception:  # the list is written by now; the lock expires by itself
                logger.exception("Could not release the refresh lock of page %s", page_id)


@dataclass
class Fetched:
    pmids: list[int]
    rechecked: list[int] = field(default_factory=list)  # stored PMIDs fetched again
    records: list[PubmedRecord] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def refresh_page(page: TreatmentPage, *, client: EutilsClient | None = None) -> RefreshRun:
    """Refresh ``page``'s list; always returns the RefreshRun that says what happened."""
    _close_interrupted_runs(page)
    run = RefreshRun.objects.create(page=page, query=page.pubmed_query)
    fetched = None
    try:
        with page_lock(page.pk) as acquired:
            if not acquired:
                return _finish(
                    run, RefreshRun.Status.SKIPPED, error="Another refresh of this page is running."
                )
            if not page.pubmed_query.strip():
                raise RefreshFailed("This page has no PubMed query.")
            fetched = _fetch(page, client)
            new = _apply(page, fetched)
    except (RefreshFailed, EutilsError, PubmedParseError) as exc:
        return _finish(run, RefreshRun.Status.FAILED, error=str(exc), warnings=_warnings(fetched))
    except Exception as exc:
        logger.exception("Refresh of page %s failed unexpectedly", page.pk)
        error = f"Unexpected error: {exc!r}"
        return _finish(run, RefreshRun.Status.FAILED, error=error, warnings=_warnings(fetched))
    return _finish(
        run,
        RefreshRun.Status.OK,
        pmids_found=len(fetched.pmids),
        publications_new=new,
        warnings=_warnings(fetched),
    )


def _warnings(fetched: Fetched | None) -> str:
    return "\n".join(fetched.warnings) if fetched else ""


def _close_interrupted_runs(page: TreatmentPage) -> None:
    """A run still "running" after the lock expired belongs to a worker that died; say so to editors."""
    now = timezone.now()
    RefreshRun.objects.filter(
        page=page,
        status=RefreshRun.Status.RUNNING,
        started_at__lt=now - datetime.timedelta(seconds=LOCK_SECONDS),
    ).update(
        status=RefreshRun.Status.FAILED, finished_at=now, error="Interrupted: the worker stopped mid-refresh."
    )


def _finish(run: RefreshRun, status: str, **fields) -> RefreshRun:
    for name, value in {"status": status, "finished_at": timezone.now(), **fields}.items():
        setattr(run, name, value)
    run.save()
    return run


def _due_for_recheck(page: TreatmentPage, found: list[int]) -> list[int]:
    """Stored records on this search or pinned to this page that were last fetched long ago."""
    stale = Publication.objects.filter(pmid__isnull=False, updated_at__lt=timezone.now() - RECHECK_AFTER)
    stale = stale.filter(Q(pmid__in=found) | Q(listings__page=page, listings__pinned=True)).distinct()
    return list(stale.order_by("updated_at").values_list("pmid", flat=True)[:RECHECK_PER_REFRESH])


def _fetch(page: TreatmentPage, client: EutilsClient | None) -> Fetched:
    """Ask NCBI: the page's search, then the records not stored yet. Nothing is written here."""
    owns_client = client is None
    client = client or make_client()
    try:
        hidden = PageListing.objects.filter(page=page, hidden=True).count()
        retmax = page.publications_shown + hidden + SEARCH_HEADROOM
        with _unreadable("search results"):
            search = parse_esearch(client.esearch(page.pubmed_query, retmax=retmax))
        if not search.pmids:
            reasons = "; ".join(search.errors + search.warnings) or "no results"
            raise RefreshFailed(f"PubMed found nothing for this query ({reasons}); the list was kept.")
        fetched = Fetched(pmids=search.pmids)
        stored = set(Publication.objects.filter(pmid__in=search.pmids).values_list("pmid", flat=True))
        missing = [pmid for pmid in search.pmids if pmid not in stored]
        fetched.rechecked = _due_for_recheck(page, search.pmids)
        skipped: list[int | None] = []
        for _batch, xml in client.efetch_batches(missing + fetched.rechecked):
            with _unreadable("article records"):
                result = parse_efetch(xml)
            fetched.records += result.records
            fetched.deleted += result.deleted_pmids
            fetched.warnings += [f"Skipped PMID {p.pmid or '?'}: {p.message}" for p in result.problems]
            skipped += [p.pmid for p in result.problems]
        answered = {record.pmid for record in fetched.records} | set(fetched.deleted) | set(skipped)
        unanswered = [pmid for pmid in missing if pmid not in answered]
        if len(unanswered) > skipped.count(None):  # a skipped article without a PMID answers one of them
            fetched.warnings.append(
                f"PubMed found but did not return {len(unanswered)} record(s): PMID "
                + ", ".join(map(str, unanswered[:20]))
                + (" ..." if len(unanswered) > 20 else "")
            )
        return fetched
    finally:
        if owns_client:
            client.close()


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
def _apply(page: TreatmentPage, fetched: Fetched) -> int:
    """Write the new list in one transaction; returns how many publications are new to the site."""
    TreatmentPage.objects.select_for_update().filter(pk=page.pk).first()  # serialise writers of this page
    new = _store_records(fetched.records)
    if fetched.deleted:
        _delete_everywhere(fetched.deleted, refreshing=page)
    by_pmid = dict(Publication.objects.filter(pmid__in=fetched.pmids).values_list("pmid", "pk"))
    ranked = [by_pmid[pmid] for pmid in fetched.pmids if pmid in by_pmid]
    if not ranked:
        raise RefreshFailed("PubMed returned none of the records it found; the list was kept.")
    _replace_listings(page, ranked)
    Publication.objects.filter(pmid__isnull=True, listings__isnull=True).delete()  # demo entries replaced
    page.record_change(reason="list")
    return new


def _store_records(records: list[PubmedRecord]) -> int:
    """Insert new records and update re-fetched ones, in batches; returns how many are new to the site."""
    rows = [Publication(**publication_fields(r)) for r in records]
    stored = Publication.objects.in_bulk([row.pmid for row in rows], field_name="pmid")
    now = timezone.now()
    for row in rows:
        row.normalize()
        if row.pmid in stored:
            row.pk, row.updated_at = stored[row.pmid].pk, now
    new = [row for row in rows if row.pk is None]
    Publication.objects.bulk_create(new, ignore_conflicts=True, batch_size=200)
    if refetched := [row for row in rows if row.pmid in stored]:
        Publication.objects.bulk_update(refetched, REFETCHED_FIELDS, batch_size=200)
    return len(new)


def _delete_everywhere(pmids: list[int], *, refreshing: TreatmentPage) -> None:
    """PubMed deleted these citations: they leave every list, and every page that showed one changed."""
    others = list(
        TreatmentPage.objects.filter(listings__publication__pmid__in=pmids).exclude(pk=refreshing.pk)
    )
    Publication.objects.filter(pmid__in=pmids).delete()
    for other in {page.pk: page for page in others}.values():
        other.record_change(reason="list")


def _replace_listings(page: TreatmentPage, ranked: list[int]) -> None:
    """The search's order becomes the list; pinned and hidden entries keep their place and flags."""
    existing = {listing.publication_id: listing for listing in PageListing.objects.filter(page=page)}
    keep = {pk for pk, listing in existing.items() if listing.pinned or listing.hidden}
    PageListing.objects.filter(page=page).exclude(publication_id__in=set(ranked) | keep).delete()
    now = timezone.now()
    to_update, to_create = [], []
    for position, publication_id in enumerate(ranked):
        listing = existing.get(publication_id)
        if listing is None:
            to_create.append(
                PageListing(page=page, publication_id=publication_id, position=position, first_listed_at=now)
            )
        elif listing.position != position:
            listing.position = position
            to_update.append(listing)
    PageListing.objects.bulk_update(to_update, ["position"])
    PageListing.objects.bulk_create(to_create, ignore_conflicts=True)


def publication_fields(record: PubmedRecord) -> dict:
    """A parsed PubMed record as Publication field values: the one mapping from parser to model."""
    # Online-only articles have no page numbers: cite their publisher ID (pii) instead, as PubMed does.
    pages = record.pages or next((value for kind, value in record.elocation_ids if kind == "pii"), "")
    return {
        "pmid": record.pmid,
        "kind": record.kind,
        "title": record.title,
        "authors": [{k: v for k, v in vars(author).items() if v} for author in record.authors],
        "journal": record.journal_iso,
        "journal_title": record.journal_title,
        "pub_year": record.pub_year,
        "pub_month": record.pub_month,
        "pub_season": record.pub_season,
        "medline_date": record.medline_date,
        "volume": record.volume,
        "issue": record.issue,
        "pages": pages,
        "doi": record.doi,
        "in_pmc": bool(record.pmcid),
        "pmcid": record.pmcid,
        "pmc_release_date": record.pmc_release_date,
        "book_accession": record.book_accession,
        "abstract": [
            {"label": s.label, "nlm_category": s.nlm_category, "text": s.text} for s in record.abstract
        ],
        "publication_types": record.publication_types,
        "dates": record.dates,
        "language": record.language,
        "is_retracted": record.is_retracted,
        "retraction_notices": record.retraction_notices,
        "source_xml": record.source_xml,
    }
