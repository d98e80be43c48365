"""Publications (one row per PMID, shared by every page), each page's curated list, and refresh runs."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from . import citation
from .markup import clean_inline, inline_text


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
