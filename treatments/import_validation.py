"""Checks an import file: every problem, each with where it is, so an editor fixes a file in one pass.

Nothing here writes; ``treatments.importer`` applies a file only when this finds nothing wrong.
"""

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator, validate_slug
from django.db import models
from taggit.models import Tag

from .models import RESERVED_ROOT_SLUGS, Section, TreatmentPage, WebResource

TOP_LEVEL_KEYS = {"sections", "pages"}
SECTION_KEYS = {"path": True, "title": True, "position": False, "intro": False}  # name: required
PAGE_KEYS = {
    "section": True, "slug": True, "title": True, "other_name": False, "label": False, "description": False,
    "tags": False, "pubmed_query": False, "publications_shown": False, "published": False,
    "web_resources": False,
}  # fmt: skip
RESOURCE_KEYS = {"title": True, "url": True, "note": False}
# Page keys stored as plain model fields (tags, resources and the section are handled separately).
PAGE_FIELDS = [
    "title", "other_name", "label", "description", "pubmed_query", "publications_shown", "published",
]  # fmt: skip


# --- Validation: shapes and values -------------------------------------------------------------


def _json_kind(value: Any) -> str:
    """How the error messages name a JSON value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    for kind, name in ((dict, "an object"), (list, "a list"), (str, "a string"), ((int, float), "a number")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _int_range(field: models.Field) -> tuple[int | None, int | None]:
    """The bounds the model field's own Min/MaxValueValidators enforce, for a single clear message."""
    low = next((v.limit_value for v in field.validators if v.code == "min_value"), None)
    high = next((v.limit_value for v in field.validators if v.code == "max_value"), None)
    return low, high


def _expected(field: models.Field) -> tuple[type, str]:
    """The JSON type a model field takes, and how to say so when a value has another one."""
    if isinstance(field, models.BooleanField):
        return bool, "true or false"
    if isinstance(field, models.IntegerField):
        low, high = _int_range(field)
        return int, "an integer" if low is None or high is None else f"an integer from {low} to {high}"
    return str, "a string"


def _field_error(model: type[models.Model], name: str, value: Any) -> str | None:
    """Check one value against the model field's type and Django's own validators; None if fine.

    The type is checked first because ``Field.clean`` would quietly coerce "30" or "yes".
    """
    field = model._meta.get_field(name)
    pytype, wanted = _expected(field)
    if not isinstance(value, pytype) or (pytype is int and isinstance(value, bool)):
        return f"must be {wanted}, not {_json_kind(value)}"
    try:
        if isinstance(value, str):
            ProhibitNullCharactersValidator()(
                value
            )  # PostgreSQL cannot store them: fail here, not mid-import
        field.clean(value, None)
    except ValidationError as exc:
        codes = {error.code for error in exc.error_list}
        if isinstance(field, models.URLField) and "invalid" in codes:
            return "not a valid URL"
        if codes & {"min_value", "max_value"}:
            return f"must be {wanted}"
        if "blank" in codes:
            return "must not be empty"
        return " ".join(exc.messages)
    return None


def _is_slug(value: str) -> bool:
    """Django's validate_slug, plus lower case: URLs are case-sensitive and all of ours are lower case."""
    try:
        validate_slug(value)
    except ValidationError:
        return False
    return value == value.lower()


def _too_long(model: type[models.Model], name: str, value: str) -> str | None:
    """The model field's max_length, checked on its own for values validated outside ``Field.clean``."""
    max_length = model._meta.get_field(name).max_length
    return (
        f"must be at most {max_length} characters (it has {len(value)})" if len(value) > max_length else None
    )


def _slug_error(slug: str) -> str | None:
    """Why a page slug is unusable, or None."""
    return f'"{slug}" is not a valid slug' if not _is_slug(slug) else _too_long(TreatmentPage, "slug", slug)


def _path_error(path: str) -> str | None:
    """Why a section path is unusable: a bad segment, too long, or a root URL the site reserves."""
    segments = path.split("/")
    if not all(_is_slug(segment) for segment in segments):
        return f'"{path}" is not a valid slug path'
    for segment in segments:
        if problem := _too_long(Section, "slug", segment):
            return f'segment "{segment}" {problem}'
    if problem := _too_long(Section, "path", path):
        return problem
    if len(segments) == 1 and path in RESERVED_ROOT_SLUGS:
        return f'"{path}" is reserved for the site itself'
    return None


def _keys_errors(item: dict, allowed: dict[str, bool], where: str) -> list[str]:
    """Unknown keys (usually typos that would otherwise be silently ignored) and missing required ones."""
    errors = [f"{where}.{key}: unknown field" for key in item if key not in allowed]
    errors += [
        f"{where}.{key}: required field missing"
        for key, required in allowed.items()
        if required and key not in item
    ]
    return errors


def _values_errors(model: type[models.Model], item: dict, names: list[str], where: str) -> list[str]:
    """Field-by-field checks for the keys present in ``item``."""
    problems = ((name, _field_error(model, name, item[name])) for name in names if name in item)
    return [f"{where}.{name}: {problem}" for name, problem in problems if problem]


def _section_errors(item: dict, where: str) -> list[str]:
    """Everything wrong with one section entry on its own (references are checked later)."""
    errors = _keys_errors(item, SECTION_KEYS, where)
    path = item.get("path")
    if "path" in item and not isinstance(path, str):
        errors.append(f"{where}.path: must be a string, not {_json_kind(path)}")
    elif isinstance(path, str) and (problem := _path_error(path)):
        errors.append(f"{where}.path: {problem}")
    return errors + _values_errors(Section, item, ["title", "position", "intro"], where)


def _tags_errors(tags: Any, where: str) -> list[str]:
    """Tags are a list of non-empty names no longer than taggit's Tag.name allows."""
    if not isinstance(tags, list):
        return [f"{where}: must be a list, not {_json_kind(tags)}"]
    max_length = Tag._meta.get_field("name").max_length
    errors = []
    for i, tag in enumerate(tags):
        if not isinstance(tag, str):
            errors.append(f"{where}[{i}]: must be a string, not {_json_kind(tag)}")
        elif not tag.strip():
            errors.append(f"{where}[{i}]: must not be empty")
        elif len(tag) > max_length:
            errors.append(f"{where}[{i}]: must be at most {max_length} characters (it has {len(tag)})")
    return errors


def _resources_errors(resources: Any, where: str) -> list[str]:
    """Each web resource is checked like a WebResource; a URL listed twice is almost always a slip."""
    if not isinstance(resources, list):
        return [f"{where}: must be a list, not {_json_kind(resources)}"]
    errors, seen = [], {}
    for i, resource in enumerate(resources):
        here = f"{where}[{i}]"
        if not isinstance(resource, dict):
            errors.append(f"{here}: must be an object, not {_json_kind(resource)}")
            continue
        errors += _keys_errors(resource, RESOURCE_KEYS, here)
        errors += _values_errors(WebResource, resource, list(RESOURCE_KEYS), here)
        url = resource.get("url")
        if isinstance(url, str) and url in seen:
            errors.append(f"{here}.url: duplicate of web_resources[{seen[url]}]")
        elif isinstance(url, str):
            seen[url] = i
    return errors


def _page_errors(item: dict, where: str) -> list[str]:
    """Everything wrong with one page entry on its own (references are checked later)."""
    errors = _keys_errors(item, PAGE_KEYS, where)
    if "section" in item and not isinstance(item["section"], str):
        errors.append(f"{where}.section: must be a string, not {_json_kind(item['section'])}")
    slug = item.get("slug")
    if "slug" in item and not isinstance(slug, str):
        errors.append(f"{where}.slug: must be a string, not {_json_kind(slug)}")
    elif isinstance(slug, str) and (problem := _slug_error(slug)):
        errors.append(f"{where}.slug: {problem}")
    errors += _values_errors(TreatmentPage, item, PAGE_FIELDS, where)
    if "tags" in item:
        errors += _tags_errors(item["tags"], f"{where}.tags")
    if "web_resources" in item:
        errors += _resources_errors(item["web_resources"], f"{where}.web_resources")
    return errors


# --- Validation: the file as a whole ------------------------------------------------------------


def _entries(data: dict, key: str, errors: list[str]) -> list[tuple[str, dict]]:
    """The (location, object) pairs under ``key``; non-objects are reported and left out."""
    value = data.get(key, [])
    if not isinstance(value, list):
        errors.append(f"{key}: must be a list, not {_json_kind(value)}")
        return []
    entries = []
    for i, item in enumerate(value):
        if isinstance(item, dict):
            entries.append((f"{key}[{i}]", item))
        else:
            errors.append(f"{key}[{i}]: must be an object, not {_json_kind(item)}")
    return entries


def _page_path(item: dict) -> str | None:
    """Where a page entry would live (its URL path), or None if section/slug are not even strings."""
    section, slug = item.get("section"), item.get("slug")
    return f"{section}/{slug}" if isinstance(section, str) and isinstance(slug, str) else None


def _section_path(item: dict) -> str | None:
    """A section entry's path, or None if it is not even a string."""
    return item["path"] if isinstance(item.get("path"), str) else None


def parent_path(path: str) -> str | None:
    """The parent's path ("a/b" for "a/b/c"), or None for a root section."""
    return path.rpartition("/")[0] or None


@dataclass
class _Known:
    """What the file and the database already hold, looked up in a few queries for all entries."""

    file_sections: dict[str, str]  # path -> location of its first entry
    file_pages: dict[str, str]  # page path -> location of its first entry
    db_sections: set[str]
    db_pages: set[str]

    def has_section(self, path: str) -> bool:
        return path in self.file_sections or path in self.db_sections


def _first_locations(entries: list[tuple[str, dict]], key) -> dict[str, str]:
    """Where each key value first appears, so a later duplicate can point back at the original."""
    found = {}
    for where, item in entries:
        if (value := key(item)) is not None:
            found.setdefault(value, where)
    return found


def _known(sections: list[tuple[str, dict]], pages: list[tuple[str, dict]]) -> _Known:
    """Index the file and fetch the database rows any reference or URL clash could involve."""
    file_sections = _first_locations(sections, _section_path)
    file_pages = _first_locations(pages, _page_path)
    parents = {parent_path(p) for p in file_sections} | {item.get("section") for _, item in pages}
    parents = {p for p in parents if isinstance(p, str)}
    db_sections = set(
        Section.objects.filter(path__in=parents | set(file_pages)).values_list("path", flat=True)
    )
    db_pages = {
        f"{section_path}/{slug}"
        for section_path, slug in TreatmentPage.objects.filter(section__path__in=parents).values_list(
            "section__path", "slug"
        )
    }
    return _Known(file_sections, file_pages, db_sections, db_pages)


def _section_reference_errors(where: str, item: dict, known: _Known) -> list[str]:
    """Duplicates, a missing parent, and a section whose URL an existing page already uses."""
    path = item.get("path")
    if not isinstance(path, str) or _path_error(path):
        return []  # already reported; a parent of a malformed path would only add noise
    if known.file_sections[path] != where:
        return [f"{where}: duplicate section {path} (also {known.file_sections[path]})"]
    errors = []
    parent = parent_path(path)
    if parent and not known.has_section(parent):
        errors.append(f'{where}.path: parent section "{parent}" is not in the database or the file')
    if path in known.db_pages and path not in known.file_pages:
        errors.append(f"{where}.path: clashes with the existing page {path} (same URL)")
    return errors


def _page_reference_errors(where: str, item: dict, known: _Known) -> list[str]:
    """Duplicates, a missing section, and a page slug that a subsection's URL already uses."""
    path = _page_path(item)
    if path is None:
        return []
    if known.file_pages[path] != where:
        return [f"{where}: duplicate page {path} (also {known.file_pages[path]})"]
    if not known.has_section(item["section"]):
        return [f'{where}.section: no section "{item["section"]}" in the database or the file']
    if known.has_section(path):
        return [f"{where}.slug: clashes with the subsection {path} (same URL)"]
    return []


def validate(data: Any) -> list[str]:
    """Every problem in the file, each prefixed with where it is; an empty list means it can be applied."""
    if not isinstance(data, dict):
        return [
            f'top level: must be an object like {{"sections": [...], "pages": [...]}}, not {_json_kind(data)}'
        ]
    errors = [f"{key}: unknown field" for key in data if key not in TOP_LEVEL_KEYS]
    sections = _entries(data, "sections", errors)
    pages = _entries(data, "pages", errors)
    known = _known(sections, pages)
    for where, item in sections:
        errors += _section_errors(item, where) + _section_reference_errors(where, item, known)
    for where, item in pages:
        errors += _page_errors(item, where) + _page_reference_errors(where, item, known)
    return errors
