"""Checks an import file: every problem, each with where it is, so an editor fixes a file in one pass.

Nothing here writes; ``treatments.importer`` applies a file only when this finds nothing wrong.

The file's shape is declared once, in the specs below: one ``Entry`` per kind of object (the file,
a section, a page, a web resource), each a list of ``Key``s. A key is required or optional, and
its value is checked either against the model field of the same name (type, length, validators,
all read from ``_meta``) or by its own ``check``. The same spec drives the unknown- and
missing-key messages, the value checks, and the importer's list of fields to copy (``fields``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.db import models
from taggit.models import Tag

from . import paths
from .models import Section, TreatmentPage, WebResource

# A custom check: (value, its location) -> error lines, each starting with a location.
Check = Callable[[Any, str], list[str]]


# --- The spec ------------------------------------------------------------------------------------


def _at(where: str, name: str) -> str:
    """Where a key is: "pages[0].slug", or just "pages" at the top level."""
    return f"{where}.{name}" if where else name


@dataclass(frozen=True)
class Key:
    """One key of an entry: checked by ``check`` if given, else against the model field it names."""

    name: str
    required: bool = False
    check: Check | None = None


@dataclass(frozen=True)
class Entry:
    """One kind of object in the file, declared as its keys (in the order their errors are listed)."""

    model: type[models.Model] | None
    keys: tuple[Key, ...]

    def __post_init__(self):
        for key in self.keys:  # fail at import, not mid-check, if the spec and the model disagree
            if key.check is None:
                self.model._meta.get_field(key.name)

    @property
    def fields(self) -> list[str]:
        """The keys stored as plain model fields: what the importer copies onto a row."""
        return [key.name for key in self.keys if key.check is None]

    def errors(self, item: dict, where: str) -> list[str]:
        """Unknown keys (usually typos), missing required ones, then each given value's problems."""
        names = {key.name for key in self.keys}
        errors = [f"{_at(where, name)}: unknown field" for name in item if name not in names]
        errors += [
            f"{_at(where, key.name)}: required field missing"
            for key in self.keys
            if key.required and key.name not in item
        ]
        for key in self.keys:
            if key.name in item:
                errors += self._value_errors(key, item[key.name], _at(where, key.name))
        return errors

    def _value_errors(self, key: Key, value: Any, here: str) -> list[str]:
        if key.check is not None:
            return key.check(value, here)
        problem = _field_error(self.model, key.name, value)
        return [f"{here}: {problem}"] if problem else []


# --- Model field checks --------------------------------------------------------------------------


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


def _text_problem(value: str) -> str | None:
    """Why a string cannot be stored at all, or None: the one rule for every string the import stores.

    PostgreSQL cannot store NUL, and no database takes a lone surrogate (JSON's "\\ud800" with no low
    half), which cannot even be encoded as UTF-8: refused here, so ``--check`` fails where the import
    would, with the value's location, instead of a traceback mid-report or mid-import.
    """
    try:
        ProhibitNullCharactersValidator()(value)
    except ValidationError as exc:
        return " ".join(exc.messages)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"not valid Unicode text (a lone surrogate, \\u{ord(value[exc.start]):04x}, "
            f"at character {exc.start + 1})"
        )
    return None


def _field_error(model: type[models.Model], name: str, value: Any) -> str | None:
    """Check one value against the model field's type and Django's own validators; None if fine.

    The type is checked first because ``Field.clean`` would quietly coerce "30" or "yes".
    """
    field = model._meta.get_field(name)
    pytype, wanted = _expected(field)
    if not isinstance(value, pytype) or (pytype is int and isinstance(value, bool)):
        return f"must be {wanted}, not {_json_kind(value)}"
    if isinstance(value, str) and (problem := _text_problem(value)):
        return problem
    try:
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


# --- Custom checks -------------------------------------------------------------------------------


def _string(problem: Callable[[str], str | None] = lambda value: None) -> Check:
    """A check for a string key that no model field describes, with its own rule for the text."""

    def check(value: Any, here: str) -> list[str]:
        if not isinstance(value, str):
            return [f"{here}: must be a string, not {_json_kind(value)}"]
        return [f"{here}: {text}"] if (text := problem(value)) else []

    return check


def _objects(value: Any, here: str) -> list[str]:
    """The top-level lists: a list, and each item an object (checked on its own later)."""
    if not isinstance(value, list):
        return [f"{here}: must be a list, not {_json_kind(value)}"]
    return [
        f"{here}[{i}]: must be an object, not {_json_kind(item)}"
        for i, item in enumerate(value)
        if not isinstance(item, dict)
    ]


def _boolean(value: Any, here: str) -> list[str]:
    """A true/false key that no model field describes (an instruction to the importer, not content)."""
    return [] if isinstance(value, bool) else [f"{here}: must be true or false, not {_json_kind(value)}"]


def _tags_errors(tags: Any, here: str) -> list[str]:
    """Tags are a list of non-empty names no longer than taggit's Tag.name allows."""
    if not isinstance(tags, list):
        return [f"{here}: must be a list, not {_json_kind(tags)}"]
    max_length = Tag._meta.get_field("name").max_length
    errors = []
    for i, tag in enumerate(tags):
        if not isinstance(tag, str):
            errors.append(f"{here}[{i}]: must be a string, not {_json_kind(tag)}")
        elif not tag.strip():
            errors.append(f"{here}[{i}]: must not be empty")
        elif problem := _text_problem(tag):  # --check must refuse what the import would
            errors.append(f"{here}[{i}]: {problem}")
        elif len(tag) > max_length:
            errors.append(f"{here}[{i}]: must be at most {max_length} characters (it has {len(tag)})")
    return errors


def _resources_errors(resources: Any, here: str) -> list[str]:
    """Each web resource is checked by RESOURCE; a URL listed twice is almost always a slip."""
    if not isinstance(resources, list):
        return [f"{here}: must be a list, not {_json_kind(resources)}"]
    errors, seen = [], {}
    for i, resource in enumerate(resources):
        at = f"{here}[{i}]"
        if not isinstance(resource, dict):
            errors.append(f"{at}: must be an object, not {_json_kind(resource)}")
            continue
        errors += RESOURCE.errors(resource, at)
        url = resource.get("url")
        if isinstance(url, str) and url in seen:
            errors.append(f"{at}.url: duplicate of web_resources[{seen[url]}]")
        elif isinstance(url, str):
            seen[url] = i
    return errors


# --- The entry kinds -----------------------------------------------------------------------------

FILE = Entry(None, (Key("sections", check=_objects), Key("pages", check=_objects)))
SECTION = Entry(
    Section,
    (
        Key("path", required=True, check=_string(paths.path_problem)),
        Key("title", required=True),
        Key("position"),
        Key("intro"),
    ),
)
PAGE = Entry(
    TreatmentPage,
    (
        Key("section", required=True, check=_string()),
        Key("slug", required=True, check=_string(paths.slug_problem)),
        Key("title", required=True),
        Key("other_name"),
        Key("label"),
        Key("description"),
        Key("pubmed_query"),
        Key("publications_shown"),
        Key("published"),
        Key("tags", check=_tags_errors),
        Key("web_resources", check=_resources_errors),
        # Links not in web_resources are kept unless this is true (or the command gets --replace-links).
        Key("replace_web_resources", check=_boolean),
    ),
)
RESOURCE = Entry(WebResource, (Key("title", required=True), Key("url", required=True), Key("note")))
# The plain model fields an entry sets (the section, slug, tags and resources are handled apart).
SECTION_FIELDS = SECTION.fields
PAGE_FIELDS = PAGE.fields


# --- Validation: the file as a whole ------------------------------------------------------------


def _entries(data: dict, key: str) -> list[tuple[str, dict]]:
    """The (location, object) pairs under ``key``; FILE has already reported anything else there."""
    value = data.get(key, [])
    items = enumerate(value) if isinstance(value, list) else []
    return [(f"{key}[{i}]", item) for i, item in items if isinstance(item, dict)]


def _page_path(item: dict) -> str | None:
    """Where a page entry would live (its URL path), or None if section/slug are not even strings."""
    section, slug = item.get("section"), item.get("slug")
    return paths.page_path(section, slug) if isinstance(section, str) and isinstance(slug, str) else None


def _section_path(item: dict) -> str | None:
    """A section entry's path, or None if it is not even a string."""
    return item["path"] if isinstance(item.get("path"), str) else None


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
    """Index the file and ask the database which of the paths it names are already taken, and by what."""
    file_sections = _first_locations(sections, _section_path)
    file_pages = _first_locations(pages, _page_path)
    parents = {paths.parent(p) for p in file_sections} | {item.get("section") for _, item in pages}
    parents = {p for p in parents if isinstance(p, str)}
    db_sections = paths.sections_at(parents | set(file_pages))
    db_pages = paths.pages_at(file_sections)
    return _Known(file_sections, file_pages, db_sections, db_pages)


def _section_reference_errors(where: str, item: dict, known: _Known) -> list[str]:
    """Duplicates, a missing parent, and a section whose URL an existing page already uses."""
    path = item.get("path")
    if not isinstance(path, str) or paths.path_problem(path):
        return []  # already reported; a parent of a malformed path would only add noise
    if known.file_sections[path] != where:
        return [f"{where}: duplicate section {path} (also {known.file_sections[path]})"]
    errors = []
    parent = paths.parent(path)
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


def _page_rule_errors(where: str, item: dict) -> list[str]:
    """Rules across keys: replacing the links only means something with a list to replace them with."""
    if item.get("replace_web_resources") is True and "web_resources" not in item:
        return [f"{where}.replace_web_resources: needs web_resources (the links to replace them with)"]
    return []


def validate(data: Any) -> list[str]:
    """Every problem in the file, each prefixed with where it is; an empty list means it can be applied."""
    if not isinstance(data, dict):
        return [
            f'top level: must be an object like {{"sections": [...], "pages": [...]}}, not {_json_kind(data)}'
        ]
    errors = FILE.errors(data, "")
    sections, pages = _entries(data, "sections"), _entries(data, "pages")
    known = _known(sections, pages)
    for where, item in sections:
        errors += SECTION.errors(item, where) + _section_reference_errors(where, item, known)
    for where, item in pages:
        errors += PAGE.errors(item, where) + _page_rule_errors(where, item)
        errors += _page_reference_errors(where, item, known)
    return errors
