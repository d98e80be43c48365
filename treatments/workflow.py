"""Drafts and publishing: editors' changes wait until someone publishes; readers see what was published.

A live page's columns, tags and web resources are what readers see. Its unpublished changes wait in
``page.draft``, a content dict (``content_of``); a page never published is edited in place, since
readers cannot see it anyway. The admin, the publishing schedule, imports and restores all go
through these functions, so a draft behaves the same whoever makes it.

What a draft holds is the page's content: the text fields, tags and web resources (with their
order). Settings (address, PubMed query, number of publications shown, schedule) apply at once.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass

import reversion
from django.db import transaction
from django.utils import timezone

from . import sanitize
from .models import TreatmentPage, WebResource

CONTENT_FIELDS = ("title", "other_name", "label", "description")
RESOURCE_FIELDS = ("title", "url", "note")


class NotPublishable(Exception):
    """The content cannot go live as it is; the message says what to fix."""


class State:
    """What the change list shows and filters by."""

    DRAFT = "draft"
    PUBLISHED = "published"
    CHANGED = "changed"
    SCHEDULED = "scheduled"
    LABELS = {
        DRAFT: "Draft",
        PUBLISHED: "Published",
        CHANGED: "Published, with unpublished changes",
        SCHEDULED: "Scheduled",
    }


def content_of(page: TreatmentPage) -> dict:
    """The content readers see (or would see): text fields, tag names, web resources in order."""
    return {
        **{name: getattr(page, name) for name in CONTENT_FIELDS},
        "tags": sorted(page.tags.names()) if page.pk else [],
        "web_resources": [
            {name: getattr(resource, name) for name in RESOURCE_FIELDS}
            for resource in page.web_resources.all()
        ]
        if page.pk
        else [],
    }


def working_content(page: TreatmentPage) -> dict:
    """What editors are working on: the draft if there is one, else what is live."""
    return copy.deepcopy(page.draft) if page.draft is not None else content_of(page)


def state(page: TreatmentPage) -> str:
    if page.publish_at is not None:
        return State.SCHEDULED
    if not page.published:
        return State.DRAFT
    return State.CHANGED if page.draft is not None else State.PUBLISHED


def normalize(content: dict) -> dict:
    """A content dict with every key, cleaned the way saving cleans it, so equal means unchanged."""
    out = {name: (content.get(name) or "") for name in CONTENT_FIELDS}
    out["description"] = sanitize.clean_rich_text(out["description"])
    out["tags"] = sorted({str(tag).strip() for tag in content.get("tags", []) if str(tag).strip()})
    out["web_resources"] = [
        {name: (resource.get(name) or "") for name in RESOURCE_FIELDS}
        for resource in content.get("web_resources", [])
    ]
    return out


@transaction.atomic
def save_draft(page: TreatmentPage, content: dict) -> None:
    """Keep ``content`` as the page's draft; a page that is not live takes it at once.

    A new draft remembers the live content it started from (``draft_base``), which later saves of the
    draft keep: ``check_draft_current`` compares it with what is live when the draft is published.
    """
    content = normalize(content)
    with reversion.create_revision():
        if not page.published:
            page.draft, page.draft_base = None, ""  # one left by Unpublish: the page itself is the draft
            _write(page, content)
        else:
            live = content_of(page)
            if content == live:
                page.draft, page.draft_base = None, ""
            else:
                if page.draft is None or not page.draft_base:
                    page.draft_base = content_digest(live)
                page.draft = content
            page.save(update_fields=["draft", "draft_base"])
            reversion.add_to_revision(page)


def content_digest(content: dict) -> str:
    """Equal for equal content, however it was written (``normalize``)."""
    return hashlib.sha256(json.dumps(normalize(content), sort_keys=True).encode()).hexdigest()[:32]


class LiveChangedSinceDraft(NotPublishable):
    """The live page changed after its draft was started: publishing the draft would undo that."""


def draft_is_current(page: TreatmentPage) -> bool:
    """Is the live content still what the page's draft started from? (Yes with no draft, and for a draft
    from before ``draft_base`` existed: it cannot be told.)"""
    return page.draft is None or not page.draft_base or content_digest(content_of(page)) == page.draft_base


def check_draft_current(page: TreatmentPage) -> None:
    """Raise LiveChangedSinceDraft if the live content is no longer what the draft started from (an
    import, or a restore published since)."""
    if not draft_is_current(page):
        raise LiveChangedSinceDraft(
            "The live page changed after this draft was started (an import, or another change published "
            "since): publishing the draft would put back its older text, tags or links there. Compare "
            "the two in History, bring into the draft what should stay, then tick Publish anyway."
        )


@transaction.atomic
def publish(page: TreatmentPage, *, at=None, replace_live: bool = False) -> None:
    """Make the working content live; raises NotPublishable if it cannot be, LiveChangedSinceDraft if the
    live page changed after the draft was started, unless ``replace_live`` (the editor said so)."""
    content = working_content(page)
    check_publishable(content)
    if not replace_live:
        check_draft_current(page)
    at = at or timezone.now()
    with reversion.create_revision():
        page.published, page.draft, page.publish_at, page.schedule_error = True, None, None, ""
        page.draft_base = ""
        page.first_published_at = page.first_published_at or at
        page.last_published_at = at
        _write(page, normalize(content))
    page.record_change(reason="content", at=at)


@transaction.atomic
def unpublish(page: TreatmentPage) -> None:
    """Take the page off the site; its content and any draft are kept for editors."""
    with reversion.create_revision():
        page.published, page.unpublish_at = False, None
        page.save(update_fields=["published", "unpublish_at"])
        reversion.add_to_revision(page)
    page.record_change(reason="content")


def check_publishable(content: dict) -> None:
    problems = []
    if not (content.get("title") or "").strip():
        problems.append("a title")
    if sanitize.is_blank_rich_text(content.get("description") or ""):
        problems.append("a description")
    if problems:
        raise NotPublishable(f"The page needs {' and '.join(problems)} before it can be published.")


def _write(page: TreatmentPage, content: dict) -> None:
    """Put ``content`` into the page's columns, tags and web resources (readers see it if live)."""
    for name in CONTENT_FIELDS:
        setattr(page, name, content[name])
    page.save()
    page.tags.set(content["tags"])
    replace_web_resources(page, content["web_resources"])
    reversion.add_to_revision(page)


def replace_web_resources(page: TreatmentPage, wanted: list[dict]) -> None:
    """Make the page's links exactly ``wanted``, in order; links are matched by URL, so rows survive."""
    existing = {resource.url: resource for resource in page.web_resources.all()}
    page.web_resources.exclude(url__in=[item["url"] for item in wanted]).delete()
    rows = []
    for item in wanted:
        resource = existing.get(item["url"]) or WebResource(page=page, url=item["url"])
        for name in RESOURCE_FIELDS:
            setattr(resource, name, item.get(name, ""))
        rows.append(resource)
    WebResource.objects.place(page, rows)


def move_web_resource(page: TreatmentPage, index: int, offset: int, *, url: str) -> bool:
    """Move the working copy's link at ``index`` up (-1) or down (+1): saved like any edit, a draft if live.

    ``url`` is the link the editor saw there; if the list changed since, nothing moves (False).
    """
    content = working_content(page)
    links, target = content["web_resources"], index + offset
    if not (0 <= index < len(links) and 0 <= target < len(links)) or links[index]["url"] != url:
        return False
    links[index], links[target] = links[target], links[index]
    save_draft(page, content)
    return True


@dataclass
class Preview:
    """A page as it would look published: an unsaved copy with the working content, for the template."""

    page: TreatmentPage
    web_resources: list[WebResource]
    tags: list[str]


def preview(page: TreatmentPage) -> Preview:
    content = working_content(page)
    shown = copy.copy(page)
    for name in CONTENT_FIELDS:
        setattr(shown, name, content[name])
    resources = [
        WebResource(page=page, position=i, **item) for i, item in enumerate(content["web_resources"])
    ]
    return Preview(page=shown, web_resources=resources, tags=content["tags"])
