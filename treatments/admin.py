from django import forms
from django.contrib import admin
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from publications.admin import PageListingInline, recent_runs_table
from publications.models import RefreshRun

from .models import Feedback, PathRedirect, Section, TreatmentPage, WebResource


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ["title", "path", "position"]
    list_editable = ["position"]
    search_fields = ["title", "path"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["path"]
    list_select_related = ["parent"]
    ordering = ["path"]


class WebResourceInline(admin.TabularInline):
    model = WebResource
    extra = 1
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = ["position", "title", "url", "note"]


@admin.register(TreatmentPage)
class TreatmentPageAdmin(admin.ModelAdmin):
    list_display = ["display_title", "section", "published", "content_changed_at", "last_refresh"]
    list_filter = ["published", "section", "tags"]
    search_fields = ["title", "other_name", "pubmed_query"]
    list_select_related = ["section"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = [
        "content_changed_at",
        "list_refreshed_at",
        "created_at",
        "recent_refreshes",
        "reader_feedback",
    ]
    fieldsets = [
        (None, {"fields": ["section", "title", "other_name", "slug", "label", "published", "tags"]}),
        ("Content", {"fields": ["description"]}),
        ("Latest research", {"fields": ["pubmed_query", "publications_shown", "recent_refreshes"]}),
        ("History", {"fields": ["created_at", "content_changed_at", "list_refreshed_at", "reader_feedback"]}),
    ]
    inlines = [WebResourceInline, PageListingInline]
    formfield_overrides = {models.CharField: {"widget": forms.TextInput(attrs={"size": 80})}}

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

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if not change or form.has_changed() or any(formset.has_changed() for formset in formsets):
            form.instance.record_change(reason="content")


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
