from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from reversion.admin import VersionAdmin
from taggit.admin import TagAdmin as TaggitTagAdmin
from taggit.forms import MergeTagsForm
from taggit.models import Tag

from publications.admin import ERROR_CHARS_IN_LIST, PageListingInline, last_check_column, recent_runs_table
from publications.admin_curation import PageCurationAdminMixin
from publications.admin_tools import PubmedToolsAdminMixin, refresh_now_action
from publications.curation import typed_id
from publications.models import PageListing, RefreshRun

from . import cache, paths, workflow  # revisions first: it registers the models with django-reversion
from .admin_actions import mark_reviewed_action
from .admin_filters import (
    BrokenLinksFilter,
    LastRefreshFilter,
    RetractedFilter,
    ReviewDueFilter,
    StateFilter,
    schedule_column,
    schedule_status,
    schedule_warnings,
)
from .admin_links import LinkAdminMixin
from .admin_workflow import PageWorkflowAdminMixin, WebResourceFormSet
from .forms import RichTextFormField
from .models import Feedback, LinkStatus, PathRedirect, Section, TreatmentPage, WebResource

# What a page owns and takes with it when an editor deletes it: editors need no permission of their
# own on these (votes and refresh history are not theirs to delete one by one).
OWNED_BY_PAGE = {model._meta.verbose_name for model in (Feedback, RefreshRun, PageListing, WebResource)}


@admin.register(Section)
class SectionAdmin(VersionAdmin):
    """Sections keep their history to read; django-reversion's revert and recover pages are not offered:
    they put back the whole revision a version belongs to (an import's holds pages too, past their
    drafts), and a raw revert of a slug would leave the paths below it behind."""

    list_display = ["title", "path", "position"]
    list_editable = ["position"]
    search_fields = ["title", "path"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["path"]
    list_select_related = ["parent"]
    ordering = ["path"]
    formfield_overrides = {models.TextField: {"form_class": RichTextFormField}}

    def revision_view(self, request, object_id, version_id, extra_context=None):
        messages.info(request, "To bring back an old version of a section, change it here.")
        return redirect("admin:treatments_section_change", object_id)

    def recover_view(self, request, version_id, extra_context=None):
        messages.info(request, "A deleted section (it had no pages) is added again like a new one.")
        return redirect("admin:treatments_section_changelist")


class WebResourceInline(admin.TabularInline):
    """The working copy's links, with up and down buttons and what the link checker last found.

    The buttons post to ``admin_links`` views through the "link-actions" form (``change_form.html``).
    """

    model = WebResource
    formset = WebResourceFormSet
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = ["position", "title", "url", "note", "order", "link_check"]
    readonly_fields = ["order", "link_check"]
    can_change = False  # set per request: this instance serves one request

    def get_extra(self, request, obj=None, **kwargs):
        """One blank row; with a draft, one row per draft link as well (they are shown as new rows)."""
        return 1 + (len(obj.draft["web_resources"]) if obj is not None and obj.draft else 0)

    def get_formset(self, request, obj=None, **kwargs):
        self.can_change = obj is not None and obj.pk is not None and self.has_change_permission(request, obj)
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="move")
    def order(self, resource):
        row = getattr(resource, "link_row", None)
        if row is None or not self.can_change:
            return ""
        url = reverse("admin:treatments_treatmentpage_move_link", args=[resource.page_id])
        moves = [("up", "↑", row.index > 0), ("down", "↓", row.index < row.count - 1)]
        return format_html_join(
            " ",
            '<button type="submit" form="link-actions" formaction="{}" name="move" value="{} {} {}" '
            'title="Move {}" aria-label="Move {} {}">{}</button>',
            (
                (url, direction, row.index, row.url, direction, direction, row.url, arrow)
                for direction, arrow, possible in moves
                if possible
            ),
        )

    @admin.display(description="last check")
    def link_check(self, resource):
        row = getattr(resource, "link_row", None)
        if row is None:
            return ""
        checked = row.checked
        if checked is None:
            return "Checked once published."
        if not checked.last_status:
            return "Not checked yet."
        when = f"{timezone.localtime(checked.last_checked_at):%Y-%m-%d %H:%M}"
        if checked.broken_since is not None:
            since = f"{timezone.localtime(checked.broken_since):%Y-%m-%d %H:%M}"
            return format_html(
                "<strong>Broken since {}</strong>: {}<br><small>checked {}</small>",
                since,
                checked.last_error,
                when,
            )
        if checked.last_status != LinkStatus.REDIRECT:
            return format_html("OK (HTTP {})<br><small>checked {}</small>", checked.last_http_status, when)
        accept = (
            format_html(
                '<br><button type="submit" form="link-actions" formaction="{}" name="resource" value="{}">'
                "Use the new URL</button>",
                reverse("admin:treatments_treatmentpage_accept_redirect", args=[resource.page_id]),
                checked.pk,
            )
            if self.can_change
            else ""
        )
        return format_html(
            'Moved permanently to <a href="{}" rel="noopener noreferrer">{}</a>{}'
            "<br><small>checked {}</small>",
            checked.redirect_to,
            checked.redirect_to,
            accept,
            when,
        )


@admin.register(TreatmentPage)
class TreatmentPageAdmin(
    PubmedToolsAdminMixin, LinkAdminMixin, PageCurationAdminMixin, PageWorkflowAdminMixin, VersionAdmin
):
    """Pages go through the editorial workflow (``admin_workflow``): drafts, preview, publish, history."""

    list_display = [
        "display_title",
        "section",
        "state",
        schedule_column,
        "content_changed_at",
        "last_refresh",
        last_check_column,
    ]
    list_filter = [
        StateFilter,
        ReviewDueFilter,
        LastRefreshFilter,
        BrokenLinksFilter,
        RetractedFilter,
        "section",
        "tags",
    ]
    actions = [mark_reviewed_action, refresh_now_action]
    search_fields = ["title", "other_name", "label", "tags__name", "pubmed_query"]
    list_select_related = ["section"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = [
        "content_changed_at",
        "list_refreshed_at",
        "created_at",
        "recent_refreshes",
        "reader_feedback",
        "first_published_at",
        "last_published_at",
        "schedule_status_display",
        "last_reviewed_at",
        "last_reviewed_by",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "section",
                    "title",
                    "other_name",
                    "slug",
                    "label",
                    "tags",
                    "edited_from",
                    "replace_live",
                ]
            },
        ),
        ("Content", {"fields": ["description"]}),
        ("Latest research", {"fields": ["pubmed_query", "publications_shown", "recent_refreshes"]}),
        ("Schedule", {"fields": ["publish_at", "unpublish_at", "schedule_status_display"]}),
        ("Review", {"fields": ["last_reviewed_at", "last_reviewed_by", "next_review_due"]}),
        (
            "History",
            {
                "fields": [
                    "created_at",
                    "first_published_at",
                    "last_published_at",
                    "content_changed_at",
                    "list_refreshed_at",
                    "reader_feedback",
                ]
            },
        ),
    ]
    inlines = [WebResourceInline, PageListingInline]
    formfield_overrides = {
        models.CharField: {"widget": forms.TextInput(attrs={"size": 80})},
        models.TextField: {"form_class": RichTextFormField},
    }

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(**RefreshRun.objects.latest_annotations())

    @admin.display(description="last refresh", ordering="last_refresh_started")
    def last_refresh(self, page):
        if not page.last_refresh_status:
            return "never"
        when = f"{timezone.localtime(page.last_refresh_started):%Y-%m-%d %H:%M}"
        if page.last_refresh_status == "failed":  # shortened as in the runs' list: the run has all of it
            error = Truncator(page.last_refresh_error).chars(ERROR_CHARS_IN_LIST)
            return format_html('<strong class="errornote">failed {}</strong>: {}', when, error)
        return f"{page.last_refresh_status} {when}"

    @admin.display(description="found this page useful?")
    def reader_feedback(self, page):
        votes = page.feedback.summary() if page.pk else {"yes": 0, "no": 0}
        return f"{votes['yes']} yes, {votes['no']} no"

    @admin.display(description="recent refreshes")
    def recent_refreshes(self, page):
        return recent_runs_table(page) if page.pk else "Not refreshed yet: save the page first."

    @admin.display(description="state")
    def state(self, page):
        return workflow.State.LABELS[workflow.state(page)]

    @admin.display(description="schedule")
    def schedule_status_display(self, page):
        return schedule_status(page) or "Nothing scheduled."

    def changelist_view(self, request, extra_context=None):
        for warning in schedule_warnings():  # a schedule that did not fire is never silent
            self.message_user(request, warning, messages.WARNING)
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return queryset, may_have_duplicates  # tags__name joins: Django de-duplicates when it must

    def get_deleted_objects(self, objs, request):
        """A page's votes, refresh history, list and links go with it, whoever may delete pages."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, perms_needed - OWNED_BY_PAGE, protected


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["page", "day", "useful", "missing"]
    list_filter = ["useful", "day"]
    list_select_related = ["page"]
    search_fields = ["missing", "page__title"]
    readonly_fields = ["page", "day", "visitor", "useful", "missing", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(PathRedirect)
class PathRedirectAdmin(admin.ModelAdmin):
    """Old URLs kept alive by moves and renames: recorded, never typed, so editors only see and delete."""

    list_display = ["old_url", "new_url", "created_at"]
    search_fields = ["old_path", "new_path"]
    date_hierarchy = "created_at"
    readonly_fields = ["old_path", "new_path", "created_at"]

    @admin.display(description="old URL", ordering="old_path")
    def old_url(self, redirect):
        return paths.reader_url(redirect.old_path)

    @admin.display(description="now answers at", ordering="new_path")
    def new_url(self, redirect):
        url = paths.reader_url(redirect.new_path)
        return format_html('<a href="{}">{}</a>', url, url)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


admin.site.unregister(Tag)


@admin.register(Tag)
class TagAdmin(TaggitTagAdmin):
    """Tags as editors use them: a name and the pages that carry it.

    taggit's own admin edits tagged items of any content type, which showed editors other models'
    rows (users, schedules) by name; here they see only treatment pages, read only.
    """

    inlines = []
    fields = ["name", "slug", "pages"]
    readonly_fields = ["pages"]

    def merge_tags_view(self, request):
        """taggit's "Merge selected tags", with what it lacks.

        - Merged into one of the selected tags, it took each page's link to that tag for a duplicate of
          itself and deleted it: every page lost the tag. The target is left out of what is merged.
        - It checked only that the user is staff: merging needs the right to change tags.
        - A selection gone stale (a tag deleted since, or none chosen) was a server error: a message now.
        - It moves the pages' tagged items one by one, saving no page and no tag, so nothing purged what
          readers see: like a rename, a merge purges every page.
        """
        if request.method == "POST":
            if not self.has_change_permission(request):
                raise PermissionDenied
            form = MergeTagsForm(request.POST)
            target = form.is_valid() and Tag.objects.filter(name=form.cleaned_data["new_tag_name"]).first()
            chosen = [typed_id(value) for value in request.session.get("selected_tag_ids", "").split(",")]
            merged = Tag.objects.filter(pk__in=[pk for pk in chosen if pk]).exclude(
                pk=target.pk if target else None
            )
            if form.is_valid() and not merged.exists():
                request.session.pop("selected_tag_ids", None)
                self.message_user(request, "Choose at least one other tag to merge into it.", messages.ERROR)
                return redirect("..")
            request.session["selected_tag_ids"] = ",".join(
                str(pk) for pk in merged.values_list("pk", flat=True)
            )
        response = super().merge_tags_view(request)
        if request.method == "POST":
            cache.purge_on_commit(None)  # after the merge: a reader's request before it is not kept
        return response

    @admin.display(description="pages with this tag")
    def pages(self, tag):
        pages = TreatmentPage.objects.filter(tags=tag).select_related("section").order_by("title")
        links = (
            [
                format_html(
                    '<li><a href="{}">{}</a></li>',
                    reverse("admin:treatments_treatmentpage_change", args=[p.pk]),
                    p,
                )
                for p in pages
            ]
            if tag.pk
            else []
        )
        return (
            format_html("<ul>{}</ul>", format_html_join("", "{}", ((link,) for link in links)))
            if links
            else "None"
        )
