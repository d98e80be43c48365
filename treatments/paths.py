"""The URL path rules of the section tree, in one place.

A section's path is its parent's path, "/", and its slug ("treatments/biological-therapies"); a root
section's path is its slug. A page's path is its section's path, "/", and its slug. One URL names
one thing: a page and a subsection of the same section cannot share a slug, and a root section
cannot take a first segment the site's own URLs use (read from the URL configuration).

Everything that builds, splits, checks or looks up a path goes through here: the models, the page
view, the importer and the commands. Another page kind (cancer types, genes) joins ``_page_kinds``.

Links never break: every path change (a section's subtree in ``move_subtree``, a page's own path)
goes through ``record_move``, and ``find`` answers an old path with ``Moved`` once nothing lives there.
One redirect row covers everything below its old path, so a moved section needs one row, not one per page.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Concat, Left, Length, Substr
from django.db.models.lookups import Exact
from django.urls import URLResolver, get_resolver

from cancerindex.reversing import reverse

SEPARATOR = "/"
SLUG_MAX_LENGTH = 100
SECTION_PATH_MAX_LENGTH = 500
PAGE_PATH_MAX_LENGTH = SECTION_PATH_MAX_LENGTH + len(SEPARATOR) + SLUG_MAX_LENGTH
WELL_FORMED = re.compile(r"[-a-zA-Z0-9_]+(?:/[-a-zA-Z0-9_]+)*")
_SEGMENT = re.compile(r"[-a-zA-Z0-9_]+")
# How many recorded moves one lookup follows before giving up (a cycle, or a path growing into itself).
MAX_HOPS = 5
# Django's usual MEDIA_URL: nothing is uploaded yet, but the name stays free for when it is.
KEPT_FREE = frozenset({"media"})


# --- Building and splitting ----------------------------------------------------------------------


def section_path(parent_path: str | None, slug: str) -> str:
    """A section's path under its parent's path (None for a root section)."""
    return f"{parent_path}{SEPARATOR}{slug}" if parent_path else slug


def page_path(section_path: str, slug: str) -> str:
    """A page's path: its section's path and its slug."""
    return f"{section_path}{SEPARATOR}{slug}"


def split(path: str) -> tuple[str | None, str]:
    """("a/b", "c") for "a/b/c"; (None, "a") for a single segment."""
    head, _, last = path.rpartition(SEPARATOR)
    return head or None, last


def parent(path: str) -> str | None:
    """The path one level up ("a/b" for "a/b/c"), or None for a root section."""
    return split(path)[0]


def ancestors(path: str) -> list[str]:
    """The path and every path above it, root first: "a", "a/b", "a/b/c"."""
    parts = path.split(SEPARATOR)
    return [SEPARATOR.join(parts[: i + 1]) for i in range(len(parts))]


def is_within(path: str, ancestor: str) -> bool:
    """True if ``path`` is ``ancestor`` or anywhere below it."""
    return path == ancestor or path.startswith(ancestor + SEPARATOR)


# --- Checking ------------------------------------------------------------------------------------


def is_well_formed(path: str) -> bool:
    """Could this URL name a section or page at all? Rejected before any query is made."""
    return len(path) <= PAGE_PATH_MAX_LENGTH and WELL_FORMED.fullmatch(path) is not None


def is_slug(value: str) -> bool:
    """Django's validate_slug, plus lower case: URLs are case-sensitive and all of ours are lower case."""
    try:
        validate_slug(value)
    except ValidationError:
        return False
    return value == value.lower()


def _too_long(value: str | int, max_length: int) -> str | None:
    """Why ``value`` (a text, or a length) is too long, or None."""
    length = value if isinstance(value, int) else len(value)
    return None if length <= max_length else f"must be at most {max_length} characters (it has {length})"


def slug_problem(slug: str) -> str | None:
    """Why a page slug is unusable, or None."""
    return f'"{slug}" is not a valid slug' if not is_slug(slug) else _too_long(slug, SLUG_MAX_LENGTH)


def path_problem(path: str) -> str | None:
    """Why a section path is unusable: a bad segment, too long, or a root URL the site reserves."""
    segments = path.split(SEPARATOR)
    if not all(is_slug(segment) for segment in segments):
        return f'"{path}" is not a valid slug path'
    for segment in segments:
        if problem := _too_long(segment, SLUG_MAX_LENGTH):
            return f'segment "{segment}" {problem}'
    if problem := _too_long(path, SECTION_PATH_MAX_LENGTH):
        return problem
    if is_reserved(path):
        return f'"{path}" is reserved for the site itself'
    return None


def subtree_length_problem(new_path: str, deepest_below: int = 0) -> str | None:
    """Why a section cannot be at ``new_path``: it, or the deepest section below it (``deepest_below``
    characters longer than the section's own path), would be longer than a path can be."""
    if problem := _too_long(new_path, SECTION_PATH_MAX_LENGTH):
        return f"Its path {problem}."
    if deepest_below and (problem := _too_long(len(new_path) + deepest_below, SECTION_PATH_MAX_LENGTH)):
        return f"The path of the deepest section below it {problem}."
    return None


def is_reserved(path: str) -> bool:
    """A single segment the site's own URLs (or static and media files) already answer at."""
    return SEPARATOR not in path and path in reserved_root_slugs()


def reserved_root_slugs() -> frozenset[str]:
    """First URL segments that are not the tree's: literal ones in the URLconf, static and media."""
    names = set(_literal_first_segments(get_resolver().url_patterns))
    for url in (settings.STATIC_URL, settings.MEDIA_URL):
        parts = urlsplit(url or "")
        if not parts.netloc and (segment := parts.path.strip(SEPARATOR).split(SEPARATOR)[0]):
            names.add(segment)
    return frozenset(names | KEPT_FREE)


def _literal_first_segments(patterns) -> Iterable[str]:
    """Walk the URLconf: a literal first segment is reserved; an include at "" is looked into."""
    for pattern in patterns:
        route = str(pattern.pattern).removeprefix("^")
        segment = route.split(SEPARATOR)[0].removesuffix("$")
        if _SEGMENT.fullmatch(segment):
            yield segment
        elif not route and isinstance(pattern, URLResolver):
            yield from _literal_first_segments(pattern.url_patterns)


# --- Looking up ----------------------------------------------------------------------------------


def _page_kinds() -> tuple:
    """Every model whose rows answer at "section path/slug"; a new page kind is added here."""
    from .models import TreatmentPage

    return (TreatmentPage,)


def page_lookup(path: str, *, any_section: bool = False) -> dict[str, str]:
    """Filter arguments for the page at ``path``; with ``any_section``, a bare slug matches any section."""
    section, slug = split(path)
    if section is None and any_section:
        return {"slug": slug}
    return {"section__path": section or "", "slug": slug}


def reader_url(path: str) -> str:
    """A section's or page's URL from its path ("/treatments/biological-therapies/"), under the site's
    script prefix (``cancerindex.reversing``: remembered, as a render asks for several)."""
    return reverse("treatments:node", path=path)


@dataclass(frozen=True)
class Moved:
    """What ``find`` returns for an old path: the path its content answers at now."""

    path: str


def find(path: str):
    """What a reader sees at ``path``: the section, else the published page, else ``Moved``, else None.

    One query reads the section at ``path``, every section above it and, for each page kind, the page
    that ``path`` would name; the node found carries its sections, root first, as ``trail`` (its
    breadcrumb). Recorded moves are looked up only where the reader would otherwise get a 404, so live
    nodes win.
    """
    from .models import Section

    if not is_well_formed(path):
        return None
    section_path, slug = split(path)
    kinds = _page_kinds()
    statements = [kind.objects.reader_statement() for kind in kinds]
    sections, pages = Section.objects.ancestors_with(
        path, *statements, section_path=section_path or "", slug=slug
    )
    if sections and sections[-1].path == path:
        return _with_trail(sections[-1], sections[:-1])
    if section_path is not None and sections and sections[-1].path == section_path:
        for kind, rows in zip(kinds, pages, strict=True):
            if rows:
                return _with_trail(kind.objects.from_reader_row(rows[0], sections[-1]), sections)
    target = redirect_target(path)
    return Moved(target) if target is not None else None


def _with_trail(node, trail):
    node.trail = trail
    return node


def redirect_target(path: str) -> str | None:
    """Where an old path's content answers now, so the reader needs a single 301.

    Chains are collapsed when moves are recorded, so this is one query nearly always. The loop covers
    what collapsing cannot see: a target inside a reused path that has its own older redirect. It stops
    at the first target that answers, and gives up on a cycle or a target where nothing answers (a
    draft, a deleted page): a 301 there would only lead to a 404, and would name a draft's path.
    """
    seen, target = {path}, _rewrite(path)
    for _ in range(MAX_HOPS):
        if target is None or target in seen:
            return None
        if _answers_at(target):
            return target
        seen.add(target)
        target = _rewrite(target)
    return None


def _rewrite(path: str) -> str | None:
    """``path`` under the longest recorded old path it is or lies below, in one query; None if none."""
    from .models import PathRedirect

    row = (
        PathRedirect.objects.filter(old_path__in=ancestors(path))
        .order_by(Length("old_path").desc())
        .values_list("old_path", "new_path")
        .first()
    )
    if row is None:
        return None
    target = row[1] + path[len(row[0]) :]
    return target if target != path and is_well_formed(target) else None


def _answers_at(path: str) -> bool:
    """Does a section or a published page answer at ``path``? Only asked of a redirect's target."""
    if sections_at([path]):
        return True
    return any(kind.objects.published().filter(**page_lookup(path)).exists() for kind in _page_kinds())


def sections_at(candidates: Iterable[str]) -> set[str]:
    """Which of these paths a section already answers at, in one query (malformed ones: none)."""
    from .models import Section

    wanted = {path for path in candidates if is_well_formed(path)}  # a NUL would even break the query
    return set(Section.objects.filter(path__in=wanted).values_list("path", flat=True)) if wanted else set()


def pages_at(candidates: Iterable[str]) -> set[str]:
    """Which of these paths a page already answers at, in one query per page kind (malformed: none)."""
    wanted = {path for path in candidates if is_well_formed(path)}
    pairs = [split(path) for path in wanted]
    sections, slugs = {s for s, _ in pairs if s}, {slug for _, slug in pairs}
    if not sections:
        return set()
    found = set()
    for kind in _page_kinds():
        rows = kind.objects.filter(section__path__in=sections, slug__in=slugs)
        found |= {page_path(s, slug) for s, slug in rows.values_list("section__path", "slug")}
    return found & wanted


# --- Moving --------------------------------------------------------------------------------------


def _below(field: str, path: str) -> Q:
    """Rows whose ``field`` lies strictly below ``path``.

    The comparison on the prefix keeps the match case-sensitive where LIKE is not (SQLite).
    """
    prefix = path + SEPARATOR
    return Q(**{f"{field}__startswith": prefix}) & Q(Exact(Left(field, len(prefix)), prefix))


def _rerooted(field: str, old: str, new: str) -> Concat:
    """``field`` with its leading ``old`` replaced by ``new``, as an expression for one bulk UPDATE."""
    return Concat(Value(new), Substr(field, len(old) + 1), output_field=CharField())


def move_subtree(old: str, new: str) -> int:
    """Re-root every section below ``old`` at ``new`` in one UPDATE, after the section itself moved.

    Pages need nothing: their paths are derived from their section's. One redirect row from ``old``
    keeps every old URL of the subtree working.
    """
    from .models import Section

    moved = Section.objects.filter(_below("path", old)).update(path=_rerooted("path", old, new))
    record_move(old, new)
    return moved


def record_move(old: str, new: str) -> None:
    """Remember that what answered at ``old`` (and below it) answers at ``new`` now.

    Redirects that pointed into ``old`` are re-pointed in one UPDATE, so a lookup rarely needs two rows; one
    that now points to itself (a move back) is dropped, so the live node answers without a loop. A
    path moved away from twice keeps only its latest move.
    """
    from .models import PathRedirect

    if old == new:
        return
    with transaction.atomic(savepoint=False):
        into_old = PathRedirect.objects.filter(Q(new_path=old) | _below("new_path", old))
        into_old.update(new_path=_rerooted("new_path", old, new))
        PathRedirect.objects.filter(Q(old_path=F("new_path")) | Q(old_path=old)).delete()
        PathRedirect.objects.create(old_path=old, new_path=new)
