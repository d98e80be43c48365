"""What changed between two revisions of a page, in words and as a readable side-by-side diff.

Works on ``treatments.revisions.snapshot`` dicts (content, live, has_draft, curation), so the
history list, the compare view and the tests read the same answer.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass

from django.utils.html import format_html, strip_tags
from django.utils.safestring import SafeString, mark_safe

LABELS = {"title": "Title", "other_name": "Other name", "label": "Label", "description": "Description"}
_BLOCK_END = re.compile(r"</(p|h[1-6]|li|blockquote)>|<br\s*/?>", re.IGNORECASE)
_WORDS = re.compile(r"\S+|\s+")


def describe(old: dict | None, new: dict) -> list[str]:
    """The changes from ``old`` to ``new`` as short lines ("Description changed", "Tag added: IL-2")."""
    if old is None:
        return ["Created" + (" and published" if new["live"] else " as a draft")]
    lines = [f"{LABELS[name]} changed" for name in LABELS if old["content"][name] != new["content"][name]]
    lines += _set_changes("Tag", old["content"]["tags"], new["content"]["tags"])
    added, removed, changed, moved = _resource_changes(old["content"], new["content"])
    lines += [f"Web resource added: {title}" for title in added]
    lines += [f"Web resource removed: {title}" for title in removed]
    lines += [f"Web resource changed: {title}" for title in changed]
    lines += ["Web resources reordered"] if moved else []
    lines += _curation_changes(old["curation"], new["curation"])
    if old["live"] != new["live"]:
        lines.append("Published" if new["live"] else "Unpublished")
    elif new["live"] and old["has_draft"] and not new["has_draft"]:
        lines.append("Published")
    elif new["has_draft"] and lines and not old["has_draft"]:
        lines.append("Saved as a draft")
    return lines


def _set_changes(noun: str, old: list, new: list) -> list[str]:
    return [f"{noun} added: {item}" for item in new if item not in old] + [
        f"{noun} removed: {item}" for item in old if item not in new
    ]


def _resource_changes(old: dict, new: dict):
    before = {item["url"]: item for item in old["web_resources"]}
    after = {item["url"]: item for item in new["web_resources"]}
    added = [item["title"] for url, item in after.items() if url not in before]
    removed = [item["title"] for url, item in before.items() if url not in after]
    changed = [item["title"] for url, item in after.items() if url in before and before[url] != item]
    kept_before = [url for url in before if url in after]
    kept_after = [url for url in after if url in before]
    return added, removed, changed, kept_before != kept_after


def _curation_changes(old: list, new: list) -> list[str]:
    before = {entry["publication"]: entry for entry in old}
    after = {entry["publication"]: entry for entry in new}
    lines = []
    for key in sorted(set(before) | set(after)):
        was, now = before.get(key, {}), after.get(key, {})
        title = (now or was)["title"][:80]
        for flag, on, off in (("pinned", "Pinned", "Unpinned"), ("hidden", "Hidden", "Shown again")):
            if bool(was.get(flag)) != bool(now.get(flag)):
                lines.append(f"{on if now.get(flag) else off}: {title}")
    return lines


# --- Compare view -------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the compare table: what, before, after (HTML, escaped)."""

    label: str
    before: SafeString
    after: SafeString


def compare(old: dict, new: dict) -> list[Row]:
    """Field-by-field rows for what differs between two snapshots; the description word by word."""
    rows = []
    for name, label in LABELS.items():
        a, b = old["content"][name], new["content"][name]
        if a == b:
            continue
        if name == "description":
            rows.append(Row(label, *text_diff(rich_text_as_lines(a), rich_text_as_lines(b))))
        else:
            rows.append(Row(label, format_html("<del>{}</del>", a), format_html("<ins>{}</ins>", b)))
    tags = _set_changes("Tag", old["content"]["tags"], new["content"]["tags"])
    added, removed, changed, moved = _resource_changes(old["content"], new["content"])
    if tags:
        rows.append(Row("Tags", _joined(old["content"]["tags"]), _joined(new["content"]["tags"])))
    if added or removed or changed or moved:
        rows.append(Row("Web resources", _resources(old["content"]), _resources(new["content"])))
    if old["live"] != new["live"]:
        rows.append(Row("On the site", _yes_no(old["live"]), _yes_no(new["live"])))
    if curation := _curation_changes(old["curation"], new["curation"]):
        rows.append(Row("Publication list", mark_safe(""), _joined(curation)))
    return rows


def rich_text_as_lines(value: str) -> str:
    """Rich text as plain text, one paragraph a line, for a diff editors can read."""
    return html.unescape(strip_tags(_BLOCK_END.sub("\n", value))).strip()


def text_diff(a: str, b: str) -> tuple[SafeString, SafeString]:
    """Both texts with the words only one of them has marked: <del> in the old, <ins> in the new."""
    old_words, new_words = _WORDS.findall(a), _WORDS.findall(b)
    before, after = [], []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, old_words, new_words, autojunk=False
    ).get_opcodes():
        old_part, new_part = html.escape("".join(old_words[i1:i2])), html.escape("".join(new_words[j1:j2]))
        if op == "equal":
            before.append(old_part)
            after.append(new_part)
            continue
        if old_part:
            before.append(_marked("del", old_part))
        if new_part:
            after.append(_marked("ins", new_part))
    return _paragraphs("".join(before)), _paragraphs("".join(after))


def _marked(tag: str, part: str) -> str:
    """``part`` in ``tag``, line by line: each line becomes a paragraph of its own (``_paragraphs``), and a
    tag left open across one paragraph's end is closed there by the browser, unmarking the rest."""
    return "\n".join(f"<{tag}>{line}</{tag}>" if line.strip() else line for line in part.split("\n"))


def _paragraphs(marked: str) -> SafeString:
    return mark_safe("".join(f"<p>{line}</p>" for line in marked.split("\n") if line.strip()))  # noqa: S308


def _joined(items: list[str]) -> SafeString:
    return format_html("{}", ", ".join(items) or "none")


def _resources(content: dict) -> SafeString:
    items = "".join(
        str(format_html("<li>{} <small>{}</small></li>", item["title"], item["url"]))
        for item in content["web_resources"]
    )
    return mark_safe(f"<ol>{items}</ol>")  # noqa: S308  (every part escaped by format_html)


def _yes_no(value: bool) -> SafeString:
    return format_html("{}", "yes" if value else "no")
