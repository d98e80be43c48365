"""Every save of a page is a revision: who, when, what changed; any two compare, any one restores.

django-reversion stores the revisions (user, time, comment, serialized rows). Saves made in the
admin, by imports, by the schedule or through the model API all end up here: the admin and the
workflow open a revision themselves, and a save made outside one opens its own. When a revision
that touched a page is committed, a ``PageRevision`` records the page's content then and the
changes since the page's previous revision, in words for editors.
"""

from __future__ import annotations

import reversion
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from reversion.signals import post_revision_commit

from publications.models import PageListing

from . import diff, workflow
from .models import PageRevision, TreatmentPage, WebResource

reversion.register(TreatmentPage, follow=("web_resources",))
reversion.register(WebResource)


def snapshot(page: TreatmentPage) -> dict:
    """The page as a revision keeps it (``PageRevision``'s fields)."""
    curated = PageListing.objects.filter(Q(pinned=True) | Q(hidden=True), page=page)
    return {
        "content": workflow.working_content(page),
        "live": page.published,
        "has_draft": page.draft is not None,
        "curation": [
            {"publication": listing.publication_id, "title": listing.publication.title_text}
            | {"pinned": listing.pinned, "hidden": listing.hidden}
            for listing in curated.select_related("publication")
            .defer("publication__source_xml", "publication__rendered_entry", "publication__abstract")
            .order_by("publication_id")
        ],
    }


def history(page_pk: int):
    """The page's revisions, newest first, with who made them."""
    return PageRevision.objects.filter(page_pk=page_pk).select_related("revision__user")


def restore(page: TreatmentPage, page_revision: PageRevision, *, user=None) -> None:
    """Make an old revision's content the page's draft (in place, if the page is not live)."""
    when = page_revision.revision.date_created
    with reversion.create_revision():
        reversion.set_user(user)
        reversion.set_comment(f"Restored the revision of {when:%Y-%m-%d %H:%M}")
        workflow.save_draft(page, page_revision.content)
        reversion.add_to_revision(page)


# --- Recording ----------------------------------------------------------------------------------


@receiver(post_revision_commit)
def _record_pages(sender, revision, versions, **kwargs):
    pages = {}
    for version in versions:
        model = version.content_type.model_class()
        if model is TreatmentPage:
            pages[int(version.object_id)] = None
        elif model is WebResource:
            pages[version.field_dict.get("page_id") or version.field_dict.get("page")] = None
    for page in TreatmentPage.objects.filter(pk__in=[pk for pk in pages if pk]):
        _record(revision, page)


def _record(revision, page: TreatmentPage) -> None:
    now = snapshot(page)
    previous = PageRevision.objects.filter(page_pk=page.pk).exclude(revision=revision).first()
    changes = diff.describe(previous and as_snapshot(previous), now)
    PageRevision.objects.update_or_create(
        revision=revision, page_pk=page.pk, defaults={**now, "changes": changes}
    )
    if not revision.comment and changes:
        revision.comment = "; ".join(changes)[:1000]
        revision.save(update_fields=["comment"])


def as_snapshot(page_revision: PageRevision) -> dict:
    return {
        "content": page_revision.content,
        "live": page_revision.live,
        "has_draft": page_revision.has_draft,
        "curation": page_revision.curation,
    }


def _page_changed(page: TreatmentPage | None) -> None:
    """Add the page to the open revision, or open one: a save outside the admin is still a revision."""
    if page is None or page.pk is None:
        return
    if reversion.is_active():
        reversion.add_to_revision(page)
        return
    with reversion.create_revision():
        reversion.add_to_revision(page)


@receiver(post_save, sender=TreatmentPage)
def _page_saved(sender, instance, raw=False, **kwargs):
    if not raw:
        _page_changed(instance)


@receiver([post_save, post_delete], sender=WebResource)
def _resource_changed(sender, instance, raw=False, origin=None, **kwargs):
    """A link saved or deleted is an edit of its page; but not its deletion with the page itself (the
    delete's cascade, ``origin`` a page or pages): recorded, that made the page's last revision an empty
    one, and a recovered page came back without its links and tags."""
    if raw or isinstance(origin, TreatmentPage) or getattr(origin, "model", None) is TreatmentPage:
        return
    _page_changed(TreatmentPage.objects.filter(pk=instance.page_id).first())


@receiver(m2m_changed, sender=TreatmentPage.tags.through)
def _tags_changed(sender, instance, action, **kwargs):
    if action in ("post_add", "post_remove", "post_clear") and isinstance(instance, TreatmentPage):
        _page_changed(instance)


@receiver(post_save, sender=PageListing)
def _listing_curated(sender, instance, raw=False, **kwargs):
    """Pinning or hiding in the admin is part of the page's history; refreshes write in bulk, unseen."""
    if not raw and reversion.is_active():
        reversion.add_to_revision(instance.page)
