from django.contrib import admin
from django.db import models

from publications.admin import PageListingInline, RefreshRunInline

from .models import Feedback, Section, TreatmentPage, WebResource


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
    list_display = ["display_title", "section", "published", "content_changed_at", "list_refreshed_at"]
    list_filter = ["published", "section", "tags"]
    search_fields = ["title", "other_name", "pubmed_query"]
    list_select_related = ["section"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["content_changed_at", "list_refreshed_at", "created_at"]
    fieldsets = [
        (None, {"fields": ["section", "title", "other_name", "slug", "label", "published", "tags"]}),
        ("Content", {"fields": ["description"]}),
        ("Latest research", {"fields": ["pubmed_query", "publications_shown"]}),
        ("History", {"fields": ["created_at", "content_changed_at", "list_refreshed_at"]}),
    ]
    inlines = [WebResourceInline, PageListingInline, RefreshRunInline]

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
