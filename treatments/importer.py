"""Import sections, treatment pages and their web resources from a JSON file.

``validate`` checks a whole file and reports every problem with where it is, so an editor fixes a
file in one pass. ``plan`` then works out, from the database and without writing, exactly what the
file would change (an ``ImportPlan``): ``import_pages --check`` prints it, and ``apply`` writes that
same plan in one transaction, so what was checked is what gets written. Only what differs is
touched: running the same file again changes nothing and tells no listener that anything changed.

Sections are matched by ``path`` and pages by section path + slug. A key left out of an existing
section or page keeps its current value (a new one takes the model default); ``tags``, when given,
is the complete set. ``web_resources`` never silently deletes what an editor added: links are
matched by URL, the file's come first in file order, and links not in the file are kept after them
unless the page says ``"replace_web_resources": true`` or the caller asks to replace them all.

An import is one django-reversion revision, commented with the file name and time, holding every
section and page it created or changed, so editors see it in the page's history and can restore
what was there before.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import reversion
from django.db import connection, models, transaction
from django.utils import timezone

from . import paths
from .import_validation import PAGE_FIELDS, SECTION_FIELDS, validate
from .models import Section, TreatmentPage, WebResource
from .sanitize import clean_rich_text

__all__ = [
    "ImportFileError",
    "ImportPlan",
    "ImportSummary",
    "InvalidImport",
    "PagePlan",
    "SectionPlan",
    "apply",
    "load",
    "plan",
    "revision_comment",
    "validate",
]

RICH_TEXT_FIELDS = {"intro", "description"}
IMPORT_LOCK_KEY = 0x1A2B_0001  # pg_advisory_xact_lock key: imports run one at a time


class ImportFileError(Exception):
    """The file cannot be read as JSON: missing, unreadable, a syntax error (with line/column), or JSON
    Python cannot hold (a number past the integer digit limit, nesting deeper than the parser recurses)."""


class InvalidImport(Exception):
    """``plan`` or ``apply`` was given data that does not validate; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} error(s); nothing imported")
        self.errors = errors


# --- The plan: what a file would change ---------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One stored value the file changes: ``name`` from ``old`` to ``new``."""

    name: str
    old: Any
    new: Any


@dataclass
class LinkPlan:
    """One web resource as the page will have it: a stored row to update, or a new one (``resource`` None)."""

    values: dict[str, Any]  # title, url, note, position
    resource: WebResource | None
    changes: list[FieldChange]  # differences from the stored row, position included
    in_file: bool  # False: a link the file does not list, kept because the file does not replace them

    @property
    def edited(self) -> list[FieldChange]:
        """The changes an editor would call an edit (title, note), not a move."""
        return [change for change in self.changes if change.name != "position"]


@dataclass
class ResourcesPlan:
    """A page's web resources after the import, in order, and the stored ones it removes."""

    replace: bool
    links: list[LinkPlan]
    removed: list[WebResource]
    old_order: list[int]  # pks of the stored links, in their current order

    @property
    def added(self) -> list[LinkPlan]:
        return [link for link in self.links if link.resource is None]

    @property
    def updated(self) -> list[LinkPlan]:
        return [link for link in self.links if link.resource is not None and link.edited]

    @property
    def kept(self) -> list[LinkPlan]:
        return [link for link in self.links if not link.in_file]

    @property
    def reordered(self) -> bool:
        """True if the links that stay are not in the order they were (adding or removing is not moving)."""
        new_order = [link.resource.pk for link in self.links if link.resource is not None]
        staying = set(new_order)
        return new_order != [pk for pk in self.old_order if pk in staying]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or any(link.changes for link in self.links))


@dataclass
class SectionPlan:
    """One section entry: created (``section`` None), updated (``changes``) or unchanged."""

    path: str
    section: Section | None
    values: dict[str, Any]
    changes: list[FieldChange]

    @property
    def created(self) -> bool:
        return self.section is None

    @property
    def changed(self) -> bool:
        return self.created or bool(self.changes)


@dataclass
class PagePlan:
    """One page entry: created (``page`` None) or what changes in its fields, tags and links."""

    path: str
    section_path: str
    slug: str
    page: TreatmentPage | None
    values: dict[str, Any]
    changes: list[FieldChange]
    tags: list[str] | None  # the complete set the file gives, or None to leave the tags alone
    tags_added: list[str]
    tags_removed: list[str]
    resources: ResourcesPlan | None  # None: the file gives no web_resources, they are left alone

    @property
    def created(self) -> bool:
        return self.page is None

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.changes
            or self.tags_added
            or self.tags_removed
            or (self.resources is not None and self.resources.changed)
        )


@dataclass
class ImportSummary:
    """What an import did (or would do), counted, so the caller can tell a no-op run from a real one."""

    sections_created: int = 0
    sections_updated: int = 0
    sections_unchanged: int = 0
    pages_created: int = 0
    pages_updated: int = 0
    pages_unchanged: int = 0
    plan: "ImportPlan | None" = field(default=None, repr=False, compare=False)

    @property
    def changed(self) -> bool:
        return any([self.sections_created, self.sections_updated, self.pages_created, self.pages_updated])

    def __str__(self) -> str:
        return (
            f"sections: {self.sections_created} created, {self.sections_updated} updated, "
            f"{self.sections_unchanged} unchanged; pages: {self.pages_created} created, "
            f"{self.pages_updated} updated, {self.pages_unchanged} unchanged"
        )


@dataclass
class ImportPlan:
    """Everything a valid file would change, worked out from the database without writing."""

    sections: list[SectionPlan]  # shallowest first: the order they are written in
    pages: list[PagePlan]
    replace_links: bool  # the caller's "replace every page's links" (pages may also ask on their own)

    @property
    def changed(self) -> bool:
        return any(item.changed for item in [*self.sections, *self.pages])

    def summary(self) -> ImportSummary:
        def count(items, created):
            return sum(item.created == created and item.changed for item in items)

        return ImportSummary(
            sections_created=count(self.sections, True),
            sections_updated=count(self.sections, False),
            sections_unchanged=sum(not item.changed for item in self.sections),
            pages_created=count(self.pages, True),
            pages_updated=count(self.pages, False),
            pages_unchanged=sum(not item.changed for item in self.pages),
            plan=self,
        )


# --- Loading -----------------------------------------------------------------------------------


def load(path: str | Path) -> Any:
    """Read and parse the file, turning every way it can fail into one readable ImportFileError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportFileError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:  # a number longer than Python converts (sys.get_int_max_str_digits)
        reason = str(exc).split(";")[0]  # not the advice to raise the limit: meant for programmers
        raise ImportFileError(f"{path}: not a valid import file: {reason}") from None
    except RecursionError:
        raise ImportFileError(
            f"{path}: not a valid import file: lists or objects nested too deeply"
        ) from None


# --- Planning (reads only) -----------------------------------------------------------------------


def _wanted(item: dict, names: list[str]) -> dict[str, Any]:
    """The field values an entry asks for, rich text cleaned the way ``save`` will clean it.

    Comparing cleaned text is what keeps a description with a stripped ``<script>`` from looking
    changed on every run.
    """
    return {
        name: clean_rich_text(item[name]) if name in RICH_TEXT_FIELDS else item[name]
        for name in names
        if name in item
    }


def _differences(obj: models.Model | None, values: dict[str, Any]) -> list[FieldChange]:
    """The values that differ from what ``obj`` stores (none for an object still to be created)."""
    if obj is None:
        return []
    return [
        FieldChange(name, getattr(obj, name), value)
        for name, value in values.items()
        if getattr(obj, name) != value
    ]


def _plan_sections(entries: list[dict]) -> list[SectionPlan]:
    """Each section entry against its stored row, shallowest first, so parents are written first."""
    entries = sorted(entries, key=lambda item: item["path"].count(paths.SEPARATOR))
    stored = Section.objects.in_bulk([item["path"] for item in entries], field_name="path")
    plans = []
    for item in entries:
        values = _wanted(item, SECTION_FIELDS)
        section = stored.get(item["path"])
        plans.append(SectionPlan(item["path"], section, values, _differences(section, values)))
    return plans


def _stored_pages(entries: list[dict], lock: bool) -> dict[str, TreatmentPage]:
    """The pages the entries name that exist, by path, with their links and tags, in a few queries."""
    pages = TreatmentPage.objects.filter(
        section__path__in={item["section"] for item in entries}, slug__in={item["slug"] for item in entries}
    )
    if lock:  # apply: nobody changes them between planning and writing
        pages = pages.select_for_update(of=("self",))
    pages = pages.select_related("section").prefetch_related("web_resources", "tags")
    return {page.path: page for page in pages}


def _plan_resources(entries: list[dict], stored: list[WebResource], replace: bool) -> ResourcesPlan:
    """The file's links in file order, then (unless replacing) the stored links it does not list."""
    by_url: dict[str, WebResource] = {}
    for resource in stored:
        by_url.setdefault(resource.url, resource)
    wanted = [
        (by_url.get(e["url"]), {"title": e["title"], "url": e["url"], "note": e.get("note", "")}, True)
        for e in entries
    ]
    matched = {resource.pk for resource, _, _ in wanted if resource is not None}
    rest = [resource for resource in stored if resource.pk not in matched]
    wanted += [] if replace else [(r, {"title": r.title, "url": r.url, "note": r.note}, False) for r in rest]
    links = []
    for position, (resource, values, in_file) in enumerate(wanted):
        values = {**values, "position": position}
        links.append(LinkPlan(values, resource, _differences(resource, values), in_file))
    return ResourcesPlan(replace, links, rest if replace else [], [resource.pk for resource in stored])


def _plan_page(item: dict, page: TreatmentPage | None, replace_links: bool) -> PagePlan:
    """One page entry against its stored page (None if new): fields, tags and links that differ."""
    values = _wanted(item, PAGE_FIELDS)
    tags = sorted(set(item["tags"])) if "tags" in item else None
    stored_tags = {tag.name for tag in page.tags.all()} if page is not None else set()
    resources = None
    if "web_resources" in item:
        replace = replace_links or item.get("replace_web_resources", False)
        stored = list(page.web_resources.all()) if page is not None else []
        resources = _plan_resources(item["web_resources"], stored, replace)
    return PagePlan(
        path=paths.page_path(item["section"], item["slug"]),
        section_path=item["section"],
        slug=item["slug"],
        page=page,
        values=values,
        changes=_differences(page, values),
        tags=tags,
        tags_added=sorted(set(tags) - stored_tags) if tags is not None else [],
        tags_removed=sorted(stored_tags - set(tags)) if tags is not None else [],
        resources=resources,
    )


def plan(data: Any, *, replace_links: bool = False, lock: bool = False) -> ImportPlan:
    """What the file would change, read from the database without writing; InvalidImport if invalid.

    ``replace_links`` removes, on every page that gives ``web_resources``, the links the file does
    not list (a page can ask for it alone with ``"replace_web_resources": true``).
    """
    errors = validate(data)
    if errors:
        raise InvalidImport(errors)
    pages = data.get("pages", [])
    stored = _stored_pages(pages, lock) if pages else {}
    return ImportPlan(
        sections=_plan_sections(data.get("sections", [])),
        pages=[
            _plan_page(item, stored.get(paths.page_path(item["section"], item["slug"])), replace_links)
            for item in pages
        ],
        replace_links=replace_links,
    )


# --- Applying ------------------------------------------------------------------------------------


def _save_changes(obj: models.Model, changes: list[FieldChange]) -> None:
    """Write only the fields that changed, so nothing else on the row is touched."""
    for change in changes:
        setattr(obj, change.name, change.new)
    obj.save(update_fields=[change.name for change in changes])


def _write_sections(import_plan: ImportPlan) -> tuple[dict[str, Section], list[Section]]:
    """Create and update the planned sections; every section the pages need, by path, and those written."""
    needed = {item.path for item in import_plan.sections} | {item.section_path for item in import_plan.pages}
    needed |= {paths.parent(item.path) for item in import_plan.sections}
    by_path = Section.objects.in_bulk([path for path in needed if path], field_name="path")
    written = []
    for item in import_plan.sections:
        if item.created:
            parent_path, slug = paths.split(item.path)
            section = Section(
                parent=by_path.get(parent_path) if parent_path else None, slug=slug, **item.values
            )
            section.save()
        elif item.changes:
            section = item.section
            _save_changes(section, item.changes)
        else:
            continue
        by_path[item.path] = section
        written.append(section)
    return by_path, written


def _write_resources(page: TreatmentPage, resources: ResourcesPlan) -> None:
    """Create, update and remove links as planned; a kept or updated link keeps its row (and id)."""
    if resources.removed:
        WebResource.objects.filter(pk__in=[resource.pk for resource in resources.removed]).delete()
    rows = []
    for link in resources.links:
        row = link.resource or WebResource(page=page)
        for name, value in link.values.items():
            setattr(row, name, value)
        rows.append(row)
    WebResource.objects.place(page, rows)  # positions are unique: place() renumbers without a clash


def _write_page(item: PagePlan, sections: dict[str, Section]) -> TreatmentPage:
    """Create or update one page with its tags and links, exactly as planned."""
    page = item.page
    if page is None:
        page = TreatmentPage(section=sections[item.section_path], slug=item.slug, **item.values)
        page.save()
    elif item.changes:
        _save_changes(page, item.changes)
    if item.tags_added or item.tags_removed:
        page.tags.set(item.tags)
    if item.resources is not None:
        _write_resources(page, item.resources)
    return page


def revision_comment(source: str | None, at=None) -> str:
    """How the page history names an import: the file and the local time it ran."""
    when = timezone.localtime(at or timezone.now()).strftime("%Y-%m-%d %H:%M")
    return f"Imported from {source} at {when}" if source else f"Imported at {when}"


def _write(import_plan: ImportPlan, source: str | None) -> None:
    """Write the plan as one revision holding every section and page it created or changed.

    ``record_change`` runs once per page that really changed, after all the writes, so listeners
    hear about each page once and never about a page the file left as it was; each page joins the
    revision after its last write, so the revision keeps the page as the import left it.
    """
    with reversion.create_revision():
        now = timezone.now()
        reversion.set_comment(revision_comment(source, now))
        sections, written = _write_sections(import_plan)
        pages = [_write_page(item, sections) for item in import_plan.pages if item.changed]
        for page in pages:
            page.record_change(reason="content", at=now)
        for obj in [*written, *pages]:
            if reversion.is_registered(type(obj)):
                reversion.add_to_revision(obj)


def _one_import_at_a_time() -> None:
    """Make a second import wait for the first's commit, then plan against it.

    Two imports at once would each plan against what the other is about to change, and two new
    pages could race to be created. On PostgreSQL a transaction-scoped advisory lock serializes
    them; SQLite already has one writer at a time (its transactions begin IMMEDIATE, see settings).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK_KEY])


def apply(data: Any, *, replace_links: bool = False, source: str | None = None) -> ImportSummary:
    """Plan and write in one transaction; raise InvalidImport (writing nothing) if the file is invalid.

    ``source`` (the file name) goes into the revision's comment. The summary's ``plan`` is what
    was written, for the caller to report.
    """
    with transaction.atomic():
        _one_import_at_a_time()
        import_plan = plan(data, replace_links=replace_links, lock=True)
        if import_plan.changed:
            _write(import_plan, source)
    return import_plan.summary()
