"""The section tree, treatment pages, their web resources and readers' feedback."""

import html
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import F, Func, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Concat, Length
from django.utils import timezone
from django.utils.html import strip_tags
from taggit.managers import TaggableManager
from taggit.models import Tag, TaggedItem

from cancerindex import compiled

from . import paths
from .changes import page_changed
from .sanitize import clean_rich_text


def _count_of(rows):
    """``rows``' count as a subquery expression (an outer reference in ``rows`` makes it per row)."""
    counted = rows.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return Coalesce(Subquery(counted, output_field=models.IntegerField()), 0)


class SectionQuerySet(models.QuerySet):
    def roots(self):
        return self.filter(parent__isnull=True)

    def ancestors_of(self, path: str) -> list["Section"]:
        """The sections above ``path`` (and itself), root first, in one query compiled once per depth."""
        return self.ancestors_with(path)[0]

    def ancestors_with(self, path: str, *statements: tuple, **values) -> tuple[list["Section"], list]:
        """``ancestors_of(path)``, and the rows of other statements (``compiled.row_sets``, given
        ``values``) in the same round trip: a reader's URL finds its sections and its page in one."""
        wanted = paths.ancestors(path)
        named = {f"path_{depth}": ancestor for depth, ancestor in enumerate(wanted)}
        found, *others = compiled.row_sets(
            (_section_rows, len(wanted)), *statements, model=self.model, **named, **values
        )
        fields = _all_fields(self.model)
        sections = [self.model.from_db(self.db, fields, row) for row in found]
        return sorted(sections, key=lambda s: s.path.count(paths.SEPARATOR)), others

    def at_path(self, path: str):
        return self.filter(path=path)

    def get_by_path(self, path: str):
        """The section at ``path``; raises Section.DoesNotExist."""
        return self.get(path=path)

    def with_page_counts(self):
        """Each section with ``page_count``: the published pages in it and in every section below it."""
        below = Concat(OuterRef("path"), Value(paths.SEPARATOR))
        within = Q(section__path=OuterRef("path")) | Q(section__path__startswith=below)
        pages = TreatmentPage.objects.published().filter(within)
        return self.annotate(page_count=_count_of(pages))


class Section(models.Model):
    """A node of the tree (Treatments > Biological Therapies > ...); its URL is its path."""

    parent = models.ForeignKey(
        "self", null=True, blank=True, related_name="children", on_delete=models.PROTECT
    )
    slug = models.SlugField(max_length=paths.SLUG_MAX_LENGTH)
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True, help_text="Optional rich text shown above the section's list.")
    position = models.PositiveIntegerField(default=0, help_text="Order among its siblings.")
    path = models.CharField(max_length=paths.SECTION_PATH_MAX_LENGTH, unique=True, editable=False)

    objects = SectionQuerySet.as_manager()

    class Meta:
        ordering = ["position", "title"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "slug"], name="section_unique_slug_in_parent"),
            models.UniqueConstraint(
                fields=["slug"], condition=Q(parent__isnull=True), name="section_unique_root_slug"
            ),
        ]

    def __str__(self):
        return f"{self.title} (/{self.path}/)" if self.path else self.title

    def save(self, *args, **kwargs):
        """Store the path the tree gives it; a new slug or parent moves the whole subtree with it."""
        self.intro = clean_rich_text(self.intro)
        old_path = self.path
        self.path = paths.section_path(self.parent.path if self.parent_id else None, self.slug)
        with transaction.atomic():
            super().save(*args, **kwargs)
            if old_path and old_path != self.path:
                paths.move_subtree(old_path, self.path)

    def get_absolute_url(self):
        return paths.reader_url(self.path)

    def _deepest_below(self) -> int:
        """How many characters the longest path below this section adds to its own (0: none below)."""
        if not self.path:
            return 0
        below = Section.objects.filter(path__startswith=self.path + paths.SEPARATOR)
        longest = below.aggregate(longest=Max(Length("path")))["longest"]
        return longest - len(self.path) if longest else 0

    def clean(self):
        if self.parent_id is None and paths.is_reserved(self.slug):
            raise ValidationError({"slug": f'"{self.slug}" is reserved for the site itself.'})
        new_path = paths.section_path(self.parent.path if self.parent_id else None, self.slug)
        if problem := paths.subtree_length_problem(new_path, self._deepest_below()):
            raise ValidationError({"slug" if self.parent_id is None else "parent": problem})
        if self.parent_id is None:
            return
        if paths.pages_at([new_path]):
            raise ValidationError({"slug": "A page in the parent section already uses this slug."})
        if self.pk and paths.is_within(self.parent.path, self.path):  # self.path: where it is stored now
            raise ValidationError({"parent": "A section cannot be inside itself."})


class TreatmentPageQuerySet(models.QuerySet):
    def published(self):
        return self.filter(published=True)

    def with_query(self):
        return self.exclude(pubmed_query="")

    def in_section(self, section):
        return self.filter(section=section)

    def at_path(self, path: str):
        return self.filter(**paths.page_lookup(path))

    def get_by_path(self, path: str):
        """The page at ``path`` ("treatments/biological-therapies/interleukin-2"), draft or not.

        Raises TreatmentPage.DoesNotExist.
        """
        return self.get(**paths.page_lookup(path))

    def named(self, name: str):
        """The pages an editor means by ``name``: a path, or a bare slug that may match several sections."""
        return self.filter(**paths.page_lookup(name.strip(paths.SEPARATOR), any_section=True))

    # The published page at a section path and slug, as its reader's view needs it: its row without the
    # draft (readers never see it), and when refreshes last checked it. ``paths.find`` runs it with the
    # section lookup (``Section.objects.ancestors_with``), one statement per page kind, one round trip.
    @staticmethod
    def reader_statement() -> tuple:
        return (_reader_rows,)

    def from_reader_row(self, row: tuple, section) -> "TreatmentPage":
        *values, last_checked_at = row
        page = self.model.from_db(self.db, _reader_fields(self.model), values)
        page.section = section
        check = self.model._meta.get_field("refresh_check").related_model  # publications.PageCheck
        page.refresh_check = check(page=page, last_checked_at=last_checked_at)
        return page

    # --- Finding pages: tags, the A-Z, related pages, counts (``treatments.views``) ---

    def listed(self):
        """Published pages with just what a link to one needs: its title, other name and path."""
        return self.published().select_related("section").only("title", "other_name", "slug", "section__path")

    def tagged(self, tag):
        return self.listed().filter(tags=tag).order_by("title", "pk")

    def a_to_z(self):
        return self.listed().order_by("title", "pk")

    def related_to(self, page, limit: int = 5):
        """Other published pages sharing a tag with ``page`` or listing a PMID it shows, most shared first.

        One query: the candidates come from two uncorrelated subqueries (pages tagged alike, pages
        listing the publications this page shows), each counted per candidate. Only the entries the page
        shows count (at most ``publications_shown``), so neither a list of thousands nor a site of
        thousands of pages makes it slower. Hidden listings and publications without a PMID (the old
        site's list) do not count.
        """
        from publications.models import PageListing

        meta = self.model._meta
        tagged_items = TaggedItem.objects.filter(
            content_type__app_label=meta.app_label, content_type__model=meta.model_name
        )
        tag_ids = tagged_items.filter(object_id=page.pk).values("tag_id")
        same_tags = tagged_items.filter(tag_id__in=tag_ids)
        shown = PageListing.objects.for_page(page).values("publication_id")
        same_citations = PageListing.objects.visible().filter(
            publication_id__in=shown, publication__pmid__isnull=False
        )

        def counted(rows, column):
            return _count_of(rows.filter(**{column: OuterRef("pk")}))

        return (
            self.listed()
            .exclude(pk=page.pk)
            .filter(Q(pk__in=same_tags.values("object_id")) | Q(pk__in=same_citations.values("page_id")))
            .annotate(
                shared_tags=counted(same_tags, "object_id"),
                shared_citations=counted(same_citations, "page_id"),
            )
            .order_by(-(F("shared_citations") + F("shared_tags")), "-shared_citations", "title", "pk")[:limit]
        )

    def related_pages(self, page, limit: int = 5) -> list["PageLink"]:
        """``related_to`` as links (title, other name, path, shared counts), its SQL compiled once."""
        rows = compiled.rows(_related_rows, limit, page.publications_shown, model=self.model, page_id=page.pk)
        return [PageLink(*row) for row in rows]

    def showing_as_related(self, page):
        """Published pages whose related pages may include ``page``: ``related_to`` from the other side.

        Every page sharing a tag with it, or showing a PMID it lists (its related pages count any entry
        another lists, so not only what ``page`` shows). Not ``page``'s own top related: each page ranks
        its own five, by its own shared counts and the other pages' titles.
        """
        from publications.models import PageListing

        meta = self.model._meta
        tagged_items = TaggedItem.objects.filter(
            content_type__app_label=meta.app_label, content_type__model=meta.model_name
        )
        same_tags = tagged_items.filter(tag_id__in=tagged_items.filter(object_id=page.pk).values("tag_id"))
        listed = PageListing.objects.visible().filter(page=page, publication__pmid__isnull=False)
        showing = PageListing.objects.visible().filter(publication_id__in=listed.values("publication_id"))
        return (
            self.listed()
            .exclude(pk=page.pk)
            .filter(Q(pk__in=same_tags.values("object_id")) | Q(pk__in=showing.values("page_id")))
        )

    def reader_extras(self, page, *, related: int = 5) -> "ReaderExtras":
        """What a reader's page shows besides the page and its list: its tags by name, its links in
        order and up to ``related`` related pages (as ``related_pages`` gives them), in one round trip
        (``compiled.row_sets``)."""
        tags, links, others = compiled.row_sets(
            (_tag_rows,), (_link_rows,), (_related_rows, related, page.publications_shown),
            model=self.model, page_id=page.pk,
        )  # fmt: skip
        tags = [Tag(pk=pk, name=name, slug=slug) for pk, name, slug in tags]
        links, others = [ReaderLink(*row) for row in links], [PageLink(*row) for row in others]
        return ReaderExtras(tags, links, others)

    # --- Scheduled publishing and review dates (``treatments.scheduling``, ``treatments.review``) ---

    def scheduled(self):
        """Pages waiting for a scheduled publish or unpublish."""
        return self.filter(Q(publish_at__isnull=False) | Q(unpublish_at__isnull=False))

    def schedule_due(self, now=None):
        """Pages whose publish or unpublish time has come: what the schedule acts on."""
        return self.filter(self._due_by(now or timezone.now()))

    def schedule_overdue(self, now=None, grace=timedelta(minutes=5)):
        """Schedules the minutely run should have carried out by now: beat is down, or the run failed.

        Computed from the times alone, so it shows even when beat never ran at all.
        """
        return self.filter(self._due_by((now or timezone.now()) - grace))

    def schedule_failed(self):
        return self.exclude(schedule_error="")

    def schedule_problems(self, now=None, grace=timedelta(minutes=5)):
        """Overdue or failed schedules: what editors must be told about."""
        return self.filter(self._due_by((now or timezone.now()) - grace) | ~Q(schedule_error=""))

    @staticmethod
    def _due_by(moment):
        return Q(publish_at__lte=moment) | Q(unpublish_at__lte=moment)

    def review_due(self, on=None):
        """Pages whose text is due for review on ``on`` (today): never reviewed, or past their date."""
        on = on or timezone.localdate()
        return self.filter(Q(last_reviewed_at__isnull=True) | Q(next_review_due__lte=on))


def _related_rows(limit, shown, *, page_id):
    """``related_pages``' statement, built once per size around a stand-in page id (``compiled``)."""
    page = TreatmentPage(pk=page_id, publications_shown=shown)
    related = TreatmentPage.objects.related_to(page, limit=limit)
    return related.values_list(
        "pk", "title", "other_name", "slug", "section__path", "shared_tags", "shared_citations"
    )


def _all_fields(model) -> list[str]:
    """Every column of ``model``, in the order ``from_db`` takes them."""
    return [field.attname for field in model._meta.concrete_fields]


def _section_rows(depth, **values):
    """The sections at ``path_0`` … ``path_{depth-1}`` (``ancestors_with``: other values are others')."""
    named = [values[f"path_{number}"] for number in range(depth)]
    return Section.objects.filter(path__in=named).values_list(*_all_fields(Section))


def _reader_fields(model) -> list[str]:
    return [name for name in _all_fields(model) if name != "draft"]


def _reader_rows(*, section_path, slug, **_section_paths):
    pages = TreatmentPage.objects.published().filter(section__path=section_path, slug=slug)
    return pages.values_list(*_reader_fields(TreatmentPage), "refresh_check__last_checked_at")


def _tag_rows(*, page_id):
    meta = TreatmentPage._meta
    items = TaggedItem.objects.filter(
        content_type__app_label=meta.app_label, content_type__model=meta.model_name, object_id=page_id
    )
    return items.order_by("tag__name", "tag_id").values_list("tag_id", "tag__name", "tag__slug")


def display_title(title: str, other_name: str) -> str:
    """How a page is named everywhere: "Interleukin 2 (Aldesleukin)", or its title alone."""
    return f"{title} ({other_name})" if other_name else title


@dataclass(frozen=True, slots=True)
class PageLink:
    """A link to a published page (``related_pages``): what a link shows and where it goes, and how
    much the page shares with the one linking to it. A model instance (two, with its section) cost
    six times as much to build, for what is read of it here."""

    pk: int
    title: str
    other_name: str
    slug: str
    section_path: str
    shared_tags: int = 0
    shared_citations: int = 0

    @property
    def display_title(self) -> str:
        return display_title(self.title, self.other_name)

    @property
    def path(self) -> str:
        return paths.page_path(self.section_path, self.slug)

    def get_absolute_url(self) -> str:
        return paths.reader_url(self.path)


class TreatmentPage(models.Model):
    section = models.ForeignKey(Section, related_name="pages", on_delete=models.PROTECT)
    slug = models.SlugField(max_length=paths.SLUG_MAX_LENGTH)
    title = models.CharField(max_length=200)
    other_name = models.CharField(
        max_length=200,
        blank=True,
        help_text='Shown in brackets after the title: "Interleukin 2 (Aldesleukin)".',
    )
    label = models.CharField(
        max_length=50, blank=True, help_text='Short label for the link list: "Web Resources: IL2 (6 links)".'
    )
    description = models.TextField(
        blank=True, help_text="Rich text; script and unsafe links are removed on save."
    )
    tags = TaggableManager(blank=True)
    pubmed_query = models.CharField(
        "PubMed query",
        max_length=1000,
        blank=True,
        help_text="The PubMed search term that defines this page's latest research.",
    )
    publications_shown = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(200)]
    )
    published = models.BooleanField(
        default=False, editable=False, help_text="Live: readers see it. Set by Publish and Unpublish."
    )
    # The editors' unpublished changes to a live page (``treatments.workflow``): readers keep seeing
    # the columns above until someone publishes. None when there are none.
    draft = models.JSONField(null=True, blank=True, editable=False)
    # A digest of the live content the draft was started from (``workflow.content_digest``): if the live
    # page changes after that (an import), publishing the draft would put its old text back.
    draft_base = models.CharField(max_length=32, blank=True, default="", editable=False)
    first_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    publish_at = models.DateTimeField(
        "publish at", null=True, blank=True, help_text="Publish the saved draft at this time (Celery beat)."
    )
    unpublish_at = models.DateTimeField(
        "unpublish at", null=True, blank=True, help_text="Take the page off the site at this time."
    )
    schedule_error = models.TextField(
        blank=True, editable=False, help_text="Why the last scheduled publish or unpublish failed."
    )
    last_reviewed_at = models.DateField(null=True, blank=True, editable=False)
    last_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        on_delete=models.SET_NULL,
    )
    next_review_due = models.DateField(
        null=True, blank=True, help_text="When the text should be checked again; a year after each review."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    content_changed_at = models.DateTimeField(default=timezone.now, editable=False)
    list_refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = TreatmentPageQuerySet.as_manager()

    class Meta:
        ordering = ["title"]
        constraints = [
            models.UniqueConstraint(fields=["section", "slug"], name="page_unique_slug_in_section"),
        ]

    def __str__(self):
        return self.display_title

    def save(self, *args, **kwargs):
        """Save; a new slug or section records the old path, so its old URL keeps answering."""
        self.description = clean_rich_text(self.description)
        if self.published and self.first_published_at is None:  # live by import or the API, not Publish
            self.first_published_at = self.last_published_at = timezone.now()
        with transaction.atomic():
            old_path = self._stored_path(kwargs.get("update_fields"))
            super().save(*args, **kwargs)
            if old_path is not None:
                paths.record_move(old_path, self.path)

    def get_absolute_url(self):
        return paths.reader_url(self.path)

    def clean(self):
        if self.section_id and paths.sections_at([paths.page_path(self.section.path, self.slug)]):
            raise ValidationError({"slug": "A subsection of this section already uses this slug."})

    def _stored_path(self, update_fields) -> str | None:
        """The path this page answers at before the save, read from the database; None if new or unmoved."""
        if self._state.adding or self.pk is None:
            return None
        if update_fields is not None and not {"slug", "section", "section_id"} & set(update_fields):
            return None
        stored = type(self).objects.filter(pk=self.pk).values_list("section_id", "section__path", "slug")
        row = stored.first()
        if row is None or (row[0], row[2]) == (self.section_id, self.slug):
            return None
        return paths.page_path(row[1], row[2])

    @property
    def display_title(self):
        return display_title(self.title, self.other_name)

    @property
    def path(self):
        return paths.page_path(self.section.path, self.slug)

    @property
    def summary(self):
        """The description as plain text, for meta descriptions and feeds."""
        return html.unescape(strip_tags(self.description))

    @property
    def last_updated(self):
        """What readers see as "Page last updated": the later of an edit and a list refresh."""
        return max(filter(None, [self.content_changed_at, self.list_refreshed_at]))

    def record_change(self, *, reason: str, at=None):
        """The one place that knows a page changed: stamps it and tells listeners (caches, feeds).

        ``reason`` is "content" (an editor or an import changed it) or "list" (its publication
        list was refreshed).
        """
        at = at or timezone.now()
        field = "list_refreshed_at" if reason == "list" else "content_changed_at"
        setattr(self, field, at)
        type(self).objects.filter(pk=self.pk).update(**{field: at})
        page_changed.send(sender=type(self), page=self, reason=reason)


class ReaderExtras(NamedTuple):
    """What ``TreatmentPage.objects.reader_extras`` reads in one round trip."""

    tags: list[Tag]
    links: list["ReaderLink"]
    related: list[PageLink]


class ReaderLink(NamedTuple):
    """A web resource as a reader's page shows it (``TreatmentPage.objects.reader_extras``)."""

    pk: int
    title: str
    url: str
    note: str


class WebResourceQuerySet(models.QuerySet):
    # Rows are parked above this while a list is renumbered, so no two ever share a position.
    PARKING = 1_000_000

    def place(self, page, rows: list["WebResource"]) -> None:
        """Make ``rows`` (stored or new, fields set) the page's links in this order, positions 0..n-1.

        Positions are unique per page in the database, so a reorder first parks the stored rows out
        of the way in one UPDATE. Only new, changed or moved rows are written. The writers of a
        page's links (the workflow, imports) call this; nothing else renumbers. Rows not in
        ``rows`` are the caller's to delete first.
        """
        fields = ("title", "url", "note", "position")
        current = {values[0]: values[1:] for values in self.filter(page=page).values_list("pk", *fields)}
        wanted = {row.pk: position for position, row in enumerate(rows) if row.pk is not None}
        moved = any(current[pk][3] != position for pk, position in wanted.items() if pk in current)
        if moved:
            self.filter(page=page).update(position=F("position") + self.PARKING)
        for position, row in enumerate(rows):
            row.page, row.position = page, position
            if moved or row.pk not in current or current[row.pk] != tuple(getattr(row, f) for f in fields):
                row.save()

    # --- The link checker's view (``treatments.linkcheck``) ---

    def broken(self):
        """Links that did not answer, or answered with an error, at their last check."""
        return self.filter(broken_since__isnull=False)

    def due_for_check(self, now=None, every=timedelta(days=6)):
        """Links never checked, or not since ``every`` ago (a weekly run finds last week's due)."""
        moment = (now or timezone.now()) - every
        return self.filter(Q(last_checked_at__isnull=True) | Q(last_checked_at__lte=moment))


class LinkStatus(models.TextChoices):
    NOT_CHECKED = "", "Not checked yet"
    OK = "ok", "OK"
    REDIRECT = "redirect", "Moved permanently"
    BROKEN = "broken", "Broken"  # the server answered with an error (4xx, 5xx)
    ERROR = "error", "No answer"  # timeout, DNS, TLS, connection refused, a private address


def _link_rows(*, page_id):
    """A page's links as readers see them (title, URL, note), in order (``reader_extras``)."""
    return (
        WebResource.objects.filter(page_id=page_id)
        .order_by("position", "pk")
        .values_list("pk", "title", "url", "note")
    )


class WebResource(models.Model):
    page = models.ForeignKey(TreatmentPage, related_name="web_resources", on_delete=models.CASCADE)
    title = models.CharField(max_length=300)
    url = models.URLField("URL", max_length=1000)
    note = models.CharField(max_length=500, blank=True)
    position = models.PositiveIntegerField(blank=True, help_text="Left empty, a new link goes last.")
    # What the link checker found (``treatments.linkcheck``). Written with UPDATE only, so a check is
    # never an edit of the page: no revision, no draft, and readers' pages do not show it.
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_status = models.CharField(max_length=10, choices=LinkStatus, blank=True, editable=False)
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)
    broken_since = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When it first failed; cleared when it works again."
    )
    redirect_to = models.URLField(
        max_length=1000, blank=True, editable=False, help_text="Where it moved permanently (301, 308)."
    )

    objects = WebResourceQuerySet.as_manager()

    class Meta:
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["page", "position"], name="webresource_unique_position"),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        if self.position is None:  # page.web_resources.create(title=..., url=...): after the others
            last = WebResource.objects.filter(page_id=self.page_id).aggregate(models.Max("position"))
            self.position = 0 if last["position__max"] is None else last["position__max"] + 1
        super().save(*args, **kwargs)


class PathRedirect(models.Model):
    """An old path and where its content answers now; it also covers every path below the old one.

    Written only by ``paths.record_move``; read by ``paths.find`` when nothing lives at a path.
    """

    old_path = models.CharField(max_length=paths.PAGE_PATH_MAX_LENGTH, unique=True)
    new_path = models.CharField(max_length=paths.PAGE_PATH_MAX_LENGTH, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["old_path"]
        verbose_name = "redirect"

    def __str__(self):
        return f"/{self.old_path}/ → /{self.new_path}/"


class FeedbackQuerySet(models.QuerySet):
    def summary(self):
        return self.aggregate(
            yes=models.Count("pk", filter=Q(useful=True)),
            no=models.Count("pk", filter=Q(useful=False)),
        )


class Feedback(models.Model):
    """A reader's answer to "Found this page useful?": one per visitor, page and day."""

    page = models.ForeignKey(TreatmentPage, related_name="feedback", on_delete=models.CASCADE)
    day = models.DateField(default=timezone.localdate)
    visitor = models.CharField(max_length=64, help_text="A keyed hash; no personal data is stored.")
    useful = models.BooleanField()
    missing = models.TextField(
        blank=True,
        help_text="What a reader who answered No found missing, if they said: for editors, never shown.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FeedbackQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "feedback"
        constraints = [
            models.UniqueConstraint(fields=["page", "visitor", "day"], name="feedback_one_per_visitor_day"),
        ]

    def __str__(self):
        return f"{self.page}: {'yes' if self.useful else 'no'} on {self.day}"


class PageRevision(models.Model):
    """One page as editors saw it after a revision (django-reversion's), and what changed, in words.

    django-reversion keeps who and when and the serialized rows (so a deleted page can be
    recovered); this keeps the page's content in the shape editors compare and restore: the
    text fields, tags and web resources of the working copy, whether it was live, and the
    publications editors had pinned or hidden. Written by ``treatments.revisions`` for every
    revision that touches a page, whoever made it.
    """

    revision = models.ForeignKey(
        "reversion.Revision", related_name="page_revisions", on_delete=models.CASCADE
    )
    page_pk = models.PositiveIntegerField(db_index=True, help_text="Kept when the page is deleted.")
    content = models.JSONField()
    live = models.BooleanField()
    has_draft = models.BooleanField()
    curation = models.JSONField(default=list, blank=True)
    changes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-revision__date_created", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["revision", "page_pk"], name="pagerevision_one_per_page"),
        ]

    def __str__(self):
        return f"Page {self.page_pk} at {self.revision.date_created:%Y-%m-%d %H:%M}"
