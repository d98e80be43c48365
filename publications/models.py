"""Publications (one row per PMID, shared by every page), each page's curated list, and refresh runs."""

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import itertools
import marshal
import os
import queue
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import django
import nh3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, models, transaction
from django.db.models import F, OuterRef, Q, Subquery, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.utils import timezone

from . import citation, markup, schema
from .locks import LOCK_SECONDS
from .markup import clean_inline, inline_text
from .pubmed import PubmedRecord

# How a PubmedRecord becomes a Publication: the record's fields are the one list of what PubMed
# gives us, stored under the same name unless renamed here. Adding a PubMed field means adding it
# to the record, the parser and the model; ``test_publication_fields`` says if one is missed.
RECORD_RENAMES = {"journal_iso": "journal"}
RECORD_NOT_STORED = {"elocation_ids"}  # it only feeds ``pages``
RECORD_DERIVED = ["in_pmc"]  # computed from the record in ``Publication.from_record``
SITE_ONLY_FIELDS = {"more_authors"}  # set by editors or the demo, never by PubMed
_RECORD_FIELD_NAMES = [field.name for field in dataclasses.fields(PubmedRecord)]
# Stored records are fetched again once they are this old, so later retractions, corrections,
# PMC releases and deletions reach the page; at most this many per refresh, to stay polite.
RECHECK_AFTER = datetime.timedelta(days=30)
RECHECK_PER_REFRESH = 200
# Refresh runs older than this are pruned daily, but for each page's latest run and latest failure.
KEEP_RUNS_FOR = datetime.timedelta(days=90)
# A page's list, as readers and editors see it: pinned first (in the editors' order), then newest first.
LISTING_ORDER = ["-pinned", "pin_position", "position", "pk"]
# The site feed's order: the newest listed first; one refresh's entries (listed at once) in their page's
# order. The index ``listing_newest_visible`` is this order, for visible listings.
NEWEST_LISTED = ("-first_listed_at", "position", "-pk")
LISTING_COLUMNS = [
    "page", "publication", "position", "first_listed_at", "pinned", "pin_position", "hidden", "added_by_hand",
]  # fmt: skip
# Hidden entries the page form shows at most (newest first); the rest are in the PageListing list.
FORM_HIDDEN_MAX = 100
# What an entry in the admin's lists shows: the citation, and the flags (free on PMC, corrected).
LISTED_FIELDS = (
    "pmid", "kind", "title", "authors", "more_authors", "journal", "pub_year", "pub_season", "medline_date",
    "volume", "issue", "pages", "is_retracted", "in_pmc", "pmcid", "book_accession", "publication_types",
)  # fmt: skip
# The columns a page entry is built from (its HTML, ``citation.entry_html``, and its JSON-LD,
# ``schema.article_json``); changing one re-renders the entry.
ENTRY_FIELDS = frozenset(
    {"pmid", "title", "authors", "more_authors", "journal", "journal_title", "pub_year", "pub_season",
     "medline_date", "volume", "issue", "pages", "in_pmc", "pmcid", "book_accession", "abstract",
     "is_retracted", "retraction_notices", "pub_month", "pub_day", "doi", "dates", "publication_types",
     "comments_corrections"}
)  # fmt: skip
# What ``Publication.normalize`` builds from those columns and stores with the row; empty means stale.
RENDERED_FIELDS = ("rendered_entry", "rendered_citation")


class PublicationQuerySet(models.QuerySet):
    def stored_pmids(self, pmids) -> set[int]:
        return set(self.filter(pmid__in=pmids).values_list("pmid", flat=True))

    def due_for_recheck(self, page, found: list[int]) -> list[int]:
        """Stored records on this search, or pinned or added by hand to this page, last fetched long ago.

        Two queries, each on an index (PMID; the page's listings), merged here: one query with an
        OR across a LEFT JOIN scanned every publication.
        """
        stale = self.filter(pmid__isnull=False, updated_at__lt=timezone.now() - RECHECK_AFTER)
        oldest = stale.order_by("updated_at").values_list("pmid", "updated_at")
        searched = oldest.filter(pmid__in=found)[:RECHECK_PER_REFRESH] if found else []
        kept = Q(listings__pinned=True) | Q(listings__added_by_hand=True)  # what no search result renews
        pinned = oldest.filter(kept, listings__page=page)[:RECHECK_PER_REFRESH]
        merged = dict([*searched, *pinned])
        return sorted(merged, key=lambda pmid: (merged[pmid], pmid))[:RECHECK_PER_REFRESH]

    def update(self, **kwargs):
        """Any update of an entry's columns that does not also write its HTML marks the HTML stale, and
        any update of what a fetch wrote forgets its digest (the next re-fetch rewrites the row)."""
        if not kwargs.keys() & set(RENDERED_FIELDS) and ENTRY_FIELDS.intersection(kwargs):
            kwargs.update(dict.fromkeys(RENDERED_FIELDS, ""))
        if "content_hash" not in kwargs and Publication.hashed_fields().intersection(kwargs):
            kwargs["content_hash"] = ""
        return super().update(**kwargs)

    update.alters_data = True

    def store_records(self, records: list[PubmedRecord], batch_size: int = 500) -> int:
        """Insert new records and update re-fetched ones, in batches; returns how many are new.

        The records may be any iterable (a streamed efetch): at most ``batch_size`` are held at once.
        A re-fetched record PubMed has not changed (its ``record_digest`` is the row's ``content_hash``)
        is not built again nor rewritten: only its ``updated_at`` moves on, which says when it was last
        fetched. The others are built (``from_record``, ``normalize``) and written.
        """
        store = self._copy_batch if connections[self.db].vendor == "postgresql" else self._bulk_batch
        new, previous = 0, None
        # Three stages at once: the next batch parsed (``_read_ahead``), this one built (``builder``), the
        # one before stored here. What this batch shares with that one is not taken as unchanged: its
        # stored digest was read before that batch wrote it.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="publications-build") as builder:
            for batch in _read_ahead(_digested_batches(records, batch_size), depth=1):
                pmids = {record.pmid for record, _ in batch}
                stored = self._stored_hashes(pmids)
                unchanged = {
                    record.pmid for record, digest in batch if digest and digest == stored.get(record.pmid)
                }
                unchanged -= previous.pmids if previous else set()
                wanted = [(record, digest) for record, digest in batch if record.pmid not in unchanged]
                current = _Batch(builder.submit(_build_all, wanted), stored, unchanged, pmids)
                if previous:
                    new += store(previous.rows.result(), previous.stored, previous.unchanged)
                previous = current
            if previous:
                new += store(previous.rows.result(), previous.stored, previous.unchanged)
        return new

    def _copy_batch(self, rows, stored: dict[int, str], unchanged: set[int]) -> int:
        """PostgreSQL: COPY new records into the table; upsert re-fetched ones through a temporary table.

        COPY sends values without quoting each one in Python (client-side quoting of 20 KB of XML per
        record was the slowest part of storing). A PMID another refresh inserted meanwhile makes the COPY
        fail: the batch then goes through the upsert, which takes both kinds. Stored records PubMed has
        not changed are neither: their ``updated_at`` alone is written.
        """
        new = [row for row in rows if row.pmid not in stored]
        changed = [row for row in rows if row.pmid in stored]
        with transaction.atomic(using=self.db), connections[self.db].cursor() as cursor:
            try:
                if new:
                    with transaction.atomic(using=self.db):
                        self._copy_rows(cursor, Publication._meta.db_table, new)
            except IntegrityError:
                inserted = self._upsert(cursor, rows)
            else:
                inserted = len(new)
                if changed:
                    self._upsert(cursor, changed)
            self._touch(unchanged)
        return inserted

    def _stored_hashes(self, pmids) -> dict[int, str]:
        """PMID -> ``content_hash`` of those already stored."""
        return dict(self.filter(pmid__in=pmids).values_list("pmid", "content_hash"))

    def _touch(self, pmids) -> None:
        """Re-fetched records PubMed has not changed: fetched now (no re-check for a while), not rewritten."""
        if pmids:
            self.filter(pmid__in=sorted(pmids)).update(updated_at=timezone.now())

    def _copy_rows(self, cursor, table, rows) -> None:
        """COPY the rows into ``table``, every column but the id."""
        now = timezone.now()
        fields = _copied_fields()
        columns = ", ".join(self._quote(f.column) for f in fields)
        names = [f.attname for f in fields]
        # cursor.copy is psycopg's own: wrapped, a failure is Django's error (IntegrityError) as for execute.
        # Binary: no escaping of 20 KB of XML a row on either side.
        with (
            connections[self.db].wrap_database_errors,
            cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types([_copy_type(connections[self.db], field) for field in fields])
            for row in rows:
                row.created_at = row.updated_at = now
                copy.write_row([getattr(row, name) for name in names])

    def _upsert(self, cursor, rows) -> int:
        """Rows through a temporary table: new PMIDs inserted, stored ones updated (``xmax = 0``: new)."""
        columns = ", ".join(self._quote(f.column) for f in _copied_fields())
        refetched = [*Publication.refetched_fields(), *RENDERED_FIELDS, "content_hash"]
        table = Publication._meta.db_table
        # A value equal to the stored one keeps the stored one, TOAST pointer and all. Written again, a
        # long value was compressed and stored aside under a new pointer, which PostgreSQL takes for a
        # changed column: every index got an entry (to_tsvector included). Kept, a rewrite that changes
        # no indexed value is a HOT update. A deploy that changes how rows are built makes every re-fetch
        # such a rewrite, most values as they were (PostgreSQL's CPU 536 -> 211 µs a record, README).
        stored = self._quote(table)
        assignments = ", ".join(
            f"{c} = CASE WHEN {stored}.{c} IS NOT DISTINCT FROM EXCLUDED.{c}"
            f" THEN {stored}.{c} ELSE EXCLUDED.{c} END"
            for c in map(self._quote, refetched)
        )
        cursor.execute(
            f"CREATE TEMP TABLE _publication_batch ON COMMIT DROP AS SELECT {columns} "  # noqa: S608
            f"FROM {table} WITH NO DATA"  # names from the model, no values
        )
        # Not compressed on its way through (pglz, a temporary table's default, tripled the upsert's time).
        cursor.execute("ALTER TABLE _publication_batch ALTER COLUMN source_xml SET STORAGE EXTERNAL")
        self._copy_rows(cursor, "_publication_batch", rows)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _publication_batch "  # noqa: S608
            f"ON CONFLICT (pmid) DO UPDATE SET {assignments} RETURNING (xmax = 0)"
        )
        new = sum(1 for (inserted,) in cursor.fetchall() if inserted)
        cursor.execute("DROP TABLE _publication_batch")
        return new

    def _quote(self, name: str) -> str:
        return connections[self.db].ops.quote_name(name)

    def _bulk_batch(self, rows, stored: dict[int, str], unchanged: set[int]) -> int:
        """Any other database: insert the new rows, update the changed ones, touch the unchanged.

        What is stored is read again: ``stored`` was read before the batch before this one was written.
        """
        stored = self._stored_hashes([row.pmid for row in rows])
        new = [row for row in rows if row.pmid not in stored]
        self.bulk_create(new, ignore_conflicts=True, batch_size=max(len(rows), 1))
        if changed := [row for row in rows if row.pmid in stored]:
            pks = dict(self.filter(pmid__in=[row.pmid for row in changed]).values_list("pmid", "pk"))
            now = timezone.now()
            for row in changed:
                row.pk, row.updated_at = pks[row.pmid], now
            fields = [*Publication.refetched_fields(), *RENDERED_FIELDS, "content_hash"]
            self.bulk_update(changed, fields, batch_size=len(rows))
        self._touch(unchanged)
        return len(new)

    def render_stale(self, pks) -> dict[int, tuple[str, str]]:
        """Build and store the HTML and JSON-LD of entries changed behind the model's back (a raw
        ``update``): publication id -> (entry HTML, article JSON)."""
        rows = list(self.filter(pk__in=pks).defer("source_xml"))
        for row in rows:
            row.render()
        self.bulk_update(rows, RENDERED_FIELDS)
        return {row.pk: (row.rendered_entry, row.rendered_citation) for row in rows}

    def unlisted_without_pmid(self):
        """Entries with no PMID (the old site's demo list) that no page lists any more."""
        return self.filter(pmid__isnull=True, listings__isnull=True)


def _digested_batches(records, batch_size: int):
    """Lists of (record, ``record_digest``), one record per PMID (the last sent): an upsert touches a row
    once. Built in ``_read_ahead``'s thread, with the parsing of the records."""
    records = iter(records)
    while batch := list(itertools.islice(records, batch_size)):
        latest = {record.pmid: record for record in batch}
        yield [(record, record_digest(record)) for record in latest.values()]


class _Batch(NamedTuple):
    rows: Future  # the rows being built
    stored: dict[int, str]  # PMID -> content_hash of those stored when the batch was read
    unchanged: set[int]  # PMIDs stored as PubMed sends them: not built, not rewritten
    pmids: set[int]


def _build_all(digested) -> list["Publication"]:
    """Unsaved rows, built and normalized, that remember the digest of the record each was built from."""
    rows = []
    for record, digest in digested:
        row = Publication.from_record(record)
        row.normalize()  # cleaned again whatever the source: the stored HTML is served as it is
        row.content_hash = digest
        rows.append(row)
    return rows


def _read_ahead(batches, depth: int = 2):
    """Produce the next batches in a thread while the caller stores this one.

    Parsing (and hashing) overlap with PostgreSQL's work on the last batch; the thread never touches the
    database. At most ``depth`` batches wait, besides the one in the making. An error in it is raised
    here; stopping early stops it.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item) -> bool:
        """Queue ``item``; False once the caller has stopped."""
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                ready.put(item, timeout=0.1)
                return True
        return False

    def produce():
        try:
            for batch in batches:
                if not offer(("batch", batch)):
                    return  # the caller stopped: read no further
            offer(("done", None))
        except BaseException as error:
            offer(("error", error))

    thread = threading.Thread(target=produce, daemon=True, name="publications-read-ahead")
    thread.start()
    try:
        while (item := ready.get())[0] == "batch":
            yield item[1]
        if item[0] == "error":
            raise item[1]
    finally:
        stop.set()
        thread.join()


@functools.cache
def _concrete_fields() -> tuple:
    """Every column, in model order (``from_record`` builds a row positionally from them)."""
    return tuple(Publication._meta.concrete_fields)


@functools.cache
def _copied_fields() -> tuple:
    """Every column but the id, in model order: what COPY writes."""
    return tuple(f for f in _concrete_fields() if not f.primary_key)


def _copy_type(connection, field) -> str:
    """The type a binary COPY is told for a column: "varchar(300)" is sent as text (the same binary
    form), JSON by psycopg's jsonb dumper (``json.dumps``, as Django's JSONField writes it)."""
    return field.db_type(connection).split("(")[0]


# What a digest covers of a record: every field, in the record's order (the source XML apart, as bytes).
_DIGESTED_FIELDS = tuple(name for name in _RECORD_FIELD_NAMES if name != "source_xml")


@functools.cache
def _build_fingerprint() -> bytes:
    """What makes a row of a record besides the record: the code that builds and renders it (this module,
    ``citation``, ``schema``, ``markup``) and the libraries it calls. A deploy that changes any of them
    changes every digest, so each stored row is built again on its next re-fetch."""
    digest = hashlib.sha256(f"nh3 {nh3.__version__}; django {django.__version__}".encode())
    for module in (sys.modules[__name__], citation, schema, markup):
        try:
            digest.update(Path(module.__file__).read_bytes())
        except (OSError, TypeError):  # no source to read: no digest ever matches, every re-fetch rewrites
            digest.update(os.urandom(16))
    return digest.digest()


def record_digest(record: PubmedRecord) -> str:
    """A digest of a parsed record and of the code that builds its row (``_build_fingerprint``): equal
    digests, equal rows. The row's ``content_hash`` keeps it, so a re-fetch PubMed did not change is known
    before its row is built. "" (never taken as unchanged) for a value the digest cannot read.

    Raw SQL or a migration that changes a column a fetch writes must clear ``content_hash`` (as ``save``
    and the queryset's ``update`` do), or a re-fetch would take the row as unchanged.
    """
    try:
        source = record.source_xml.encode()
        values = [getattr(record, name) for name in _DIGESTED_FIELDS]
        values = [_digestible(value) for value in values]
        # marshal's version 2 (no shared references) writes equal values alike, bool apart from int,
        # tuple apart from list, in half json's time; it refuses what it cannot write (ValueError).
        rest = marshal.dumps([*_DIGESTED_FIELDS, *values], 2)
    except (AttributeError, TypeError, ValueError):
        return ""
    digest = hashlib.sha256(_build_fingerprint())
    digest.update(b"%d\0" % len(source))
    digest.update(source)  # hashlib lets other threads run while it hashes this much
    digest.update(rest)
    return digest.hexdigest()[:32]


def _digestible(value):
    """A record field as marshal writes it: authors and abstract sections as (type, *values), dates as
    ISO text; the rest (str, int, bool, None, lists, dicts and tuples of them) as it is."""
    if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
        return [(type(item).__name__, *vars(item).values()) for item in value]
    if isinstance(value, datetime.date):
        return (type(value).__name__, value.isoformat())
    return value


class Publication(models.Model):
    """Everything a citation needs, plus the source record it was built from."""

    pmid = models.PositiveBigIntegerField("PMID", null=True, blank=True, unique=True)
    kind = models.CharField(
        max_length=10, default="article", choices=[("article", "Article"), ("book", "Book")]
    )
    title = models.TextField(help_text="Inline markup kept: i, b, sup, sub, u.")
    authors = models.JSONField(
        default=list, blank=True, help_text="Last name and initials, or a collective name."
    )
    more_authors = models.BooleanField(
        default=False, help_text="The source lists more authors than are stored (old-site entries)."
    )
    authors_text = models.TextField(blank=True, editable=False, help_text="All author names, for search.")
    journal = models.CharField("journal (ISO abbreviation)", max_length=300, blank=True)
    journal_title = models.CharField(max_length=500, blank=True)
    pub_year = models.CharField(max_length=4, blank=True)
    pub_month = models.CharField(max_length=10, blank=True)
    pub_day = models.CharField(max_length=10, blank=True)
    pub_season = models.CharField(max_length=40, blank=True)
    medline_date = models.CharField(max_length=100, blank=True)
    volume = models.CharField(max_length=100, blank=True)
    issue = models.CharField(max_length=100, blank=True)
    pages = models.CharField(
        max_length=200, blank=True, help_text="Pages, or the ELocationID when there are none."
    )
    doi = models.CharField("DOI", max_length=300, blank=True)
    in_pmc = models.BooleanField("in PMC", default=False)
    pmcid = models.CharField("PMCID", max_length=20, blank=True)
    pmc_release_date = models.DateField("PMC release date", null=True, blank=True)
    book_accession = models.CharField(
        max_length=20, blank=True, help_text='NCBI Bookshelf id of a book chapter ("NBK1403").'
    )
    abstract = models.JSONField(default=list, blank=True, help_text="Sections: label, NLM category, text.")
    publication_types = models.JSONField(default=list, blank=True)
    dates = models.JSONField(default=dict, blank=True, help_text="The dates PubMed gives, by status.")
    language = models.CharField(max_length=20, blank=True)
    is_retracted = models.BooleanField(default=False)
    retraction_notices = models.JSONField(default=list, blank=True)
    comments_corrections = models.JSONField(
        default=list,
        blank=True,
        help_text="PubMed's links to other papers: errata, comments, updates, retractions.",
    )
    source_xml = models.TextField(
        blank=True, help_text="The PubMed record this was built from (without the list of works it cites)."
    )
    rendered_entry = models.TextField(
        blank=True,
        editable=False,
        help_text="The entry's HTML, built when the row is saved; empty when stale.",
    )
    rendered_citation = models.TextField(
        blank=True,
        editable=False,
        help_text="The entry's schema.org ScholarlyArticle (JSON-LD), built with its HTML; empty when stale.",
    )
    content_hash = models.CharField(
        max_length=32,
        blank=True,
        editable=False,
        help_text="Digest of what the last fetch wrote; empty once anything else wrote the row.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PublicationQuerySet.as_manager()

    # Columns a list never needs (kilobytes a row); and what a one-line citation reads.
    LARGE_FIELDS = ("source_xml",)
    CITATION_FIELDS = (
        "pmid", "kind", "title", "authors", "more_authors", "journal", "pub_year", "pub_season",
        "medline_date", "volume", "issue", "pages", "is_retracted",
    )  # fmt: skip

    class Meta:
        ordering = ["-pub_year", "-pk"]
        # The admin list's order, read backwards from the index. Title and author search use trigram
        # indexes that PostgreSQL alone has: migration 0003 creates them there. The few retracted records
        # have a partial index of their own: the dashboard asks which pages still list one.
        indexes = [
            models.Index(fields=["pub_year", "id"], name="publication_year_id"),
            models.Index(fields=["id"], condition=Q(is_retracted=True), name="publication_retracted"),
        ]

    def __str__(self):
        return f"{self.pmid or 'no PMID'}: {self.title_text[:80]}"

    def save(self, *args, **kwargs):
        self.normalize()
        self.content_hash = ""  # whoever saves may have changed what PubMed sent: a re-fetch rewrites it
        fields = kwargs.get("update_fields")
        if fields is not None and self.hashed_fields().intersection(fields):
            kwargs["update_fields"] = {*fields, "content_hash"}
        super().save(*args, **kwargs)

    def normalize(self):
        """Clean markup, fill the search column and build the entry's HTML; bulk writes call it too."""
        self.title = clean_inline(self.title)
        self.abstract = [
            {**section, "text": clean_inline(section.get("text", ""))} for section in self.abstract
        ]
        self.authors_text = "; ".join(filter(None, map(citation.author_name, self.authors)))
        self.render(cleaned=True)

    def render(self, *, cleaned: bool = False) -> None:
        """Build what a page shows of this entry from its columns: its HTML and its JSON-LD."""
        self.rendered_entry = citation.entry_html(self, cleaned=cleaned)
        self.rendered_citation = schema.article_json(self)

    @classmethod
    def from_record(cls, record: PubmedRecord) -> "Publication":
        """A parsed PubMed record as an (unsaved) row: the one mapping from parser to model."""
        # Shallow, not dataclasses.asdict: its deep copy was a third of the time to store a record.
        values = {name: getattr(record, name) for name in _RECORD_FIELD_NAMES}
        for name in RECORD_NOT_STORED:
            del values[name]
        for old, new in RECORD_RENAMES.items():
            values[new] = values.pop(old)
        values["authors"] = [{k: v for k, v in vars(author).items() if v} for author in record.authors]
        values["abstract"] = [dict(vars(section)) for section in record.abstract]
        # Online-only articles have no page numbers: cite their publisher ID (pii), as PubMed does.
        values["pages"] = record.pages or next((v for kind, v in record.elocation_ids if kind == "pii"), "")
        values["in_pmc"] = bool(record.pmcid)
        # Positional, every column in model order (defaults where the record has none): Django's __init__
        # with keywords took as long as all the rest of this.
        fields = _concrete_fields()
        if unknown := values.keys() - {f.attname for f in fields}:
            raise TypeError(f"Publication has no field for {sorted(unknown)}")
        return cls(*[values[f.attname] if f.attname in values else f.get_default() for f in fields])

    @classmethod
    def record_fields(cls) -> list[str]:
        """The columns ``from_record`` fills."""
        fields = dataclasses.fields(PubmedRecord)
        names = [RECORD_RENAMES.get(f.name, f.name) for f in fields if f.name not in RECORD_NOT_STORED]
        return [*names, *RECORD_DERIVED]

    @classmethod
    def source_fields(cls) -> list[str]:
        """What a publication says, as editors read it: every column but bookkeeping, in model order."""
        return [f.name for f in cls._meta.concrete_fields if f.editable and not f.primary_key]

    @classmethod
    def refetched_fields(cls) -> list[str]:
        """What a re-fetched record rewrites: all that PubMed supplies, and what is built from it."""
        return [name for name in cls.record_fields() if name != "pmid"] + ["authors_text", "updated_at"]

    @classmethod
    @functools.cache
    def hashed_fields(cls) -> frozenset[str]:
        """The columns a fetch writes but the time it was written: writing one any other way forgets the
        row's ``content_hash`` (the digest of the record the fetch built them from)."""
        return frozenset(cls.refetched_fields()) - {"updated_at"} | {"pmid", *RENDERED_FIELDS}

    @property
    def title_text(self):
        return inline_text(self.title)

    @property
    def author_line(self):
        return citation.author_line(self.authors, more=self.more_authors)

    @property
    def citation_line(self):
        return citation.citation_line(
            journal=self.journal, year=self.pub_year, season=self.pub_season, medline_date=self.medline_date,
            volume=self.volume, issue=self.issue, pages=self.pages,
        )  # fmt: skip

    @property
    def pubmed_url(self):
        return citation.pubmed_url(self.pmid, self.title_text)

    @property
    def related_url(self):
        return citation.related_url(self.pmid)

    def pmc_access(self, as_of):
        return citation.pmc_access(
            in_pmc=self.in_pmc, pmcid=self.pmcid, release_date=self.pmc_release_date,
            title_text=self.title_text, as_of=as_of, book_accession=self.book_accession,
        )  # fmt: skip


class PageListingQuerySet(models.QuerySet):
    def visible(self):
        return self.filter(hidden=False)

    def freed_on_pmc(self, page, *, after: datetime.date, until: datetime.date):
        """The page's visible entries whose PMC embargo ended after ``after``, by ``until``."""
        return self.visible().filter(
            page=page, publication__pmc_release_date__gt=after, publication__pmc_release_date__lte=until
        )

    def shown_on_their_pages(self):
        """The visible listings each page shows (its first ``publications_shown`` in the page's order),
        for listings of many pages at once: a row number over each page's visible list. Filter the
        pages before calling this; one page's list is ``for_page``."""
        rank = Window(RowNumber(), partition_by=F("page_id"), order_by=LISTING_ORDER)
        return self.visible().annotate(rank=rank).filter(rank__lte=F("page__publications_shown")).order_by()

    def newest_shown(self, limit: int):
        """The ``limit`` most recently listed entries readers see across all published pages (the site
        feed): a queryset of their pks, in no order. Ties (one refresh's entries) go in their page's order.

        The newest visible listings are read in that order from an index (``listing_newest_visible``), and
        each is kept if its page shows it: it is among the page's first ``publications_shown`` visible
        listings (``for_page``'s rule, read from the page's list index). So the cost is the entries
        looked at, not the site: at issue 9's size (3,000 pages, 300,000 listings) well under a
        millisecond, where reading every page's shown entries (a LATERAL join) took 52 ms. The worst case
        is a burst of visible entries their page does not show, newer than the feed's: each is looked at
        once (3,000 of them, 43 ms). SQLite cannot read a column of the outer query in a LIMIT: it ranks
        every visible listing (``shown_on_their_pages``), which at the embedded mode's size costs nothing.
        """
        if connections[self.db].vendor != "postgresql":
            shown = self.filter(page__published=True).shown_on_their_pages().order_by(*NEWEST_LISTED)
            return self.filter(pk__in=shown.values("pk")[:limit]).order_by().values("pk")
        listings = self.model._meta.db_table
        pages = self.model._meta.get_field("page").related_model._meta.db_table
        # One page's shown entries, as for_page orders them, written by the ORM (LISTING_ORDER); its LIMIT
        # is the page's column, which the ORM cannot write, so it is added to the compiled SQL.
        per_page = self.model.objects.visible().filter(page_id=RawSQL("listing.page_id", ()))
        per_page_sql, params = per_page.order_by(*LISTING_ORDER).values("id").query.sql_with_params()
        # Names from the models' metadata, values as parameters.
        sql = (
            f"SELECT listing.id FROM {listings} listing JOIN {pages} pages ON pages.id = listing.page_id "  # noqa: S608
            "WHERE NOT listing.hidden AND pages.published "
            f"AND listing.id IN ({per_page_sql} LIMIT pages.publications_shown) "
            # NEWEST_LISTED, as the index listing_newest_visible has it
            "ORDER BY listing.first_listed_at DESC, listing.position, listing.id DESC LIMIT %s"
        )
        return self.filter(pk__in=RawSQL(sql, (*params, limit))).order_by().values("pk")  # noqa: S611

    def replace_for_page(self, page, ranked: list[int]) -> None:
        """The search's order becomes the list; pinned, hidden and hand-added entries keep their place
        and flags (pins their order), and a PMID editors excluded from the page is never listed."""
        excluded = set(
            Publication.objects.filter(pmid__in=Exclusion.objects.filter(page=page).values("pmid"))
            .order_by()
            .values_list("pk", flat=True)
        )
        ranked = [pk for pk in ranked if pk not in excluded]
        current = self.filter(page=page)
        existing = {listing.publication_id: listing for listing in current}
        keep = {
            pk
            for pk, listing in existing.items()
            if (listing.pinned or listing.hidden or listing.added_by_hand) and pk not in excluded
        }
        current.exclude(publication_id__in=set(ranked) | keep).delete()
        now = timezone.now()
        to_update, to_create = [], []
        for position, publication_id in enumerate(ranked):
            listing = existing.get(publication_id)
            if listing is None:
                to_create.append(
                    PageListing(
                        page=page, publication_id=publication_id, position=position, first_listed_at=now
                    )
                )
            elif listing.position != position:
                listing.position = position
                to_update.append(listing)
        self.bulk_update(to_update, ["position"])
        self.bulk_create(to_create, ignore_conflicts=True)

    def for_page(self, page):
        """The entries a reader sees: pinned first, then newest first, up to the page's limit."""
        return (
            self.visible()
            .filter(page=page)
            .select_related("publication")
            .defer(*(f"publication__{name}" for name in Publication.LARGE_FIELDS))
            .order_by(*LISTING_ORDER)[: page.publications_shown]
        )

    def for_form(self, page):
        """What the page form shows: what readers see, and every pinned or hidden entry (bounded).

        The rest of a long list (thousands after years of refreshes) is in the paginated
        PageListing list; a form with every entry grew to megabytes and one query per row.
        """
        shown = self.visible().filter(page=page).order_by(*LISTING_ORDER)[: page.publications_shown]
        hidden = self.filter(page=page, hidden=True).order_by(*LISTING_ORDER)[:FORM_HIDDEN_MAX]
        kept = Q(pinned=True) | Q(added_by_hand=True)
        in_form = Q(pk__in=shown.values("pk")) | Q(pk__in=hidden.values("pk")) | kept
        return self.filter(in_form, page=page).order_by(*LISTING_ORDER)

    def with_citation(self, *also: str):
        """Listings with just the publication columns an entry needs: lists never load the record."""
        return self.select_related("publication").only(
            *LISTING_COLUMNS, *(f"publication__{name}" for name in LISTED_FIELDS), *also
        )

    def pins(self, page):
        """The page's pinned entries, in the editors' order."""
        return self.filter(page=page, pinned=True).order_by("pin_position", "position", "pk")

    def next_pin_position(self, page_id) -> int:
        """Where a new pin goes: after the page's last one (positions count from 1)."""
        last = self.filter(page_id=page_id, pinned=True).aggregate(last=models.Max("pin_position"))["last"]
        return (last or 0) + 1

    def renumber_pins(self, page, order: list["PageListing"] | None = None) -> list["PageListing"]:
        """Pins numbered 1..n in ``order`` (by default their current order), only changed rows written."""
        order = list(self.pins(page)) if order is None else order
        changed = []
        for number, listing in enumerate(order, start=1):
            if listing.pin_position != number:
                listing.pin_position = number
                changed.append(listing)
        self.bulk_update(changed, ["pin_position"])
        return order


PINNED_AND_HIDDEN = "An entry is pinned or hidden, not both: untick one of them."


class PageListing(models.Model):
    """A publication on a page's list; editors pin (in an order), hide, or add it by hand per page.

    Curation steps go through ``publications.curation``, which records who did what in the page's
    history; pinned and hidden never both hold (a form error, and a constraint in the database).
    """

    page = models.ForeignKey("treatments.TreatmentPage", related_name="listings", on_delete=models.CASCADE)
    publication = models.ForeignKey(Publication, related_name="listings", on_delete=models.CASCADE)
    position = models.PositiveIntegerField(default=0, help_text="0 is the newest.")
    first_listed_at = models.DateTimeField(default=timezone.now)
    pinned = models.BooleanField(default=False, help_text="Kept at the top, whatever refreshes find.")
    pin_position = models.PositiveIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Order among the page's pins, from 1; empty if unpinned.",
    )
    hidden = models.BooleanField(
        default=False, help_text="Never shown on this page, whatever refreshes find."
    )
    added_by_hand = models.BooleanField(
        default=False,
        db_default=False,
        editable=False,
        help_text="Added by an editor, by PMID or DOI: refreshes never remove it.",
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        on_delete=models.SET_NULL,
    )

    objects = PageListingQuerySet.as_manager()

    class Meta:
        ordering = LISTING_ORDER
        # A page's list in reading order, straight from the index, however long the list grows.
        indexes = [
            models.Index(
                fields=["page", "-pinned", "pin_position", "position", "id"], name="listing_page_order"
            ),
            # The site feed's walk, newest first (NEWEST_LISTED): ``newest_shown``.
            models.Index(
                fields=["-first_listed_at", "position", "-id"],
                condition=Q(hidden=False),
                name="listing_newest_visible",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["page", "publication"], name="listing_unique_publication_per_page"
            ),
            models.CheckConstraint(
                condition=~Q(pinned=True, hidden=True),
                name="listing_not_pinned_and_hidden",
                violation_error_message=PINNED_AND_HIDDEN,
            ),
        ]

    def __str__(self):
        pmid = f"PMID {self.publication.pmid}" if self.publication.pmid else "no PMID"
        return f"{pmid}: {self.publication.title_text[:80]}"

    def save(self, *args, **kwargs):
        """A new pin goes after the page's others; an unpinned entry has no place among them."""
        if not self.pinned:
            self.pin_position = None
        elif self.pin_position is None:
            self.pin_position = PageListing.objects.next_pin_position(self.page_id)
        if kwargs.get("update_fields") is not None and "pinned" in kwargs["update_fields"]:
            kwargs["update_fields"] = {*kwargs["update_fields"], "pin_position"}
        super().save(*args, **kwargs)

    def validate_constraints(self, exclude=None):
        """Pinned and hidden checked here, in Python: Django's check of the CheckConstraint is a query
        per row, and the page form validates hundreds of rows."""
        exclude = set(exclude or ())
        if self.pinned and self.hidden and not exclude & {"pinned", "hidden"}:
            raise ValidationError(PINNED_AND_HIDDEN, code="pinned_and_hidden")
        super().validate_constraints(exclude=exclude | {"pinned", "hidden"})


class Exclusion(models.Model):
    """A PMID editors took off a page for good: refreshes never list it there again, until removed."""

    page = models.ForeignKey("treatments.TreatmentPage", related_name="exclusions", on_delete=models.CASCADE)
    pmid = models.PositiveBigIntegerField("PMID")
    reason = models.CharField(max_length=500, help_text="Why it is off this page, for the other editors.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["page", "pmid"], name="exclusion_unique_pmid_per_page")
        ]

    def __str__(self):
        return f"PMID {self.pmid}: {self.reason}"


class RefreshRunQuerySet(models.QuerySet):
    def start(self, page, *, at=None) -> "RefreshRun":
        """A new run for the page (started ``at``, by default now), after closing the runs of workers
        that died mid-refresh.

        It notes a query that changed since the page's last good refresh: the list it replaces came
        from another search, so editors can tell a big change in the list from a bad refresh.
        """
        self.filter(page=page).close_interrupted()
        previous = self.last_good_query(page)
        changed = previous is not None and previous != page.pubmed_query
        previous_query = previous if changed else ""
        query = page.pubmed_query
        return self.create(
            page=page,
            query=query,
            query_changed=changed,
            previous_query=previous_query,
            started_at=at or timezone.now(),
        )

    def last_good_query(self, page) -> str | None:
        """The query of the page's last successful refresh, or None if it never had one."""
        good = self.filter(page=page, status=RefreshRun.Status.OK).newest_first()
        return good.values_list("query", flat=True).first()

    def running_for(self, page):
        """The page's runs still going (not those of a worker that died, which the next run closes)."""
        alive_since = timezone.now() - datetime.timedelta(seconds=LOCK_SECONDS)
        return self.filter(page=page, status=RefreshRun.Status.RUNNING, started_at__gte=alive_since)

    def close_interrupted(self, *, older_than: int = LOCK_SECONDS) -> int:
        """Runs still "running" after ``older_than`` seconds belong to a worker that died: say so.

        By default that is the lock's lifetime; a refresh that holds the page's lock closes the page's
        other running runs at once (``older_than=0``), since none of them can still be alive.
        """
        now = timezone.now()
        return self.filter(
            status=RefreshRun.Status.RUNNING, started_at__lt=now - datetime.timedelta(seconds=older_than)
        ).update(status=RefreshRun.Status.FAILED, finished_at=now, error=RefreshRun.INTERRUPTED)

    def newest_first(self):
        return self.order_by("-started_at")

    def prune(self, now=None, batch: int = 5000) -> int:
        """Delete runs editors no longer need: older than KEEP_RUNS_FOR, except each page's latest
        run and latest failure (why it last failed stays readable). Returns how many went.

        One run per page per day is 1.1 M rows a year at 3,000 pages; batches keep each
        transaction short. Beat runs it daily (``publications.prune_refresh_runs``).
        """
        cutoff = (now or timezone.now()) - KEEP_RUNS_FOR
        old = self.filter(started_at__lt=cutoff).exclude(pk__in=self.kept_per_page())
        deleted = 0
        while pks := list(old.values_list("pk", flat=True)[:batch]):
            deleted += RefreshRun.objects.filter(pk__in=pks).delete()[0]
        return deleted

    def kept_per_page(self) -> set[int]:
        """Each page's latest run and latest failure: two index lookups per page, in one query."""
        runs = RefreshRun.objects.filter(page=OuterRef("pk")).newest_first().values("pk")
        failed = runs.filter(status=RefreshRun.Status.FAILED)
        pages = RefreshRun._meta.get_field("page").related_model.objects.order_by()
        latest = pages.annotate(latest=Subquery(runs[:1]), failed=Subquery(failed[:1]))
        rows = latest.values_list("latest", "failed")
        return {pk for row in rows for pk in row if pk is not None}

    @staticmethod
    def latest_annotations() -> dict:
        """Each page's newest run (status, start, error) and its last check and change (``PageCheck``)
        as annotations: one query for a page list."""
        latest = RefreshRun.objects.filter(page=OuterRef("pk")).newest_first()
        checks = PageCheck.objects.filter(page=OuterRef("pk"))
        return {
            "last_refresh_status": Subquery(latest.values("status")[:1]),
            "last_refresh_started": Subquery(latest.values("started_at")[:1]),
            "last_refresh_error": Subquery(latest.values("error")[:1]),
            "last_checked_at": Subquery(checks.values("last_checked_at")[:1]),
            "last_changed_at": Subquery(checks.values("last_changed_at")[:1]),
        }


class RefreshRun(models.Model):
    """One refresh of one page's list from PubMed: what it found, or why it failed."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    page = models.ForeignKey(
        "treatments.TreatmentPage", related_name="refresh_runs", on_delete=models.CASCADE
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    query = models.CharField(max_length=1000, blank=True)
    pmids_found = models.PositiveIntegerField(default=0)
    publications_new = models.PositiveIntegerField(default=0, help_text="Publications new to the site.")
    publications_added = models.PositiveIntegerField(
        default=0, help_text="Entries that joined this page's list (new to the site or not)."
    )
    publications_dropped = models.PositiveIntegerField(
        default=0, help_text="Entries that left this page's list: no longer found, or deleted by PubMed."
    )
    query_changed = models.BooleanField(
        default=False, help_text="The page's query differed from the one of its last successful refresh."
    )
    previous_query = models.CharField(max_length=1000, blank=True, help_text="That earlier query.")
    error = models.TextField(blank=True, help_text="Why the refresh failed, in words for editors.")
    warnings = models.TextField(
        blank=True, help_text="Articles PubMed sent malformed or did not send; the rest of the list was kept."
    )

    INTERRUPTED = "Interrupted: the worker stopped mid-refresh."

    objects = RefreshRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["page", "-started_at"]),
            # The admin list (newest first, by status) and the pruning (each page's latest failure).
            models.Index(fields=["-started_at"], name="refreshrun_started"),
            models.Index(fields=["status", "-started_at"], name="refreshrun_status_started"),
            models.Index(fields=["page", "status", "-started_at"], name="refreshrun_page_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["running", "ok", "failed", "skipped"]), name="refreshrun_status_valid"
            ),
        ]

    def __str__(self):
        return f"{self.page} at {timezone.localtime(self.started_at):%Y-%m-%d %H:%M}: {self.status}"

    def finish(self, *, found: int, new: int, added: int = 0, dropped: int = 0, warnings=()) -> "RefreshRun":
        return self.close(
            self.Status.OK,
            pmids_found=found,
            publications_new=new,
            publications_added=added,
            publications_dropped=dropped,
            warnings=warnings,
        )

    def fail(self, error: str, *, warnings=()) -> "RefreshRun":
        return self.close(self.Status.FAILED, error=error, warnings=warnings)

    def skip(self, reason: str) -> "RefreshRun":
        return self.close(self.Status.SKIPPED, error=reason)

    def close(self, status: str, *, warnings=(), **fields) -> "RefreshRun":
        """Set the outcome, and save it if the run is recorded: a quiet pass's run never is."""
        fields.update(status=status, finished_at=timezone.now(), warnings="\n".join(warnings))
        for name, value in fields.items():
            setattr(self, name, value)
        if self.pk is not None:
            self.save(update_fields=list(fields))
        return self

    @property
    def recorded(self) -> bool:
        """Whether the run is in the database: a pass that found nothing new, or was skipped, is not."""
        return self.pk is not None

    @property
    def done(self) -> bool:
        return self.status != self.Status.RUNNING

    @property
    def warning_list(self) -> list[str]:
        return [line for line in self.warnings.splitlines() if line.strip()]

    def outcome(self) -> str:
        """What the run did, in words for editors: the admin's "Refresh now" shows it."""
        if self.status == self.Status.RUNNING:
            return f"Refreshing since {timezone.localtime(self.started_at):%H:%M:%S}…"
        if self.status == self.Status.FAILED:
            return f"Failed: {self.error}" if self.error else "Failed."
        if self.status == self.Status.SKIPPED:
            return f"Skipped: {self.error}"
        if not self.recorded:
            return f"Checked: nothing new (PubMed found {self.pmids_found})."
        said = (
            f"Refreshed: {self.publications_added} new, {self.publications_dropped} dropped "
            f"(PubMed found {self.pmids_found}; {self.publications_new} new to the site)."
        )
        if self.query_changed:
            said += " The query had changed since the last refresh."
        if warnings := self.warning_list:
            said += f" {len(warnings)} warning{'s' if len(warnings) != 1 else ''}."
        return said


# The full look at a page (stored records due for their re-check fetched again) happens at most this
# often; the hourly passes in between ask PubMed for the search alone.
RECHECK_EVERY = datetime.timedelta(hours=24)


class PageCheckQuerySet(models.QuerySet):
    def checked(self, page, *, changed: bool, rechecked: bool, at=None) -> None:
        """Note a pass over the page that worked: one UPDATE (an INSERT the page's first time).

        A quiet pass is a counter and a time here, not a RefreshRun: 3,000 pages checked hourly would
        add 26 million runs a year. It never writes the page's row, which would purge its cache.
        """
        at = at or timezone.now()
        fields = {"last_checked_at": at}
        if changed:
            fields.update(last_changed_at=at, quiet_checks=0)
        else:
            fields["quiet_checks"] = models.F("quiet_checks") + 1
        if rechecked:
            fields["last_recheck_at"] = at
        if self.filter(page=page).update(**fields):
            return
        first = PageCheck(
            page=page,
            last_checked_at=at,
            last_changed_at=at if changed else None,
            quiet_checks=0 if changed else 1,
            last_recheck_at=at if rechecked else None,
        )
        try:
            with transaction.atomic(using=self.db):
                first.save(force_insert=True, using=self.db)
        except IntegrityError:  # another pass inserted it meanwhile
            self.filter(page=page).update(**fields)

    def recheck_due(self, page, now=None) -> bool:
        """Whether this pass is the page's daily full look: its records' re-check is a day old or more."""
        last = self.filter(page=page).values_list("last_recheck_at", flat=True).first()
        return last is None or last <= (now or timezone.now()) - RECHECK_EVERY


class PageCheck(models.Model):
    """When refreshes last looked at a page and last changed its list: one row per page, kept current."""

    page = models.OneToOneField(
        "treatments.TreatmentPage", primary_key=True, related_name="refresh_check", on_delete=models.CASCADE
    )
    last_checked_at = models.DateTimeField(help_text="The last refresh that asked PubMed and got an answer.")
    last_changed_at = models.DateTimeField(
        null=True, blank=True, help_text="The last refresh that changed the page's list or its entries."
    )
    quiet_checks = models.PositiveBigIntegerField(
        default=0, help_text="Refreshes that found nothing new since the last change (no run kept)."
    )
    last_recheck_at = models.DateTimeField(
        null=True, blank=True, help_text="The last daily re-check of the page's stored records."
    )

    objects = PageCheckQuerySet.as_manager()

    def __str__(self):
        return f"{self.page}: checked {timezone.localtime(self.last_checked_at):%Y-%m-%d %H:%M}"
