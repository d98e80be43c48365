from django import forms
from django.contrib import admin, messages
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from reversion.admin import VersionAdmin
from taggit.admin import TagAdmin as TaggitTagAdmin
from taggit.models import Tag

from publications.admin import PageListingInline, recent_runs_table
from publications.models import PageListing, RefreshRun

from . import workflow  # revisions first: it registers the models with django-reversion
from .admin_actions import mark_reviewed_action
from .admin_filters import ReviewDueFilter, StateFilter, schedule_column, schedule_status, schedule_warnings
from .admin_workflow import PageWorkflowAdminMixin, WebResourceFormSet
from .forms import RichTextFormField
from .models import Feedback, PathRedirect, Section, TreatmentPage, WebResource

# What a page owns and takes with it when an editor deletes it: editors need no permission of their
# own on these (votes and refresh history are not theirs to delete one by one).
OWNED_BY_PAGE = {model._meta.verbose_name for model in (Feedback, RefreshRun, PageListing, WebResource)}


@admin.register(Section)
class SectionAdmin(VersionAdmin):
    list_display = ["title", "path", "position"]
    list_editable = ["position"]
    search_fields = ["title", "path"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["path"]
    list_select_related = ["parent"]
    ordering = ["path"]
    formfield_overrides = {models.TextField: {"form_class": RichTextFormField}}


class WebResourceInline(admin.TabularInline):
    model = WebResource
    formset = WebResourceFormSet
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = ["position", "title", "url", "note"]

    def get_extra(self, request, obj=None, **kwargs):
        """One blank row; with a draft, one row per draft link as well (they are shown as new rows)."""
        return 1 + (len(obj.draft["web_resources"]) if obj is not None and obj.draft else 0)


@admin.register(TreatmentPage)
class TreatmentPageAdmin(PageWorkflowAdminMixin, VersionAdmin):
    """Pages go through the editorial workflow (``admin_workflow``): drafts, preview, publish, history."""

    list_display = [
        "display_title",
        "section",
        "state",
        schedule_column,
        "content_changed_at",
        "last_refresh",
    ]
    list_filter = [StateFilter, ReviewDueFilter, "section", "tags"]
    actions = [mark_reviewed_action]
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
        (None, {"fields": ["section", "title", "other_name", "slug", "label", "tags"]}),
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
        if page.last_refresh_status == "failed":
            return format_html(
                '<strong class="errornote">failed {}</strong>: {}', when, page.last_refresh_error
            )
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
    list_display = ["page", "day", "useful"]
    list_filter = ["useful", "day"]
    list_select_related = ["page"]
    readonly_fields = ["page", "day", "visitor", "useful", "created_at"]

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
        return f"/{redirect.old_path}/"

    @admin.display(description="now answers at", ordering="new_path")
    def new_url(self, redirect):
        url = reverse("treatments:node", kwargs={"path": redirect.new_path})
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
