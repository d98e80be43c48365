"""`python manage.py import_pages FILE.json`: create or update sections, pages and web resources.

The work is in ``treatments.importer`` (shared with load_demo and the tests): it plans what the file
would change and applies that plan. This command prints the plan (``--check`` stops there, writing
nothing), so an editor sees every page and field an import touches before and after it runs.
"""

import difflib
import json
import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from treatments import importer
from treatments.importer import FieldChange, ImportPlan, LinkPlan, PagePlan, ResourcesPlan, SectionPlan

# A text diff longer than this is summarised as a character count: past it, nobody reads a terminal diff.
MAX_DIFF_LINES = 12
# Rich text is diffed a sentence or block a line, so one edited sentence is one -/+ pair.
_BLOCK_END = re.compile(r"(</(?:p|li|ul|ol|h[1-6]|blockquote|div|table|tr)>|<br\s*/?>)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class Command(BaseCommand):
    help = "Create or update sections, treatment pages and their web resources from a JSON file."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The JSON file to import.")
        parser.add_argument(
            "--check", action="store_true", help="Print what the import would change; change nothing."
        )
        parser.add_argument(
            "--replace-links",
            action="store_true",
            help="On every page that lists web_resources, remove the links the file does not list "
            "(by default they are kept, after the file's links).",
        )

    def handle(self, *args, file, check, replace_links, **options):
        try:
            data = importer.load(file)
            if check:
                summary = importer.plan(data, replace_links=replace_links).summary()
            else:
                summary = importer.apply(data, replace_links=replace_links, source=Path(file).name)
        except importer.ImportFileError as exc:
            raise CommandError(str(exc)) from None
        except importer.InvalidImport as exc:
            for error in exc.errors:  # one per line, so an editor can fix the file in one pass
                self.stderr.write(error)
            raise CommandError(f"{file}: {len(exc.errors)} error(s), nothing imported") from None
        if check or summary.changed:
            for line in report(summary.plan):
                self.stdout.write(line)
        if check:
            self.stdout.write(f"If imported: {summary}")
            self.stdout.write(self.style.SUCCESS(f"{file}: valid; checked only, nothing was written."))
        else:
            self.stdout.write(self.style.SUCCESS(str(summary)))


# --- The report: the plan in words ---------------------------------------------------------------


def report(plan: ImportPlan) -> list[str]:
    """The links rule in force, then each section and page the import changes (unchanged ones are counted)."""
    lines = [_links_rule(plan)]
    for section in plan.sections:
        lines += _section_lines(section) if section.changed else []
    for page in plan.pages:
        lines += _page_lines(page) if page.changed else []
    return lines


def _links_rule(plan: ImportPlan) -> str:
    """Whether links the file does not list are kept or removed, and where: the choice --check must show."""
    if plan.replace_links:
        return (
            "Web resources not in the file: removed, on every page that lists web_resources "
            "(--replace-links)."
        )
    replacing = [page.path for page in plan.pages if page.resources is not None and page.resources.replace]
    if replacing:
        return (
            "Web resources not in the file: kept, after the file's links, except on the pages that set "
            f'"replace_web_resources": true: {", ".join(replacing)}.'
        )
    return (
        "Web resources not in the file: kept, after the file's links (to remove them, pass "
        '--replace-links or set "replace_web_resources": true on the page).'
    )


def _section_lines(section: SectionPlan) -> list[str]:
    if section.created:
        return [f"section {section.path}: created"]
    return [f"section {section.path}: updated", *_changes_lines(section.changes)]


def _page_lines(page: PagePlan) -> list[str]:
    """A created page in one line; an updated one with every field, tag and link that changes."""
    if page.created:
        state = "published" if page.values.get("published") else "not published"
        tags = len(page.tags or [])
        links = len(page.resources.links) if page.resources else 0
        return [
            f"page {page.path}: created ({state}, {_count(tags, 'tag')}, {_count(links, 'web resource')})"
        ]
    lines = [f"page {page.path}: updated", *_changes_lines(page.changes)]
    if page.tags_added:
        lines.append(f"  tags added: {', '.join(page.tags_added)}")
    if page.tags_removed:
        lines.append(f"  tags removed: {', '.join(page.tags_removed)}")
    if page.resources is not None:
        lines += _resources_lines(page.resources)
    if page.page.published and page.page.draft is not None and page.page.draft_base:  # it will ask
        lines.append(
            "  note: an editor's unpublished draft of this page is left as it is; publishing it will ask "
            "first, since it was started before this import"
        )
    return lines


def _resources_lines(resources: ResourcesPlan) -> list[str]:
    """Links added, updated, removed and kept, and whether the ones that stay change order."""
    lines = []
    for heading, links, mark in (
        ("web resources added", resources.added, "+"),
        ("web resources updated", resources.updated, "~"),
    ):
        if links:
            lines += [f"  {heading}:", *(f"    {mark} {_link(link)}" for link in links)]
    if resources.removed:
        lines.append("  web resources removed (not in the file, which replaces the list):")
        lines += [f'    - "{resource.title}" <{resource.url}>' for resource in resources.removed]
    if resources.kept:
        lines.append("  web resources kept (not in the file; placed after the file's links):")
        lines += [f"    = {_link(link)}" for link in resources.kept]
    if resources.reordered:
        lines.append("  web resources reordered: the file's links in file order, then the kept ones")
    return lines


def _link(link: LinkPlan) -> str:
    """A link as ``"Title" <url>``, with what an update changes in it."""
    text = f'"{link.values["title"]}" <{link.values["url"]}>'
    if link.resource is not None and link.edited:
        text += ": " + ", ".join(f"{c.name} {_shown(c.old)} -> {_shown(c.new)}" for c in link.edited)
    return text


def _changes_lines(changes: list[FieldChange]) -> list[str]:
    lines = []
    for change in changes:
        if change.name in importer.RICH_TEXT_FIELDS:
            lines += _text_change_lines(change)
        else:
            lines.append(f"  {change.name}: {_shown(change.old)} -> {_shown(change.new)}")
    return lines


def _text_change_lines(change: FieldChange) -> list[str]:
    """Rich text as a short diff (a sentence or block a line), or only its length if the diff is long."""
    old, new = change.old or "", change.new or ""
    summary = f"  {change.name}: changed ({len(old)} characters -> {len(new)})"
    diff = [
        line
        for line in difflib.unified_diff(_text_lines(old), _text_lines(new), lineterm="", n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]
    if not diff or len(diff) > MAX_DIFF_LINES:
        return [summary]
    return [summary + ":"] + [f"    {line[0]} {line[1:]}" for line in diff]


def _text_lines(html: str) -> list[str]:
    lines = []
    for block in _BLOCK_END.sub(r"\1\n", html).splitlines():
        lines += [part for part in _SENTENCE_END.split(block.strip()) if part]
    return lines


def _shown(value) -> str:
    """A value as the file would spell it: "text", true, 30."""
    return json.dumps(value, ensure_ascii=False)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
