"""Editors curate a page's list: pin (in an order), hide, exclude a PMID for good, add by PMID or DOI.

Plain functions: the admin's views (``admin_curation``) and the tests call them. Every step
- runs in one transaction holding the page's row, as a refresh does, so neither sees half of the other;
- is a revision of the page (django-reversion) with who did it and a line saying what, which the
  page's History shows; it never creates or touches the page's draft (the list is not draft content);
- reaches readers at once: ``record_change`` purges the page's cached copies, as saving pins did.

Refreshes respect what editors decided (``PageListingQuerySet.replace_for_page``): pinned, hidden and
hand-added entries stay, pins keep their order, and an excluded PMID is never listed on that page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import reversion
from django.db import transaction
from django.utils import timezone

from treatments.models import PageRevision, TreatmentPage

from . import refresh
from .limits import record_problems
from .models import Exclusion, PageListing, Publication
from .pubmed import (
    EutilsClient,
    EutilsError,
    ParseResult,
    PubmedParseError,
    PubmedRecord,
    iter_efetch,
    parse_esearch,
)

MAX_IDS = 20  # one lookup; more is a job for the PubMed query
MAX_PMID = refresh.MAX_PMID
TITLE_CHARS = 80  # as ``treatments.diff`` quotes a title
# What ``treatments.diff`` says about pinned and hidden entries; a step's own line replaces it.
DIFF_VERBS = ("Pinned", "Unpinned", "Hidden", "Shown again")
_DOI = re.compile(r"10\.\d{4,9}/\S+")
_DOI_PREFIXES = re.compile(r"^(doi:|https?://(dx\.)?doi\.org/)", re.IGNORECASE)


class CurationError(Exception):
    """A step that cannot be done; the message is what the editor reads."""


@dataclass
class Outcome:
    """What a step did (one line each, as the history shows it) and what it refused, and why."""

    done: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


# --- Recording a step -------------------------------------------------------------------------------


@contextmanager
def _step(page: TreatmentPage, user, outcome: Outcome) -> Iterator[set[str]]:
    """One curation step: locked, a revision of the page when it did something, readers' copy purged.

    The body appends to ``outcome.done`` and adds the titles it touched to the yielded set.
    """
    touched: set[str] = set()
    with transaction.atomic():
        stored = TreatmentPage.objects.select_for_update().get(pk=page.pk)  # serialised with refreshes
        with reversion.create_revision():
            reversion.set_user(user)
            yield touched
            if outcome.done:
                reversion.set_comment("; ".join(outcome.done)[:1000])
                reversion.add_to_revision(stored)  # the page as stored: the revision never sees a stale copy
        if outcome.done:
            _describe(stored, outcome.done, touched)
            if stored.published:
                stored.record_change(reason="content")


def _describe(page: TreatmentPage, lines: list[str], touched: set[str]) -> None:
    """The history's "what changed" for the step: its own lines, and whatever else changed since the
    last revision, but for ``treatments.diff``'s vaguer lines about the entries the step touched."""
    recorded = PageRevision.objects.filter(page_pk=page.pk).order_by("-pk").first()
    others = [
        line
        for line in recorded.changes
        if not (line.partition(": ")[0] in DIFF_VERBS and line.partition(": ")[2] in touched)
    ]
    recorded.changes = [*lines, *others]
    recorded.save(update_fields=["changes"])


def _title(listing: PageListing) -> str:
    return listing.publication.title_text[:TITLE_CHARS]


def _named(listing: PageListing) -> str:
    """ "Title (PMID 123)", as a history line names an entry."""
    pmid = listing.publication.pmid
    return f"{_title(listing)} (PMID {pmid})" if pmid else _title(listing)


def _locked(page: TreatmentPage, listings: Iterable[PageListing | int]) -> list[PageListing]:
    """The listings (rows or ids) as stored now, read under the page's lock: this page's only, in order."""
    pks = [getattr(listing, "pk", listing) for listing in listings]
    stored = PageListing.objects.filter(page=page, pk__in=pks).select_related("publication")
    by_pk = {listing.pk: listing for listing in stored.defer(*_LARGE)}
    for listing in by_pk.values():  # saving one puts its page in the revision: no query for it
        PageListing.page.field.set_cached_value(listing, page)
    return [by_pk[pk] for pk in pks if pk in by_pk]


_LARGE = tuple(f"publication__{name}" for name in Publication.LARGE_FIELDS)


# --- Pins and hidden entries ------------------------------------------------------------------------


def _set_flag(page, listings, *, user, field: str, value: bool, done, refuse=None) -> Outcome:
    """Set one flag (``pinned``, ``hidden``) on the page's entries, as one step (``_step``).

    ``refuse(listing)`` says why an entry may not take the flag (or nothing); ``done(listing)`` says
    what changed. Entries that already have the value are left alone and not mentioned.
    """
    outcome = Outcome()
    with _step(page, user, outcome) as touched:
        for listing in _locked(page, listings):
            if refuse is not None and (why := refuse(listing)):
                outcome.refused.append(why)
            elif getattr(listing, field) != value:
                setattr(listing, field, value)
                listing.save(update_fields=[field])
                touched.add(_title(listing))
                outcome.done.append(done(listing))
        if field == "pinned" and not value and outcome.done:
            PageListing.objects.renumber_pins(page)  # the other pins close up
    return outcome


def pin(page: TreatmentPage, listings: Iterable[PageListing | int], *, user) -> Outcome:
    """Pin entries after the page's other pins; a hidden entry must be shown first."""
    return _set_flag(
        page, listings, user=user, field="pinned", value=True,
        refuse=lambda listing: listing.hidden and f"{_named(listing)} is hidden: show it before pinning it.",
        done=lambda listing: f"Pinned: {_named(listing)}, position {listing.pin_position}",
    )  # fmt: skip


def unpin(page: TreatmentPage, listings: Iterable[PageListing | int], *, user) -> Outcome:
    """Unpin entries: they go back to their place in the search's order; the other pins close up."""
    return _set_flag(
        page, listings, user=user, field="pinned", value=False,
        done=lambda listing: f"Unpinned: {_named(listing)}",
    )  # fmt: skip


def move_pin(page: TreatmentPage, listing: PageListing, direction: str, *, user) -> Outcome:
    """Move a pinned entry one place up or down among the page's pins."""
    if direction not in ("up", "down"):
        raise CurationError(f"Move a pin up or down, not {direction!r}.")
    outcome = Outcome()
    with _step(page, user, outcome) as touched:
        pins = list(PageListing.objects.pins(page).select_related("publication").defer(*_LARGE))
        index = next((i for i, pinned in enumerate(pins) if pinned.pk == listing.pk), None)
        if index is None:
            raise CurationError("That entry is not pinned on this page (any more): reload the page.")
        other = index - 1 if direction == "up" else index + 1
        if not 0 <= other < len(pins):
            outcome.refused.append(
                f"{_named(pins[index])} is already the {'first' if other < 0 else 'last'} pin."
            )
        else:
            pins[index], pins[other] = pins[other], pins[index]
            PageListing.objects.renumber_pins(page, pins)
            touched.add(_title(pins[other]))
            outcome.done.append(
                f"Pins reordered: {_named(pins[other])} moved {direction} to position {other + 1}"
            )
    return outcome


def hide(page: TreatmentPage, listings: Iterable[PageListing | int], *, user) -> Outcome:
    """Hide entries from readers (a refresh keeps them hidden); a pinned entry must be unpinned first."""
    return _set_flag(
        page, listings, user=user, field="hidden", value=True,
        refuse=lambda listing: listing.pinned and f"{_named(listing)} is pinned: unpin it before hiding it.",
        done=lambda listing: f"Hidden: {_named(listing)}",
    )  # fmt: skip


def show(page: TreatmentPage, listings: Iterable[PageListing | int], *, user) -> Outcome:
    """Show hidden entries again."""
    return _set_flag(
        page, listings, user=user, field="hidden", value=False,
        done=lambda listing: f"Shown again: {_named(listing)}",
    )  # fmt: skip


# --- Exclusions ---------------------------------------------------------------------------------------


def typed_id(value) -> int | None:
    """The PMID (or a row's id) in what was typed or sent, spaces around it aside; None if it is not one.

    The one rule for every form, search and filter that takes a PMID: ASCII digits only, a positive number
    the PMID column holds. ``str.isdigit`` is not enough: it accepts "²" (a footnote mark pasted with a
    reference: "31171700¹"), which ``int`` refuses, and Arabic-Indic "١٢٣", which ``int`` reads as 123.
    """
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > len(str(MAX_PMID)):
        return None  # the length first: ``int`` refuses (ValueError) a string of over 4,300 digits
    number = int(text)
    return number if 0 < number <= MAX_PMID else None


def parse_pmid(value) -> int:
    """A PMID an editor typed, or CurationError saying what is wrong with it."""
    pmid = typed_id(value)
    if pmid is None:
        text = str(value).strip()
        raise CurationError(f"“{text[:40]}” is not a PMID: a PMID is a whole number, such as 31171700.")
    return pmid


def exclude(page: TreatmentPage, pmid, reason: str, *, user) -> Outcome:
    """Take a PMID off the page for good: it leaves the list now and no refresh lists it again."""
    pmid, reason = parse_pmid(pmid), " ".join(str(reason).split())
    if not reason:
        raise CurationError("Say why this PMID is excluded: other editors will read it.")
    max_length = Exclusion._meta.get_field("reason").max_length
    if len(reason) > max_length:
        raise CurationError(f"Keep the reason under {max_length} characters.")
    outcome = Outcome()
    with _step(page, user, outcome) as touched:
        if Exclusion.objects.filter(page=page, pmid=pmid).exists():
            raise CurationError(f"PMID {pmid} is already excluded from this page.")
        Exclusion.objects.create(page=page, pmid=pmid, reason=reason, created_by=user)
        listed = PageListing.objects.filter(page=page, publication__pmid=pmid).select_related("publication")
        line = f"Excluded: PMID {pmid}: {reason}"
        for listing in listed.defer(*_LARGE):
            touched.add(_title(listing))
            line += f" (taken off the list: {_title(listing)})"
            listing.delete()
            if listing.pinned:
                PageListing.objects.renumber_pins(page)
        outcome.done.append(line)
    return outcome


def unexclude(page: TreatmentPage, exclusion_id: int, *, user) -> Outcome:
    """Remove an exclusion: the next refresh may list the PMID again."""
    outcome = Outcome()
    with _step(page, user, outcome):
        exclusion = Exclusion.objects.filter(page=page, pk=exclusion_id).first()
        if exclusion is None:
            raise CurationError("That exclusion was removed already.")
        exclusion.delete()
        outcome.done.append(f"Exclusion removed: PMID {exclusion.pmid} (the next refresh may list it again)")
    return outcome


# --- Adding by PMID or DOI ------------------------------------------------------------------------------


@dataclass
class Found:
    """A record PubMed sent for an id the editor gave, and its entry as readers would see it."""

    record: PubmedRecord
    asked: str  # what the editor typed: the PMID, or the DOI it resolved from

    @property
    def pmid(self) -> int:
        return self.record.pmid

    @property
    def publication(self) -> Publication:
        """An unsaved row, built and cleaned as a stored one is: its entry is what readers will see."""
        row = Publication.from_record(self.record)
        row.normalize()
        return row


@dataclass
class Lookup:
    """What a lookup found, and a sentence for each id it could not use."""

    found: list[Found] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def pmids(self) -> list[int]:
        return [item.pmid for item in self.found]


def parse_ids(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The ids in what the editor typed, comma or space separated: ("pmid", "123") or ("doi", "10.1/x");
    and a sentence for each token that is neither."""
    ids, errors = [], []
    for token in dict.fromkeys(text.replace(",", " ").replace(";", " ").split()):
        doi = _DOI_PREFIXES.sub("", token)
        if token.isdigit():
            try:
                ids.append(("pmid", str(parse_pmid(token))))
            except CurationError as exc:
                errors.append(str(exc))
        elif _DOI.fullmatch(doi):
            ids.append(("doi", doi))
        else:
            errors.append(f"“{token[:60]}” is neither a PMID (a number) nor a DOI (10.xxxx/...).")
    return ids, errors


def lookup_for_adding(page: TreatmentPage, text: str, *, client: EutilsClient | None = None) -> Lookup:
    """Fetch from PubMed what the editor asked to add, without storing anything: the confirm step shows it.

    DOIs are resolved with esearch (``<doi>[doi]``); the records come from efetch and the refresh's
    parser, checked as a refresh checks them. Each id that cannot be added gets a sentence: malformed,
    unknown to PubMed, deleted by PubMed, already listed, or excluded from this page.
    """
    ids, errors = parse_ids(text)
    lookup = Lookup(errors=errors)
    if not ids:
        if not errors:
            lookup.errors.append("Give one or more PMIDs or DOIs, separated by commas or spaces.")
        return lookup
    if len(ids) > MAX_IDS:
        lookup.errors.append(f"At most {MAX_IDS} at a time, please ({len(ids)} given).")
        return lookup
    try:
        with _client(client) as eutils:
            asked = _resolve(eutils, ids, lookup)
            records = _fetch(eutils, asked, lookup) if asked else []
    except (EutilsError, PubmedParseError) as exc:
        lookup.errors.append(f"PubMed could not be asked just now ({exc}). Try again later.")
        return lookup
    _check_page(page, records, lookup)
    return lookup


@contextmanager
def _client(client: EutilsClient | None) -> Iterator[EutilsClient]:
    if client is not None:
        yield client
        return
    owned = refresh.make_client()
    try:
        yield owned
    finally:
        owned.close()


def _resolve(eutils: EutilsClient, ids: list[tuple[str, str]], lookup: Lookup) -> dict[int, str]:
    """PMID -> what the editor typed for it, DOIs resolved through esearch."""
    asked: dict[int, str] = {}
    for kind, value in ids:
        if kind == "pmid":
            asked.setdefault(int(value), value)
            continue
        found = parse_esearch(eutils.esearch(f"{value}[doi]", retmax=2)).pmids
        if len(found) == 1:
            asked.setdefault(found[0], value)
        elif not found:
            lookup.errors.append(f"PubMed has no article with the DOI {value}.")
        else:
            lookup.errors.append(f"The DOI {value} matches several PubMed records: add it by PMID instead.")
    return asked


def _fetch(eutils: EutilsClient, asked: dict[int, str], lookup: Lookup) -> list[Found]:
    result, by_pmid = ParseResult(), {}
    for record in iter_efetch(io.BytesIO(eutils.efetch(list(asked))), result=result):
        if record.pmid in asked and record.pmid not in by_pmid:
            by_pmid[record.pmid] = record
    deleted = set(result.deleted_pmids)
    found = []
    for pmid, typed in asked.items():
        shown = f"PMID {pmid}" if typed == str(pmid) else f"{typed} (PMID {pmid})"
        record = by_pmid.get(pmid)
        if record is not None and (problems := record_problems(record)):
            lookup.errors.append(f"{shown}: PubMed's record cannot be stored ({'; '.join(problems)}).")
        elif record is not None:
            found.append(Found(record=record, asked=typed))
        elif pmid in deleted:
            lookup.errors.append(f"{shown}: PubMed has deleted this citation.")
        else:
            problem = next((p.message for p in result.problems if p.pmid == pmid), None)
            lookup.errors.append(
                f"{shown}: PubMed's record could not be read ({problem})."
                if problem
                else f"{shown}: PubMed has no article with this PMID."
            )
    return found


def _check_page(page: TreatmentPage, found: list[Found], lookup: Lookup) -> None:
    pmids = [item.pmid for item in found]
    excluded = dict(Exclusion.objects.filter(page=page, pmid__in=pmids).values_list("pmid", "reason"))
    listed = set(
        PageListing.objects.filter(page=page, publication__pmid__in=pmids).values_list(
            "publication__pmid", flat=True
        )
    )
    for item in found:
        if item.pmid in excluded:
            lookup.errors.append(
                f"PMID {item.pmid} is excluded from this page ({excluded[item.pmid]}): "
                "remove the exclusion first."
            )
        elif item.pmid in listed:
            lookup.errors.append(f"PMID {item.pmid} is on this page's list already.")
        else:
            lookup.found.append(item)


def add(page: TreatmentPage, records: list[PubmedRecord], *, user, pin_them: bool = False) -> Outcome:
    """List records on the page by hand: stored exactly as a refresh stores them, kept by refreshes.

    They go at the top of the unpinned entries, or after the pins with ``pin_them``. Records that are
    listed or excluded by now (another editor, a refresh) are refused.
    """
    outcome = Outcome()
    with _step(page, user, outcome):
        pmids = [record.pmid for record in records]
        excluded = set(Exclusion.objects.filter(page=page, pmid__in=pmids).values_list("pmid", flat=True))
        listed = set(
            PageListing.objects.filter(page=page, publication__pmid__in=pmids).values_list(
                "publication__pmid", flat=True
            )
        )
        wanted = [record for record in records if record.pmid not in excluded | listed]
        outcome.refused += [f"PMID {pmid} is excluded from this page." for pmid in pmids if pmid in excluded]
        outcome.refused += [
            f"PMID {pmid} is on this page's list already." for pmid in pmids if pmid in listed
        ]
        if not wanted:
            return outcome
        Publication.objects.store_records(wanted)
        stored = Publication.objects.filter(pmid__in=[record.pmid for record in wanted]).defer(
            *Publication.LARGE_FIELDS
        )
        by_pmid = {publication.pmid: publication for publication in stored}
        now = timezone.now()
        for record in wanted:
            listing = PageListing(
                page=page, publication=by_pmid[record.pmid], position=0, first_listed_at=now,
                pinned=pin_them, added_by_hand=True, added_by=user,
            )  # fmt: skip
            listing.save()
            where = f", pinned at position {listing.pin_position}" if pin_them else ""
            outcome.done.append(f"Added by hand: {_named(listing)}{where}")
    return outcome
