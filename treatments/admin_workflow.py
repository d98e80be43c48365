"""The page admin's editorial workflow: Save draft, Preview, Publish, history with Compare and Restore.

A mixin for ``TreatmentPageAdmin``: it changes how the change form saves (through
``treatments.workflow``, so a live page's content waits as a draft) and adds the preview, share,
compare and restore views. Templates are under ``templates/admin/treatments/treatmentpage/``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.views.decorators.http import require_POST
from reversion.models import Version
from taggit.models import Tag
from taggit.utils import edit_string_for_tags

from publications.admin_tools import check_changed_query, confirm_query_field
from publications.curation import typed_id

from . import diff, previews, review, revisions, scheduling, workflow
from .models import PageRevision, TreatmentPage, WebResource

ACTIONS = {
    **{"_save_draft": "draft", "_preview": "preview", "_publish": "publish", "_unpublish": "unpublish"},
    **{"_share": "share", "_reviewed": "reviewed"},  # the form's edits are saved first, as for Preview
}


class PageForm(forms.ModelForm):
    """Shows the draft when there is one; refuses to publish what cannot be published."""

    publishing = False  # set per request by the admin
    confirm_query = confirm_query_field()  # shown only when a changed query fails PubMed's check
    # What the form showed (``shown_version``), sent back with it: a save from a form opened before
    # someone else's save would silently put back what they changed.
    edited_from = forms.CharField(widget=forms.HiddenInput, required=False)
    # Shown only when the live page changed after the draft was started: ticked, Publish replaces that.
    replace_live = forms.BooleanField(
        required=False, widget=forms.HiddenInput, label="Publish anyway, replacing the live page's changes"
    )

    class Meta:
        model = TreatmentPage
        fields = [
            *["section", "slug", "title", "other_name", "label", "tags", "description", "pubmed_query"],
            *["publications_shown", "publish_at", "unpublish_at", "next_review_due"],
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        draft = self.instance.draft if self.instance.pk else None
        if draft and not self.is_bound:
            self.initial.update(
                {name: draft[name] for name in workflow.CONTENT_FIELDS if name in self.fields}
            )
            if "tags" in self.fields:
                self.initial["tags"] = edit_string_for_tags([Tag(name=name) for name in draft["tags"]])
        if self.instance.pk and not self.is_bound:
            self.initial["edited_from"] = self.shown_version()

    def shown_version(self) -> str:
        """A digest of what the form shows of the stored page: its working copy (the draft, or the live
        content), and its settings. Any save of the page by anyone changes it."""
        page = self.instance
        settings = {
            field.name: field.value_from_object(page)
            for field in page._meta.concrete_fields
            if field.name in self._meta.fields and field.name not in workflow.CONTENT_FIELDS
        }
        shown = json.dumps([workflow.working_content(page), settings], sort_keys=True, default=str)
        return hashlib.sha256(shown.encode()).hexdigest()[:32]

    def _latest_change(self) -> str:
        latest = revisions.history(self.instance.pk).first()
        if latest is None:
            return "Someone changed this page"
        who = latest.revision.user.get_username() if latest.revision.user else "an import or a task"
        return f"This page was changed by {who} at {timezone.localtime(latest.revision.date_created):%H:%M}"

    def clean_tags(self):
        """As the import checks them: a longer name than taggit's Tag keeps failed at publishing (500)."""
        tags = self.cleaned_data.get("tags") or []
        max_length = Tag._meta.get_field("name").max_length
        if too_long := [name for name in tags if len(name) > max_length]:
            raise forms.ValidationError(
                f"A tag must be at most {max_length} characters; this one has {len(too_long[0])}: "
                f"{too_long[0][:40]}…"
            )
        return tags

    def clean(self):
        cleaned = super().clean()
        sent = cleaned.get("edited_from")
        if self.instance.pk and sent and sent != self.shown_version():
            raise forms.ValidationError(
                f"{self._latest_change()} after you opened this form, so nothing was saved: saving "
                "would have put back what they changed. Your edits are still below: copy what you "
                "need, then reload the page to edit its latest version.",
                code="stale",
            )
        check_changed_query(self)  # a query PubMed rejects or warns about needs the editor's yes
        if self.publishing:
            content = {name: cleaned.get(name, "") for name in workflow.CONTENT_FIELDS}
            try:
                workflow.check_publishable(content)
            except workflow.NotPublishable as exc:
                raise forms.ValidationError(str(exc)) from None
            if self.instance.pk and not cleaned.get("replace_live"):
                try:
                    workflow.check_draft_current(self.instance)
                except workflow.LiveChangedSinceDraft as exc:
                    self.fields["replace_live"].widget = forms.CheckboxInput()
                    self.add_error("replace_live", str(exc))
        return cleaned


@dataclass(frozen=True)
class LinkRow:
    """A shown link's place in the working copy, and the stored row whose last check it shows."""

    index: int
    count: int
    url: str
    checked: WebResource | None  # None: a draft's new link, checked once it is published


class WebResourceFormSet(BaseInlineFormSet):
    """The links of the working copy: the draft's when there is one (as new rows), else the stored ones.

    Each shown link's form instance carries a ``LinkRow`` (``link_row``), for the inline's up and
    down buttons and its last check; a draft's link shows the check of the live link at its URL.
    """

    def __init__(self, *args, instance=None, **kwargs):
        draft = instance.draft if instance is not None and instance.pk else None
        self.draft_links = draft["web_resources"] if draft is not None else None
        if draft is not None:
            kwargs["queryset"] = WebResource.objects.none()
            kwargs["initial"] = [{**item, "position": i} for i, item in enumerate(draft["web_resources"])]
        super().__init__(*args, instance=instance, **kwargs)

    @cached_property
    def _shown_links(self) -> tuple[list[str], dict[str, WebResource]]:
        """The working copy's URLs in order, and the stored rows by URL (their last checks)."""
        if self.draft_links is None:
            stored = list(self.get_queryset())
            return [row.url for row in stored], {row.url: row for row in stored}
        live = WebResource.objects.filter(page=self.instance)
        return [item["url"] for item in self.draft_links], {row.url: row for row in live}

    def add_fields(self, form, index):
        super().add_fields(form, index)
        if self.is_bound or index is None or self.instance.pk is None:  # only a form shown afresh
            return
        urls, stored = self._shown_links
        if index < len(urls):
            form.instance.link_row = LinkRow(index, len(urls), urls[index], stored.get(urls[index]))

    def clean(self):
        """A URL listed twice is a slip, as the import says: links are matched by URL when they are saved
        (``workflow.replace_web_resources``), so the two were one link, and the page lost one or could
        not be saved again."""
        super().clean()
        urls = [item["url"] for item in self.resources()]
        if twice := next((url for url in urls if urls.count(url) > 1), None):
            raise forms.ValidationError(f"{twice} is listed twice: keep one of the two links.")

    def resources(self) -> list[dict]:
        """The links as the editor left them, in position order; a link without one goes last.

        Two links given one position keep the order of the form (``place`` numbers them apart).
        Unchanged draft rows come from initial.
        """
        items = []
        for index, form in enumerate(self.forms):
            data = getattr(form, "cleaned_data", None) or form.initial
            if not data or data.get("DELETE") or not data.get("url"):
                continue
            item = {name: data.get(name) or "" for name in workflow.RESOURCE_FIELDS}
            position = data.get("position")
            items.append((position is None, position or 0, index, item))
        return [item for *_, item in sorted(items, key=lambda entry: entry[:3])]


class PageWorkflowAdminMixin:
    form = PageForm
    change_form_template = "admin/treatments/treatmentpage/change_form.html"
    object_history_template = "admin/treatments/treatmentpage/history.html"

    @property
    def media(self):
        """The guard that asks before a button outside the page form leaves unsaved edits behind."""
        return super().media + forms.Media(js=["js/unsaved_changes.js"])

    # --- Saving through the workflow ------------------------------------------------------------

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.publishing = "_publish" in request.POST
        return form

    def get_object(self, request, object_id, from_field=None):
        """On a save, the page's row is locked until the save commits (the admin's change view is one
        transaction): of two saves from forms opened on the same version, the second then reads the
        first's and is refused (``edited_from``), instead of both passing the check at once."""
        if request.method == "POST" and (pk := typed_id(unquote(object_id))) is not None:
            TreatmentPage.objects.select_for_update().filter(
                pk=pk
            ).exists()  # waits for another save's commit
        return super().get_object(request, object_id, from_field)  # read after the lock: the latest

    def save_model(self, request, obj, form, change):
        """Settings are saved now; a live page's content is put back and waits in the draft."""
        if change and obj.published:
            stored = TreatmentPage.objects.get(pk=obj.pk)
            for name in workflow.CONTENT_FIELDS:
                setattr(obj, name, getattr(stored, name))
        scheduling.forget_failure(obj, form.changed_data)
        obj.save()

    def save_related(self, request, form, formsets, change):
        page = form.instance
        links = next(f for f in formsets if isinstance(f, WebResourceFormSet))
        curated = False
        for formset in formsets:  # the publication list: pin and hide apply at once, like settings
            if formset is not links:
                self.save_formset(request, form, formset, change)
                curated = curated or formset.has_changed()
        if curated and page.published:
            page.record_change(reason="content")
        links.new_objects, links.changed_objects, links.deleted_objects = [], [], []  # not saved as rows
        content = {name: form.cleaned_data.get(name, "") for name in workflow.CONTENT_FIELDS}
        content |= {"tags": form.cleaned_data.get("tags") or [], "web_resources": links.resources()}
        workflow.save_draft(page, content)
        action = self._action(request)
        if action == "publish":
            workflow.publish(page, replace_live=form.cleaned_data.get("replace_live", False))
        elif action == "unpublish":
            workflow.unpublish(page)

    def _action(self, request) -> str:
        return next((action for name, action in ACTIONS.items() if name in request.POST), "draft")

    def response_add(self, request, obj, post_url_continue=None):
        return self._after_save(request, obj)

    def response_change(self, request, obj):
        return self._after_save(request, obj)

    def _after_save(self, request, page):
        action = self._action(request)
        page.refresh_from_db()
        if action == "preview":
            return HttpResponseRedirect(self._url("preview", page.pk))
        if action == "share":
            return self._share(request, page)
        if action == "reviewed":
            return self._mark_reviewed(request, page)
        if action == "publish":
            messages.success(request, f"Published: readers see “{page}” now.")
        elif action == "unpublish":
            messages.success(request, f"Unpublished: readers no longer see “{page}”.")
        elif page.published and page.draft is not None:
            messages.success(
                request, "Draft saved. Readers still see the published version until you publish."
            )
        else:
            messages.success(request, "Draft saved.")
        return HttpResponseRedirect(self._url("change", page.pk))

    def get_view_on_site_url(self, obj=None):
        """Editors never land on a 404: a page readers cannot see yet opens in preview."""
        if obj is None or obj.pk is None:
            return None
        if not obj.published:
            return self._url("preview", obj.pk)
        try:
            return obj.get_absolute_url()
        except ObjectDoesNotExist:  # a deleted page being recovered, whose section is gone too
            return None

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context.update(
                page_state=workflow.State.LABELS[workflow.state(obj)],
                preview_url=self._url("preview", obj.pk),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- Views ----------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/preview/", view(self.preview_view), name=f"{name}_preview"),
            path("<path:object_id>/share/", view(self.share_view), name=f"{name}_share"),
            path("<path:object_id>/compare/", view(self.compare_view), name=f"{name}_compare"),
            path("<path:object_id>/reviewed/", view(self.reviewed_view), name=f"{name}_reviewed"),
            path(
                "<path:object_id>/restore/<int:revision_id>/", view(self.restore_view), name=f"{name}_restore"
            ),
            *super().get_urls(),
        ]

    def _url(self, view: str, object_id) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{view}", args=[object_id])

    def _page(self, request, object_id, *, change=False) -> TreatmentPage:
        page = get_object_or_404(TreatmentPage, pk=_id_or_404(unquote(object_id)))
        allowed = (
            self.has_change_permission(request, page)
            if change
            else self.has_view_or_change_permission(request, page)
        )
        if not allowed:
            raise PermissionDenied
        return page

    def preview_view(self, request, object_id):
        """The draft with the public template, exactly as readers will see it, marked as a preview."""
        return previews.render_preview(request, self._page(request, object_id))

    @method_decorator(require_POST)
    def share_view(self, request, object_id):
        return self._share(request, self._page(request, object_id, change=True))

    def _share(self, request, page):
        link = request.build_absolute_uri(previews.share_url(page))
        messages.success(
            request,
            f"Anyone with this link can read the draft for {previews.SHARE_DAYS} days: {link}",
        )
        return HttpResponseRedirect(self._url("change", page.pk))

    def revision_view(self, request, object_id, version_id, extra_context=None):
        """django-reversion's own revert page put a whole revision back at once, live, past the draft,
        and with every other page and section the revision held, whatever the editor's rights on them.
        Editors restore from History, into the draft (``restore_view``)."""
        page = self._page(request, object_id)
        return HttpResponseRedirect(self._url("history", page.pk))

    def recover_view(self, request, version_id, extra_context=None):
        """A deleted page back as it was: only a page's version, and only the page itself (its row, its
        links and its tags), never the rest of the revision it was last saved in (an import's holds
        every page it changed; reversion's recover reverted them all)."""
        version = get_object_or_404(
            Version,
            pk=_id_or_404(str(version_id)),
            content_type=ContentType.objects.get_for_model(TreatmentPage),
        )
        if TreatmentPage.objects.filter(pk=version.object_id).exists():
            messages.info(request, "That page is not deleted: here it is.")
            return HttpResponseRedirect(self._url("change", version.object_id))
        if not self.has_add_permission(request):  # change permission: checked by the change form
            raise PermissionDenied
        stored = version.field_dict
        taken = TreatmentPage.objects.filter(section_id=stored["section_id"], slug=stored["slug"]).first()
        if taken is not None:  # the recover form puts the row back to show it: the address must be free
            messages.error(
                request,
                f"“{taken}” has this page’s address now: give it another slug or section, then recover "
                f"“{version.object_repr}”.",
            )
            return HttpResponseRedirect(
                reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_recoverlist")
            )
        version.revision.revert = functools.partial(_recover_page_only, version)  # what reversion calls
        context = {"title": f"Recover {version.object_repr}", "recover": True, **(extra_context or {})}
        template = self.recover_form_template or self._reversion_get_template_list("recover_form.html")
        return self._reversion_revisionform_view(request, version, template, context)

    def history_view(self, request, object_id, extra_context=None):
        page = self._page(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "object": page,
            "title": f"History: {page}",
            "page_revisions": revisions.history(page.pk)[:200],
            "compare_url": self._url("compare", page.pk),
            "can_restore": self.has_change_permission(request, page),
        }
        return TemplateResponse(request, self.object_history_template, context)

    def compare_view(self, request, object_id):
        page = self._page(request, object_id)
        ids = [_id_or_404(value) for value in request.GET.getlist("revision")]
        chosen = PageRevision.objects.filter(page_pk=page.pk, pk__in=ids)
        chosen = sorted(chosen.select_related("revision__user"), key=lambda r: r.revision.date_created)
        if len(chosen) != 2:
            messages.error(request, "Choose two revisions to compare.")
            return HttpResponseRedirect(self._url("history", page.pk))
        old, new = chosen
        rows = diff.compare(revisions.as_snapshot(old), revisions.as_snapshot(new))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "object": page,
            "title": f"Compare revisions: {page}",
            "old": old,
            "new": new,
            "rows": rows,
            "history_url": self._url("history", page.pk),
            "can_restore": self.has_change_permission(request, page),
        }
        return TemplateResponse(request, "admin/treatments/treatmentpage/compare.html", context)

    @method_decorator(require_POST)
    def restore_view(self, request, object_id, revision_id):
        page = self._page(request, object_id, change=True)
        page_revision = PageRevision.objects.filter(page_pk=page.pk, pk=revision_id).first()
        if page_revision is None:
            raise Http404("No such revision of this page.")
        revisions.restore(page, page_revision, user=request.user)
        where = "as a draft: preview it, then Publish" if page.published else "into the page (not live yet)"
        messages.success(
            request, f"Restored the revision of {page_revision.revision.date_created:%Y-%m-%d %H:%M} {where}."
        )
        return HttpResponseRedirect(self._url("change", page.pk))

    @method_decorator(require_POST)
    def reviewed_view(self, request, object_id):
        return self._mark_reviewed(request, self._page(request, object_id, change=True))

    def _mark_reviewed(self, request, page):
        """The editor checked the text: "Page last reviewed" moves, the next review is due in a year."""
        review.mark_reviewed(page, request.user)
        messages.success(
            request, f"Marked as reviewed; the next review is due on {page.next_review_due:%d %B %Y}."
        )
        return HttpResponseRedirect(self._url("change", page.pk))


def _id_or_404(value: str) -> int:
    """A row id from a URL an editor may have typed: "abc", "²" or 20 digits are a 404, not a 500."""
    if (pk := typed_id(value)) is None:
        raise Http404("No such id.")
    return pk


def _recover_page_only(version: Version, delete: bool = False) -> None:
    """Of the revision ``version`` belongs to (its last save), revert the page's row and its own links
    alone, as they were; then its tags, as that save recorded them (``PageRevision``; taggit's rows are
    not versioned). The rest of the revision (an import's holds every page it changed) is left alone."""
    page_pk = int(version.object_id)
    version.revert()
    for link in version.revision.version_set.filter(
        content_type=ContentType.objects.get_for_model(WebResource)
    ):
        if link.field_dict.get("page_id") == page_pk:
            link.revert()
    recorded = PageRevision.objects.filter(page_pk=page_pk)
    if (then := recorded.filter(revision_id=version.revision_id).first() or recorded.first()) is not None:
        TreatmentPage.objects.get(pk=page_pk).tags.set(then.content.get("tags", []))
