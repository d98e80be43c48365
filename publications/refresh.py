"""Refresh one page's "Latest Research Publications" from PubMed.

The plain function that the Celery task, the management command and the tests all call. It asks
NCBI first and writes afterwards, in one transaction: readers see the old list or the new one,
never half of one, and when anything fails the old list stays as it was and the failure is
recorded on a RefreshRun for editors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from treatments.models import TreatmentPage

from .models import PageListing, Publication, RefreshRun
from .pubmed.client import EutilsClient, EutilsError, LocalRateLimiter, RedisRateLimiter, rate_for
from .pubmed.parser import PubmedParseError, parse_efetch, parse_esearch
from .pubmed.records import PubmedRecord

logger = logging.getLogger(__name__)

SEARCH_HEADROOM = 20  # extra results, so hidden entries and deletions do not leave the list short
LOCK_SECONDS = 30 * 60  # longer than any refresh; a crashed worker's lock expires by itself


class RefreshFailed(Exception):
    """A refresh that cannot complete; its message is what editors read."""


def make_client() -> EutilsClient:
    """The E-utilities client from settings, sharing one rate limit through Redis when there is one."""
    rate = rate_for(settings.NCBI_API_KEY)
    limiter = RedisRateLimiter(settings.REDIS_URL, rate) if settings.REDIS_URL else _local_limiter(rate)
    return EutilsClient(
        settings.NCBI_EUTILS_URL,
        tool=settings.NCBI_TOOL,
        email=settings.NCBI_EMAIL,
        api_key=settings.NCBI_API_KEY or None,
        timeout=settings.NCBI_TIMEOUT,
        max_retries=settings.NCBI_MAX_RETRIES,
        backoff_base=settings.NCBI_BACKOFF_BASE,
        rate_limiter=limiter,
    )


_local_limiters: dict[float, LocalRateLimiter] = {}


def _local_limiter(rate: float) -> LocalRateLimiter:
    """One in-process limiter per rate, shared by every client in this process (embedded mode)."""
    return _local_limiters.setdefault(rate, LocalRateLimiter(rate))


@contextmanager
def page_lock(page_id: int) -> Iterator[bool]:
    """Whether this process may refresh the page now: one refresh of a page at a time, across workers."""
    key = f"publications:refresh-lock:{page_id}"
    acquired = cache.add(key, timezone.now().isoformat(), LOCK_SECONDS)
    try:
        yield acquired
    finally:
        if acquired:
            cache.delete(key)


@dataclass
class Fetched:
    pmids: list[int]
    records: list[PubmedRecord] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def refresh_page(page: TreatmentPage, *, client: EutilsClient | None = None) -> RefreshRun:
    """Refresh ``page``'s list; always returns the RefreshRun that says what happened."""
    run = RefreshRun.objects.create(page=page, query=page.pubmed_query)
    with page_lock(page.pk) as acquired:
        if not acquired:
            return _finish(run, RefreshRun.Status.SKIPPED, error="Another refresh of this page is running.")
        try:
            if not page.pubmed_query.strip():
                raise RefreshFailed("This page has no PubMed query.")
            fetched = _fetch(page, client)
            new = _apply(page, fetched)
        except (RefreshFailed, EutilsError, PubmedParseError) as exc:
            return _finish(run, RefreshRun.Status.FAILED, error=str(exc))
        except Exception as exc:
            logger.exception("Refresh of page %s failed unexpectedly", page.pk)
            return _finish(run, RefreshRun.Status.FAILED, error=f"Unexpected error: {exc!r}")
    return _finish(
        run,
        RefreshRun.Status.OK,
        pmids_found=len(fetched.pmids),
        publications_new=new,
        warnings="\n".join(fetched.warnings),
    )


def _finish(run: RefreshRun, status: str, **fields) -> RefreshRun:
    for name, value in {"status": status, "finished_at": timezone.now(), **fields}.items():
        setattr(run, name, value)
    run.save()
    return run


def _fetch(page: TreatmentPage, client: EutilsClient | None) -> Fetched:
    """Ask NCBI: the page's search, then the records not stored yet. Nothing is written here."""
    owns_client = client is None
    client = client or make_client()
    try:
        hidden = PageListing.objects.filter(page=page, hidden=True).count()
        retmax = page.publications_shown + hidden + SEARCH_HEADROOM
        search = parse_esearch(client.esearch(page.pubmed_query, retmax=retmax))
        if not search.pmids:
            reasons = "; ".join(search.errors + search.warnings) or "no results"
            raise RefreshFailed(f"PubMed found nothing for this query ({reasons}); the list was kept.")
        fetched = Fetched(pmids=search.pmids)
        stored = set(Publication.objects.filter(pmid__in=search.pmids).values_list("pmid", flat=True))
        missing = [pmid for pmid in search.pmids if pmid not in stored]
        for _batch, xml in client.efetch_batches(missing):
            result = parse_efetch(xml)
            fetched.records += result.records
            fetched.deleted += result.deleted_pmids
            fetched.warnings += [f"Skipped PMID {p.pmid or '?'}: {p.message}" for p in result.problems]
        return fetched
    finally:
        if owns_client:
            client.close()


@transaction.atomic
def _apply(page: TreatmentPage, fetched: Fetched) -> int:
    """Write the new list in one transaction; returns how many publications are new to the site."""
    TreatmentPage.objects.select_for_update().filter(pk=page.pk).first()  # serialise writers of this page
    new = _store_records(fetched.records)
    if fetched.deleted:
        Publication.objects.filter(pmid__in=fetched.deleted).delete()  # they leave every list
    by_pmid = dict(Publication.objects.filter(pmid__in=fetched.pmids).values_list("pmid", "pk"))
    ranked = [by_pmid[pmid] for pmid in fetched.pmids if pmid in by_pmid]
    if not ranked:
        raise RefreshFailed("PubMed returned none of the records it found; the list was kept.")
    _replace_listings(page, ranked)
    Publication.objects.filter(pmid__isnull=True, listings__isnull=True).delete()  # demo entries replaced
    page.record_change(reason="list")
    return new


def _store_records(records: list[PubmedRecord]) -> int:
    """Insert the records not stored yet; a PMID another page's refresh just stored is left as it is."""
    stored = set(
        Publication.objects.filter(pmid__in=[r.pmid for r in records]).values_list("pmid", flat=True)
    )
    rows = [Publication(**publication_fields(r)) for r in records if r.pmid not in stored]
    for row in rows:
        row.normalize()
    Publication.objects.bulk_create(rows, ignore_conflicts=True, batch_size=200)
    return len(rows)


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
