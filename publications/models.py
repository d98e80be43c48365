"""Publications (one row per PMID, shared by every page), each page's curated list, and refresh runs."""

import dataclasses
import datetime

from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from . import citation
from .locks import LOCK_SECONDS
from .markup import clean_inline, inline_text
from .pubmed import PubmedRecord

# How a PubmedRecord becomes a Publication: the record's fields are the one list of what PubMed
# gives us, stored under the same name unless renamed here. Adding a PubMed field means adding it
# to the record, the parser and the model; ``test_publication_fields`` says if one is missed.
RECORD_RENAMES = {"journal_iso": "journal"}
RECORD_NOT_STORED = {"elocation_ids", "pub_day"}  # they only feed ``pages`` (and nothing shows a day)
RECORD_DERIVED = ["in_pmc"]  # computed from the record in ``Publication.from_record``
SITE_ONLY_FIELDS = {"more_authors"}  # set by editors or the demo, never by PubMed
# Stored records are fetched again once they are this old, so later retractions, corrections,
# PMC releases and deletions reach the page; at most this many per refresh, to stay polite.
RECHECK_AFTER = datetime.timedelta(days=30)
RECHECK_PER_REFRESH = 200


class PublicationQuerySet(models.QuerySet):
    def stored_pmids(self, pmids) -> set[int]:
        return set(self.filter(pmid__in=pmids).values_list("pmid", flat=True))

    def due_for_recheck(self, page, found: list[int]) -> list[int]:
        """Stored records on this search or pinned to this page that were last fetched long ago."""
        stale = self.filter(pmid__isnull=False, updated_at__lt=timezone.now() - RECHECK_AFTER)
        stale = stale.filter(Q(pmid__in=found) | Q(listings__page=page, listings__pinned=True)).distinct()
        return list(stale.order_by("updated_at").values_list("pmid", flat=True)[:RECHECK_PER_REFRESH])

    def store_records(self, records: list[PubmedRecord]) -> int:
        """Insert new records and update re-fetched ones, in batches; returns how many are new."""
        rows = [Publication.from_record(record) for record in records]
        stored = self.in_bulk([row.pmid for row in rows], field_name="pmid")
        now = timezone.now()
        for row in rows:
            row.normalize()
            if row.pmid in stored:
                row.pk, row.updated_at = stored[row.pmid].pk, now
        new = [row for row in rows if row.pk is None]
        self.bulk_create(new, ignore_conflicts=True, batch_size=200)
        if refetched := [row for row in rows if row.pmid in stored]:
            self.bulk_update(refetched, Publication.refetched_fields(), batch_size=200)
        return len(new)

    def unlisted_without_pmid(self):
        """Entries with no PMID (the old site's demo list) that no page lists any more."""
        return self.filter(pmid__isnull=True, listings__isnull=True)


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
    source_xml = models.TextField(blank=True, help_text="The PubMed record this was built from.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PublicationQuerySet.as_manager()

    class Meta:
        ordering = ["-pub_year", "-pk"]
        indexes = [models.Index(fields=["pub_year"])]

    def __str__(self):
        return f"{self.pmid or 'no PMID'}: {self.title_text[:80]}"

    def save(self, *args, **kwargs):
        self.normalize()
        super().save(*args, **kwargs)

    def normalize(self):
        """Clean markup and fill the search column; bulk inserts call it too, since they skip save()."""
        self.title = clean_inline(self.title)
        self.authors_text = "; ".join(filter(None, map(citation.author_name, self.authors)))
        self.abstract = [
            {**section, "text": clean_inline(section.get("text", ""))} for section in self.abstract
        ]

    @classmethod
    def from_record(cls, record: PubmedRecord) -> "Publication":
        """A parsed PubMed record as an (unsaved) row: the one mapping from parser to model."""
        values = dataclasses.asdict(record)
        for name in RECORD_NOT_STORED:
            del values[name]
        for old, new in RECORD_RENAMES.items():
            values[new] = values.pop(old)
        values["authors"] = [{k: v for k, v in author.items() if v} for author in values["authors"]]
        # Online-only articles have no page numbers: cite their publisher ID (pii), as PubMed does.
        values["pages"] = record.pages or next((v for kind, v in record.elocation_ids if kind == "pii"), "")
        values["in_pmc"] = bool(record.pmcid)
        return cls(**values)

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

    def replace_for_page(self, page, ranked: list[int]) -> None:
        """The search's order becomes the list; pinned and hidden entries keep their place and flags."""
        current = self.filter(page=page)
        existing = {listing.publication_id: listing for listing in current}
        keep = {pk for pk, listing in existing.items() if listing.pinned or listing.hidden}
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
            .order_by("-pinned", "position", "pk")[: page.publications_shown]
        )


class PageListing(models.Model):
    """A publication on a page's list; editors pin or hide it per page."""

    page = models.ForeignKey("treatments.TreatmentPage", related_name="listings", on_delete=models.CASCADE)
    publication = models.ForeignKey(Publication, related_name="listings", on_delete=models.CASCADE)
    position = models.PositiveIntegerField(default=0, help_text="0 is the newest.")
    first_listed_at = models.DateTimeField(default=timezone.now)
    pinned = models.BooleanField(default=False, help_text="Kept at the top, whatever refreshes find.")
    hidden = models.BooleanField(
        default=False, help_text="Never shown on this page, whatever refreshes find."
    )

    objects = PageListingQuerySet.as_manager()

    class Meta:
        ordering = ["-pinned", "position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["page", "publication"], name="listing_unique_publication_per_page"
            ),
        ]

    def __str__(self):
        return f"{self.page} #{self.position}: {self.publication}"


class RefreshRunQuerySet(models.QuerySet):
    def start(self, page) -> "RefreshRun":
        """A new run for the page, after closing the runs of workers that died mid-refresh."""
        self.filter(page=page).close_interrupted()
        return self.create(page=page, query=page.pubmed_query)

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

    @staticmethod
    def latest_annotations() -> dict:
        """Each page's newest run (status, start, error) as annotations: one query for a page list."""
        latest = RefreshRun.objects.filter(page=OuterRef("pk")).newest_first()
        return {
            "last_refresh_status": Subquery(latest.values("status")[:1]),
            "last_refresh_started": Subquery(latest.values("started_at")[:1]),
            "last_refresh_error": Subquery(latest.values("error")[:1]),
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
    publications_new = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, help_text="Why the refresh failed, in words for editors.")
    warnings = models.TextField(
        blank=True, help_text="Articles PubMed sent malformed or did not send; the rest of the list was kept."
    )

    INTERRUPTED = "Interrupted: the worker stopped mid-refresh."

    objects = RefreshRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["page", "-started_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["running", "ok", "failed", "skipped"]), name="refreshrun_status_valid"
            ),
        ]

    def __str__(self):
        return f"{self.page} at {timezone.localtime(self.started_at):%Y-%m-%d %H:%M}: {self.status}"

    def finish(self, *, found: int, new: int, warnings=()) -> "RefreshRun":
        return self._close(self.Status.OK, pmids_found=found, publications_new=new, warnings=warnings)

    def fail(self, error: str, *, warnings=()) -> "RefreshRun":
        return self._close(self.Status.FAILED, error=error, warnings=warnings)

    def skip(self, reason: str) -> "RefreshRun":
        return self._close(self.Status.SKIPPED, error=reason)

    def _close(self, status: str, *, warnings=(), **fields) -> "RefreshRun":
        fields.update(status=status, finished_at=timezone.now(), warnings="\n".join(warnings))
        for name, value in fields.items():
            setattr(self, name, value)
        self.save(update_fields=list(fields))
        return self
