"""Refresh one page's "Latest Research Publications" from PubMed.

The plain function that the Celery task, the management command and the tests all call. It asks
NCBI first and writes afterwards, in one transaction: readers see the old list or the new one,
never half of one, and when anything fails the old list stays as it was and the failure is
recorded on a RefreshRun for editors.

Beat runs a pass over every page hourly (``schedule_pass``). A pass that finds nothing new costs one
esearch and writes nothing but the page's PageCheck (no RefreshRun, no page write, so no cache purge);
stored records due for their re-check are fetched in one pass a day per page, not hourly.
"""

from __future__ import annotations

import datetime
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from treatments.models import TreatmentPage

from . import pubmed
from .limits import record_problems
from .locks import LockUnavailable, PageLocked, lock_key, page_lock
from .models import ENTRY_FIELDS, Exclusion, PageCheck, PageListing, Publication, RefreshRun
from .pubmed import (
    EutilsClient,
    EutilsError,
    ParseResult,
    PubmedParseError,
    iter_efetch,
    parse_esearch,
)
from .pubmed.ratelimit import rate_for
from .spool import RecordSpool

logger = logging.getLogger(__name__)

SEARCH_HEADROOM = 20  # extra results, so hidden entries and deletions do not leave the list short
MAX_PMID = 2**63 - 1  # what the PMID column (a bigint) holds; a larger "PMID" is left out, not fatal
# "Refresh now" marks a page queued until its run starts, so a second click meanwhile queues nothing;
# a mark whose task never started (no worker) expires by itself.
QUEUED_SECONDS = 10 * 60
# The hourly pass queues its pages one NCBI request apart, so the shared rate limit sets the pace, not
# a burst; none waits longer than this (below Celery's visibility timeout, an hour, which would
# deliver a waiting task twice). A scheduled page stays marked until its refresh starts, however far
# the rate limit has pushed it back: the next pass skips it rather than queueing it twice.
SPREAD_SECONDS = 50 * 60
SCHEDULED_GRACE_SECONDS = 60 * 60


class RefreshFailed(Exception):
    """A refresh that cannot complete; its message is what editors read."""


def make_client(**overrides) -> EutilsClient:
    """The E-utilities client from settings; its rate limit is shared through Redis when there is one.

    ``overrides`` change a setting for one use: an editor waiting on a page gets fewer retries.
    """
    options = {
        "base_url": settings.NCBI_EUTILS_URL,
        "tool": settings.NCBI_TOOL,
        "email": settings.NCBI_EMAIL,
        "api_key": settings.NCBI_API_KEY or None,
        "redis_url": settings.REDIS_URL or None,
        "timeout": settings.NCBI_TIMEOUT,
        "deadline": settings.NCBI_DEADLINE,
        "max_retries": settings.NCBI_MAX_RETRIES,
        "backoff_base": settings.NCBI_BACKOFF_BASE,
    }
    return pubmed.make_client(**(options | overrides))


def queued_key(page_id: int, *, scheduled: bool = False) -> str:
    """The mark of a page's refresh waiting to start: "Refresh now"'s, or the hourly pass's.

    Two marks, so a page waiting its turn in the hourly pass never makes an editor's "Refresh now"
    wait behind it ("already queued").
    """
    return f"publications:refresh-{'scheduled' if scheduled else 'queued'}:{page_id}"


def mark_queued(page_id: int, *, scheduled: bool = False, seconds: float = QUEUED_SECONDS) -> bool:
    """Mark the page's refresh as queued; False if it already is (its run has not started yet)."""
    return cache.add(queued_key(page_id, scheduled=scheduled), True, seconds)


def is_queued(page_id: int, *, scheduled: bool = False) -> bool:
    return bool(cache.get(queued_key(page_id, scheduled=scheduled)))


def _clear_queued(page_id: int, *, scheduled: bool = False) -> None:
    try:
        cache.delete(queued_key(page_id, scheduled=scheduled))
    except Exception:  # the cache client's errors vary by backend; the mark expires by itself
        logger.warning("Could not clear the queued mark of page %s", page_id, exc_info=True)


def schedule_pass() -> list[tuple[int, float]]:
    """The hourly pass: each published page with a query, and its delay in seconds, least recently
    checked first; a page still queued or running from an earlier pass (one that overran the hour)
    is skipped, never queued twice. Each page returned is marked queued; the task sends them.
    """
    pages = TreatmentPage.objects.published().with_query().order_by()
    order = [F("refresh_check__last_checked_at").asc(nulls_first=True), "pk"]
    page_ids = list(pages.order_by(*order).values_list("pk", flat=True))
    busy = _busy(page_ids)
    interval = 1 / rate_for(settings.NCBI_API_KEY or None)  # one esearch per page at NCBI's rate
    due: list[tuple[int, float]] = []
    for page_id in page_ids:
        if page_id in busy:
            continue
        countdown = min(len(due) * interval, SPREAD_SECONDS)
        try:
            marked = mark_queued(page_id, scheduled=True, seconds=countdown + SCHEDULED_GRACE_SECONDS)
        except Exception:  # cache unreachable: queue anyway, the refresh's lock still keeps it single
            marked = True
        if marked:
            due.append((page_id, round(countdown, 3)))
    return due


def _busy(page_ids: list[int]) -> set[int]:
    """The pages whose refresh is queued (by either mark) or running (its lock is held)."""
    keys = {}
    for page_id in page_ids:
        for key in (queued_key(page_id), queued_key(page_id, scheduled=True), lock_key(page_id)):
            keys[key] = page_id
    busy: set[int] = set()
    try:
        for start in range(0, len(keys), 3000):
            chunk = list(keys)[start : start + 3000]
            busy.update(keys[key] for key in cache.get_many(chunk))
    except Exception:  # cache unreachable: each refresh's lock still skips a page already running
        logger.warning("Could not read which pages are queued or running", exc_info=True)
    return busy


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
class Applied:
    """What a refresh changed: publications new to the site, entries added to and dropped from the list."""

    new: int = 0
    added: int = 0
    dropped: int = 0
    changed: bool = False  # what readers see changed: the list, or an entry on it


@dataclass
class Download:
    """What efetch sent for a plan; nothing of it is written yet. Its records are spooled (pickled to a
    temporary file past a few megabytes): a worker's memory stays flat however many efetch sends."""

    records: RecordSpool = field(default_factory=RecordSpool)
    deleted: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def refresh_page(
    page: TreatmentPage, *, client: EutilsClient | None = None, job: str | None = None, full: bool = False
) -> RefreshRun:
    """Refresh ``page``'s list; always returns the RefreshRun that says what happened.

    A pass (the hourly schedule, the command) that finds nothing new writes nothing but the page's
    PageCheck and returns an unsaved run; one that has something to write, or fails, is recorded as a
    run. A pass re-checks stored records once a day per page (``PageCheck.recheck_due``). ``full``, an
    editor's "Refresh now", records its run from the start (editors follow it) and re-checks now.
    ``job`` (the Celery task id) lets a redelivered task take over the lock its dead worker left.
    """
    steps = Steps(page, run=RefreshRun.objects.start(page) if full else None)
    try:
        with _hold(page.pk, owner=job, scheduled=not full):
            # Holding the lock, any other run of this page still "running" belongs to a dead worker.
            running = RefreshRun.objects.filter(page=page, status=RefreshRun.Status.RUNNING)
            running.exclude(pk=steps.run.pk if steps.run else None).close_interrupted(older_than=0)
            if not page.pubmed_query.strip():
                raise RefreshFailed("This page has no PubMed query.")
            recheck = full or PageCheck.objects.recheck_due(page)
            with _client(client) as eutils:
                applied = steps.go(eutils, recheck=recheck)
    except PageLocked as exc:
        RefreshRun.objects.filter(page=page).close_interrupted()  # only those older than any lock
        return steps.close(RefreshRun.Status.SKIPPED, error=str(exc))
    except (RefreshFailed, LockUnavailable, EutilsError) as exc:  # every pubmed error is an EutilsError
        return steps.recorded().fail(str(exc), warnings=steps.warnings)
    except Exception as exc:
        logger.exception("Refresh of page %s failed unexpectedly", page.pk)
        return steps.recorded().fail(f"Unexpected error: {exc!r}", warnings=steps.warnings)
    PageCheck.objects.checked(page, changed=applied.changed, rechecked=recheck)
    return steps.close(
        RefreshRun.Status.OK,
        pmids_found=len(steps.plan.pmids),
        publications_new=applied.new,
        publications_added=applied.added,
        publications_dropped=applied.dropped,
    )


@contextmanager
def _hold(page_id: int, *, owner: str | None, scheduled: bool) -> Iterator[None]:
    """The page's lock, then its queued mark cleared (a "Refresh now" click may queue the next one):
    the page is never neither queued nor locked, so an hourly pass never queues it twice."""
    try:
        with page_lock(page_id, owner=owner):
            _clear_queued(page_id, scheduled=scheduled)
            yield
    except (PageLocked, LockUnavailable):
        _clear_queued(page_id, scheduled=scheduled)  # this task has started, if not refreshed
        raise


@dataclass
class Steps:
    """One refresh's steps, keeping what each found so a failure later still reports it."""

    page: TreatmentPage
    run: RefreshRun | None = None  # saved once there is something to write, or a failure, to record
    plan: Plan | None = None
    download: Download | None = None
    started_at: datetime.datetime = field(default_factory=timezone.now)

    def go(self, eutils: EutilsClient, *, recheck: bool) -> Applied:
        self.plan = plan_fetch(self.page, search(eutils, self.page), recheck=recheck)
        if nothing_new(self.page, self.plan, run=self.run):
            if not embargo_ended(self.page):
                return Applied()
            self.page.record_change(reason="list")  # the same list, dated anew: readers see it free
            return Applied(changed=True)
        self.recorded()  # something to write: editors see the run (and one a dead worker left "running")
        self.download = fetch_records(eutils, self.plan)
        try:
            return apply(self.page, self.plan, self.download)
        finally:
            self.download.records.close()  # its warnings stay for the run's record

    def recorded(self) -> RefreshRun:
        """The saved run, started (when the pass started) if the pass had none yet."""
        if self.run is None:
            self.run = RefreshRun.objects.start(self.page, at=self.started_at)
        return self.run

    def close(self, status: str, **fields) -> RefreshRun:
        """The pass's run closed; a pass with nothing to record gets one that is never saved."""
        run = self.run or RefreshRun(page=self.page, query=self.page.pubmed_query, started_at=self.started_at)
        return run.close(status, warnings=self.warnings, **fields)

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
    with _unreadable("search results"):
        result = parse_esearch(eutils.esearch(page.pubmed_query, retmax=search_size(page)))
    if not result.pmids:
        reasons = "; ".join(result.errors + result.warnings) or "no results"
        raise RefreshFailed(f"PubMed found nothing for this query ({reasons}); the list was kept.")
    return result.pmids


def search_size(page: TreatmentPage) -> int:
    """How many results a refresh asks for: the list, its hidden entries, and some headroom."""
    return (
        page.publications_shown + PageListing.objects.filter(page=page, hidden=True).count() + SEARCH_HEADROOM
    )


def plan_fetch(page: TreatmentPage, pmids: list[int], *, recheck: bool = True) -> Plan:
    """The records to fetch: those not stored yet, and (``recheck``) stored ones due for a fresh look."""
    invalid = [pmid for pmid in pmids if not 0 < pmid <= MAX_PMID]
    pmids = [pmid for pmid in pmids if 0 < pmid <= MAX_PMID]
    stored = Publication.objects.stored_pmids(pmids)
    missing = [pmid for pmid in pmids if pmid not in stored]
    rechecked = Publication.objects.due_for_recheck(page, pmids) if recheck else []
    return Plan(pmids=pmids, missing=missing, rechecked=rechecked, invalid=invalid)


def nothing_new(page: TreatmentPage, plan: Plan, *, run: RefreshRun | None = None) -> bool:
    """Whether the plan would change nothing: no record to fetch, the page's list as it is, and a page
    whose last recorded refresh (but ``run``, this one) was good and ran the same query. A changed
    query, and the first good pass after a failure, are worth a run that says so."""
    if not plan.pmids or plan.to_fetch:
        return False
    others = RefreshRun.objects.filter(page=page).exclude(pk=run.pk if run else None).newest_first()
    last = others.values_list("status", "query").first()
    return last in (None, (RefreshRun.Status.OK, page.pubmed_query)) and list_unchanged(page, plan.pmids)


def list_unchanged(page: TreatmentPage, pmids: list[int]) -> bool:
    """Whether ``PageListing.replace_for_page`` would leave the list as it is for these stored search
    results, read without writing by its rules: each result but excluded PMIDs listed at its place,
    nothing else listed but pinned, hidden and hand-added entries that are not excluded."""
    excluded = set(Exclusion.objects.filter(page=page).values_list("pmid", flat=True))
    ranked = [pmid for pmid in pmids if pmid not in excluded]
    found, placed = set(ranked), {}
    listed = PageListing.objects.filter(page=page).values_list(
        "publication__pmid", "position", "pinned", "hidden", "added_by_hand"
    )
    for pmid, position, *kept in listed:
        if pmid in found:
            placed[pmid] = position
        elif pmid in excluded or not any(kept):
            return False  # it would leave the list
    return all(placed.get(pmid) == position for position, pmid in enumerate(ranked))


def embargo_ended(page: TreatmentPage) -> bool:
    """Whether an entry the page shows came out of its PMC embargo after the day its list is dated.

    The page reads PMC status as of that day (``citation.pmc_access``), so until the list is dated anew
    it would still say "free after" a day gone by, and leave the entry out of "Free full text".
    """
    if page.list_refreshed_at is None:
        return False
    dated = timezone.localdate(page.list_refreshed_at)
    return PageListing.objects.freed_on_pmc(page, after=dated, until=timezone.localdate()).exists()


def fetch_records(eutils: EutilsClient, plan: Plan) -> Download:
    """efetch the plan's records in batches; malformed articles, and records the database would
    refuse, are skipped and reported; records not asked for are dropped. The caller closes the
    download's spool; a failure here closes it."""
    download = Download()
    try:
        _fetch_into(download, eutils, plan)
        _spooled(download.records.flush)
    except BaseException:
        download.records.close()
        raise
    return download


def _fetch_into(download: Download, eutils: EutilsClient, plan: Plan) -> None:
    skipped, asked = [], set(plan.to_fetch)
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
                    _spooled(download.records.append, record)
        download.deleted += result.deleted_pmids  # NCBI's word on what it withdrew, asked or not
        download.warnings += [f"Skipped PMID {p.pmid or '?'}: {p.message}" for p in result.problems]
        skipped += [p.pmid for p in result.problems]
    answered = download.records.pmids | set(download.deleted) | set(skipped)
    unanswered = [pmid for pmid in plan.missing if pmid not in answered]
    if len(unanswered) > skipped.count(None):  # a skipped article without a PMID answers one of them
        download.warnings.append(
            f"PubMed found but did not return {len(unanswered)} record(s): PMID "
            + ", ".join(map(str, unanswered[:20]))
            + (" ..." if len(unanswered) > 20 else "")
        )


def _spooled(action, *args) -> None:
    """A step of the download's spool; a server with no room left for it fails the refresh, in editors'
    words."""
    try:
        action(*args)
    except OSError as exc:  # the spool's temporary file: the disk is full, or the directory gone
        raise RefreshFailed(
            f"This server had no room to hold PubMed's records ({exc.strerror or exc}); the list was kept. "
            "Try again later."
        ) from exc


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
def apply(page: TreatmentPage, plan: Plan, download: Download) -> Applied:
    """Write the new list in one transaction; returns what changed (new to the site, added, dropped).

    The page is stamped changed (its "last updated", its cache purged) only if readers would see a
    change: in the list, or in an entry that was fetched again.
    """
    TreatmentPage.objects.select_for_update().filter(pk=page.pk).first()  # serialise writers of this page
    before = _listing(page)  # before PubMed's deletions, which leave the list too
    entries_before = _entries(plan.rechecked)
    new = Publication.objects.store_records(download.records)
    if download.deleted:
        _delete_everywhere(download.deleted, refreshing=page)
    by_pmid = dict(Publication.objects.filter(pmid__in=plan.pmids).values_list("pmid", "pk"))
    ranked = [by_pmid[pmid] for pmid in plan.pmids if pmid in by_pmid]
    if not ranked:
        raise RefreshFailed("PubMed returned none of the records it found; the list was kept.")
    PageListing.objects.replace_for_page(page, ranked)
    after = _listing(page)
    Publication.objects.unlisted_without_pmid().delete()  # the demo entries a first refresh replaced
    changed = after != before or _entries(plan.rechecked) != entries_before or embargo_ended(page)
    if changed:
        page.record_change(reason="list")
    added, dropped = len(after.keys() - before.keys()), len(before.keys() - after.keys())
    return Applied(new=new, added=added, dropped=dropped, changed=changed)


def _listing(page: TreatmentPage) -> dict[int, tuple]:
    """The page's list as readers see it: each entry's place and flags, by publication."""
    rows = PageListing.objects.filter(page=page).values_list(
        "publication_id", "position", "pinned", "pin_position", "hidden"
    )
    return {publication_id: rest for publication_id, *rest in rows}


def _entries(pmids: list[int]) -> dict[int, tuple]:
    """What entries show of these publications (and when PMC frees them): did a re-fetch change one?"""
    columns = [*sorted(ENTRY_FIELDS - {"pmid"}), "pmc_release_date"]
    rows = Publication.objects.filter(pmid__in=pmids).values_list("pmid", *columns)
    return {pmid: tuple(rest) for pmid, *rest in rows}


def _delete_everywhere(pmids: list[int], *, refreshing: TreatmentPage) -> None:
    """PubMed deleted these citations: they leave every list, and every page that showed one changed."""
    others = list(
        TreatmentPage.objects.filter(listings__publication__pmid__in=pmids).exclude(pk=refreshing.pk)
    )
    Publication.objects.filter(pmid__in=pmids).delete()
    for other in {page.pk: page for page in others}.values():
        other.record_change(reason="list")
