from django.contrib import admin
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from . import citation
from .models import PageListing, Publication, RefreshRun
from .templatetags.citations import inline_markup

# Source fields stored as JSON or markup, and the read-only field that shows each as readers read it.
READABLE_FIELDS = {
    "title": "title_as_shown",
    "authors": "author_list",
    "abstract": "abstract_sections",
    "publication_types": "publication_type_list",
    "dates": "date_table",
    "retraction_notices": "retraction_notice_list",
    "source_xml": "source_record",
}
PUBLICATION_FIELDSETS = [
    ("As readers see it", {"fields": ["as_listed"]}),
    ("Citation", {"fields": [
        "pmid", "kind", "title_as_shown", "author_list", "more_authors", "journal", "journal_title",
        "pub_year", "pub_month", "pub_season", "medline_date", "volume", "issue", "pages", "doi", "language",
    ]}),
    ("Free full text", {"fields": ["in_pmc", "pmcid", "pmc_release_date", "book_accession"]}),
    ("Abstract sections and NLM categories", {"fields": ["abstract_sections"], "classes": ["collapse"]}),
    ("Status", {"fields": [
        "publication_type_list", "is_retracted", "retraction_notice_list", "date_table",
        "created_at", "updated_at",
    ]}),
    ("PubMed record", {"fields": ["source_record"], "classes": ["collapse"]}),
]  # fmt: skip


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    """Publications come from PubMed: editors find and read them here, and curate them per page.

    Nothing here is typed by hand, so the change view is read-only; JSON is shown as readers read it.
    """

    list_display = ["pmid", "short_title", "author_line", "citation_line", "is_retracted"]
    list_filter = ["is_retracted", "in_pmc", "kind", "pub_year"]
    search_fields = ["=pmid", "title", "authors_text"]
    fieldsets = PUBLICATION_FIELDSETS
    readonly_fields = [name for _, options in PUBLICATION_FIELDSETS for name in options["fields"]]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="title")
    def short_title(self, obj):
        return obj.title_text[:100]

    @admin.display(description="on a page")
    def as_listed(self, obj):
        entry = render_to_string(
            "publications/_entry.html", {"publication": obj, "as_of": timezone.localdate()}
        )
        return format_html('<ul class="publications">{}</ul>', entry)

    @admin.display(description="title")
    def title_as_shown(self, obj):
        return inline_markup(obj.title)

    @admin.display(description="authors")
    def author_list(self, obj):
        return html_list("ol", map(author_full_name, obj.authors)) or self.get_empty_value_display()

    @admin.display(description="abstract")
    def abstract_sections(self, obj):
        paragraphs = format_html_join("", "<p>{}{}</p>", map(abstract_paragraph, obj.abstract))
        return paragraphs or self.get_empty_value_display()

    @admin.display(description="publication types")
    def publication_type_list(self, obj):
        return "; ".join(obj.publication_types) or self.get_empty_value_display()

    @admin.display(description="retraction notices")
    def retraction_notice_list(self, obj):
        return html_list("ul", obj.retraction_notices) or self.get_empty_value_display()

    @admin.display(description="dates (PubMed history)")
    def date_table(self, obj):
        if not obj.dates:
            return self.get_empty_value_display()
        # Oldest first: PostgreSQL's jsonb keeps no key order, so the order comes from the dates.
        in_order = sorted(obj.dates.items(), key=lambda item: (item[1], item[0]))
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", in_order)
        return format_html("<table>{}</table>", rows)

    @admin.display(description="source XML")
    def source_record(self, obj):
        return (
            format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.source_xml)
            if obj.source_xml
            else self.get_empty_value_display()
        )


def html_list(tag: str, items) -> str | None:
    """Items as an HTML list, escaped; None when there are none."""
    entries = format_html_join("", "<li>{}</li>", ((item,) for item in items))
    return format_html("<{}>{}</{}>", tag, entries, tag) if entries else None


def author_full_name(author: dict) -> str:
    """ "Smith J (John Smith Jr)": the name as cited, then the full name when PubMed gave one."""
    cited = citation.author_name(author)
    if not (author.get("fore_name") or author.get("suffix")):
        return cited
    full = " ".join(filter(None, (author.get(k, "") for k in ("fore_name", "last_name", "suffix"))))
    return f"{cited} ({full})"


def abstract_paragraph(section: dict) -> tuple:
    """A label (and its NLM category when it differs) before the text, as the page shows it."""
    label, category = section.get("label", ""), section.get("nlm_category", "")
    if category and category.lower() != label.lower():
        label = f"{label} [{category}]" if label else f"[{category}]"
    head = format_html('<strong class="abstract-label">{}:</strong> ', label) if label else ""
    return head, inline_markup(section.get("text", ""))


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
