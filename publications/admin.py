from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from .models import PageListing, Publication, RefreshRun


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    """Publications come from PubMed: editors find and read them here, and curate them per page."""

    list_display = ["pmid", "short_title", "author_line", "citation_line", "is_retracted"]
    list_filter = ["is_retracted", "in_pmc", "kind", "pub_year"]
    search_fields = ["=pmid", "title", "authors_text"]
    readonly_fields = [*Publication.source_fields(), "created_at", "updated_at"]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    @admin.display(description="title")
    def short_title(self, obj):
        return obj.title_text[:100]


class PageListingInline(admin.TabularInline):
    """A page's publication list: pin an entry to keep it on top, hide it to keep it off."""

    model = PageListing
    extra = 0
    fields = ["position", "citation", "pinned", "hidden", "first_listed_at"]
    readonly_fields = ["position", "citation", "first_listed_at"]
    ordering = ["-pinned", "position"]
    can_delete = False  # a refresh would list it again: hide it instead
    verbose_name = "publication on this page"
    verbose_name_plural = "Latest research publications (pin or hide per page)"

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("page", "publication")

    @admin.display(description="publication")
    def citation(self, listing):
        pub = listing.publication
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a><br><small>{} {}</small>',
            pub.pubmed_url, pub.title_text, pub.author_line, pub.citation_line,
        )  # fmt: skip


@admin.register(RefreshRun)
class RefreshRunAdmin(admin.ModelAdmin):
    list_display = ["page", "started_at", "finished_at", "status", "pmids_found", "publications_new", "error"]
    list_filter = ["status", "page"]
    date_hierarchy = "started_at"
    search_fields = ["page__title", "error"]
    list_select_related = ["page"]
    readonly_fields = [f.name for f in RefreshRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


RECENT_RUNS = 10


def recent_runs_table(page):
    """The page's last refreshes for its admin form, with a link to the whole history."""
    runs = RefreshRun.objects.filter(page=page).newest_first()[:RECENT_RUNS]
    if not runs:
        return "Never refreshed."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                f"{timezone.localtime(run.started_at):%Y-%m-%d %H:%M}",
                run.get_status_display(),
                run.pmids_found,
                run.publications_new,
                run.error or run.warnings,
            )
            for run in runs
        ),
    )
    history = reverse("admin:publications_refreshrun_changelist") + f"?page__id__exact={page.pk}"
    return format_html(
        "<table><thead><tr><th>Started</th><th>Status</th><th>PMIDs found</th><th>New</th>"
        "<th>Error or warnings</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">All refreshes</a></p>',
        rows,
        history,
    )
