"""Import sections, treatment pages and their web resources from a JSON file.

``validate`` checks a whole file and reports every problem with where it is, so an editor fixes a
file in one pass; ``apply`` writes it in one transaction and touches only what differs, so running
the same file again changes nothing and tells no listener that anything changed.

Sections are matched by ``path`` and pages by section path + slug. A key left out of an existing
section or page keeps its current value (a new one takes the model default); ``tags`` and
``web_resources``, when given, are the complete set / ordered list.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from . import paths
from .import_validation import PAGE_FIELDS, SECTION_FIELDS, validate
from .models import Section, TreatmentPage, WebResource
from .sanitize import clean_rich_text

__all__ = ["ImportFileError", "ImportSummary", "InvalidImport", "apply", "load", "validate"]

RICH_TEXT_FIELDS = {"intro", "description"}


class ImportFileError(Exception):
    """The file cannot be read as JSON: missing, unreadable, or a syntax error (with line/column)."""


class InvalidImport(Exception):
    """``apply`` was given data that does not validate; ``errors`` lists every problem."""

    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} error(s); nothing imported")
        self.errors = errors


@dataclass
class ImportSummary:
    """What an import did, counted, so the caller can tell a no-op run from a real one."""

    sections_created: int = 0
    sections_updated: int = 0
    sections_unchanged: int = 0
    pages_created: int = 0
    pages_updated: int = 0
    pages_unchanged: int = 0

    @property
    def changed(self) -> bool:
        return any([self.sections_created, self.sections_updated, self.pages_created, self.pages_updated])

    def __str__(self) -> str:
        return (
            f"sections: {self.sections_created} created, {self.sections_updated} updated, "
            f"{self.sections_unchanged} unchanged; pages: {self.pages_created} created, "
            f"{self.pages_updated} updated, {self.pages_unchanged} unchanged"
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


# --- Applying ------------------------------------------------------------------------------------


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


def _assign_changes(obj: models.Model, values: dict[str, Any]) -> list[str]:
    """Set only the fields whose value differs and return their names, for ``save(update_fields=...)``."""
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    return changed


def _apply_sections(entries: list[dict], summary: ImportSummary) -> None:
    """Create or update sections, shallowest first, so a parent always exists before its children."""
    entries = sorted(entries, key=lambda item: item["path"].count(paths.SEPARATOR))
    wanted_paths = {item["path"] for item in entries} | {paths.parent(item["path"]) for item in entries}
    by_path = Section.objects.in_bulk([p for p in wanted_paths if p], field_name="path")
    for item in entries:
        path, values = item["path"], _wanted(item, SECTION_FIELDS)
        section = by_path.get(path)
        if section is None:
            parent_path, slug = paths.split(path)
            section = Section(parent=by_path.get(parent_path) if parent_path else None, slug=slug, **values)
            section.save()
            by_path[path] = section
            summary.sections_created += 1
        elif changed := _assign_changes(section, values):
            section.save(update_fields=changed)
            summary.sections_updated += 1
        else:
            summary.sections_unchanged += 1


def _sync_tags(page: TreatmentPage, names: list[str]) -> bool:
    """Replace the page's tags with exactly ``names`` (a set); False if they already match."""
    wanted = set(names)
    if set(page.tags.names()) == wanted:
        return False
    page.tags.set(sorted(wanted))
    return True


def _sync_resources(page: TreatmentPage, entries: list[dict]) -> bool:
    """Make the page's web resources exactly ``entries``, in order; False if they already are.

    Existing rows are matched by URL and updated in place, so unchanged links keep their ids.
    """
    wanted = [
        {"title": e["title"], "url": e["url"], "note": e.get("note", ""), "position": i}
        for i, e in enumerate(entries)
    ]
    current = list(page.web_resources.all())
    if [_resource_values(r) for r in current] == wanted:
        return False
    by_url = {}
    for resource in current:
        by_url.setdefault(resource.url, resource)
    kept = set()
    for values in wanted:
        resource = by_url.get(values["url"])
        if resource is None:
            WebResource.objects.create(page=page, **values)
            continue
        kept.add(resource.pk)
        if changed := _assign_changes(resource, values):
            resource.save(update_fields=changed)
    if dropped := [r.pk for r in current if r.pk not in kept]:
        WebResource.objects.filter(pk__in=dropped).delete()
    return True


def _resource_values(resource: WebResource) -> dict[str, Any]:
    """A stored link in the same shape as a wanted one, so the two lists compare directly."""
    return {
        "title": resource.title,
        "url": resource.url,
        "note": resource.note,
        "position": resource.position,
    }


def _apply_page(item: dict, sections: dict[str, Section], summary: ImportSummary) -> TreatmentPage | None:
    """Create or update one page with its tags and links; the page if anything changed, else None."""
    section = sections[item["section"]]
    values = _wanted(item, PAGE_FIELDS)
    page = TreatmentPage.objects.filter(section=section, slug=item["slug"]).first()
    created = page is None
    if created:
        page = TreatmentPage(section=section, slug=item["slug"], **values)
        page.save()
        changed = True
    elif fields := _assign_changes(page, values):
        page.save(update_fields=fields)
        changed = True
    else:
        changed = False
    if "tags" in item:
        changed = _sync_tags(page, item["tags"]) or changed
    if "web_resources" in item:
        changed = _sync_resources(page, item["web_resources"]) or changed
    if created:
        summary.pages_created += 1
    elif changed:
        summary.pages_updated += 1
    else:
        summary.pages_unchanged += 1
    return page if changed else None


def apply(data: Any) -> ImportSummary:
    """Validate and write everything in one transaction; raise InvalidImport (writing nothing) if invalid.

    ``record_change`` runs once per page that really changed, after all the writes, so listeners
    hear about each page once and never about a page the file left as it was.
    """
    with transaction.atomic():
        errors = validate(data)
        if errors:
            raise InvalidImport(errors)
        summary = ImportSummary()
        _apply_sections(data.get("sections", []), summary)
        pages = data.get("pages", [])
        sections = Section.objects.in_bulk({item["section"] for item in pages}, field_name="path")
        changed = [page for item in pages if (page := _apply_page(item, sections, summary))]
        now = timezone.now()
        for page in changed:
            page.record_change(reason="content", at=now)
    return summary
