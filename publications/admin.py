from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.forms.models import BaseInlineFormSet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import ngettext

from treatments.models import TreatmentPage

from . import citation, curation
from .models import LISTING_ORDER, PageCheck, PageListing, Publication, RefreshRun
from .templatetags.citations import inline_markup

# A list longer than this (the planner's estimate, on PostgreSQL) shows an estimated count: an exact
# COUNT reads every row of a big table on each page of the list.
EXACT_COUNT_BELOW = 20_000

# Source fields stored as JSON or markup, and the read-only field that shows each as readers read it.
READABLE_FIELDS = {
    "title": "title_as_shown",
    "authors": "author_list",
    "abstract": "abstract_sections",
    "publication_types": "publication_type_list",
    "dates": "date_table",
    "retraction_notices": "retraction_notice_list",
    "comments_corrections": "comments_corrections_list",
    "source_xml": "source_record",
}
PUBLICATION_FIELDSETS = [
    ("As readers see it", {"fields": ["as_listed"]}),
    ("Citation", {"fields": [
        "pmid", "kind", "title_as_shown", "author_list", "more_authors", "journal", "journal_title",
        "pub_year", "pub_month", "pub_day", "pub_season", "medline_date", "volume", "issue", "pages", "doi",
        "language",
    ]}),
    ("Free full text", {"fields": ["in_pmc", "pmcid", "pmc_release_date", "book_accession"]}),
    ("Abstract sections and NLM categories", {"fields": ["abstract_sections"], "classes": ["collapse"]}),
    ("Status", {"fields": [
        "publication_type_list", "is_retracted", "retraction_notice_list", "comments_corrections_list",
        "date_table",
        "created_at", "updated_at",
    ]}),
    ("PubMed record", {"fields": ["source_record"], "classes": ["collapse"]}),
]  # fmt: skip


class PublicationYearFilter(admin.SimpleListFilter):
    """The last ten years and "earlier": listing the years there are read all 50,000 rows each time."""

    title = "publication year"
    parameter_name = "pub_year"
    EARLIER = "earlier"

    def lookups(self, request, model_admin):
        this_year = timezone.localdate().year
        years = [(str(year), str(year)) for year in range(this_year, this_year - 10, -1)]
        return [*years, (self.EARLIER, f"Before {this_year - 9}")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.EARLIER:
            return queryset.filter(pub_year__lt=str(timezone.localdate().year - 9)).exclude(pub_year="")
        return queryset.filter(pub_year=value) if value else queryset


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    """Publications come from PubMed: editors find and read them here, and curate them per page.

    Nothing here is typed by hand, so the change view is read-only; JSON is shown as readers read it.
    """

    list_display = ["pmid", "short_title", "author_line", "citation_line", "is_retracted"]
    list_filter = ["is_retracted", "in_pmc", "kind", PublicationYearFilter]
    # A number is a PMID (see get_search_results); words match titles and authors, through trigram
    # indexes on PostgreSQL (migration 0006).
    search_fields = ["title", "authors_text"]
    search_help_text = "A PMID (or several), or words from the title or the authors."
    show_full_result_count = False
    fieldsets = PUBLICATION_FIELDSETS
    readonly_fields = [name for _, options in PUBLICATION_FIELDSETS for name in options["fields"]]

    def get_changelist(self, request, **kwargs):
        return CitationChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return EstimatedCountPaginator(queryset, per_page, orphans, allow_empty_first_page)

    def get_search_results(self, request, queryset, search_term):
        """PMIDs are looked up exactly (the unique index); anything else is a text search."""
        terms = search_term.replace(",", " ").split()
        pmids = [curation.typed_id(term) for term in terms]  # "²" or "١٢٣" is text, as "abc" is
        if pmids and all(pmids):
            return queryset.filter(pmid__in=pmids), False
        return super().get_search_results(request, queryset, search_term)

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

    @admin.display(description="comments and corrections")
    def comments_corrections_list(self, obj):
        lines = [citation.link_line(link) for link in obj.comments_corrections]
        return html_list("ul", lines) or self.get_empty_value_display()

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
    """ "Smith J Jr (John Smith Jr)": the name as cited, then the full name when PubMed gave one."""
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


class CitationChangeList(ChangeList):
    """The publication list reads only what its columns show: never the source record."""

    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).only(*Publication.CITATION_FIELDS)


class EstimatedCountPaginator(Paginator):
    """On PostgreSQL a long list's count is the planner's estimate; short lists are counted exactly."""

    @cached_property
    def count(self):
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql":
            sql, params = queryset.order_by().query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
                plan = cursor.fetchone()[0]
            estimate = int(plan[0]["Plan"]["Plan Rows"])
            if estimate >= EXACT_COUNT_BELOW:
                return estimate
        return super().count


class ListedChoiceField(forms.ModelChoiceField):
    """A row's id, checked against the rows the formset loaded: one query for all, not one a row."""

    def __init__(self, loaded: dict, **kwargs):
        self.loaded = loaded
        super().__init__(queryset=PageListing.objects.none(), **kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.loaded[curation.typed_id(value)]
        except KeyError:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice") from None


class PageListingForm(forms.ModelForm):
    """A row of the page's list: pinned or hidden, never both (``PageListing.validate_constraints`` says
    so to the editor; the database refuses it too)."""

    class Meta:
        model = PageListing
        fields = ["pinned", "hidden"]


class PageListingFormSet(BaseInlineFormSet):
    """A bounded part of the page's list, loaded in one query without the publications' records.

    The form shows what readers see plus pinned and hidden entries (``for_form``); a submitted form
    saves the rows it names, even if a refresh moved them since.
    """

    gone = 0  # rows the submitted form named that have left the list since it was opened

    def __init__(self, data=None, files=None, instance=None, queryset=None, prefix=None, **kwargs):
        if instance is not None and instance.pk is not None:
            if data is None:
                queryset = PageListing.objects.for_form(instance)
            else:
                named = self.submitted_ids(data, prefix or self.get_default_prefix())
                queryset = PageListing.objects.filter(page=instance, pk__in=named).order_by(*LISTING_ORDER)
                listed = {listing.pk for listing in queryset.only("pk")}
                if set(named) - listed:
                    data = self._without_rows(data, prefix or self.get_default_prefix(), listed)
            queryset = queryset.with_citation()
        super().__init__(data, files, instance=instance, queryset=queryset, prefix=prefix, **kwargs)

    def _without_rows(self, data, prefix, listed: set[int]):
        """The submitted form without the rows of entries no longer listed (a refresh dropped them,
        another editor's curation removed them): the rest is saved, those are counted in ``gone``.
        Kept, such a row failed with an error on a hidden field, and the form could not be saved at all."""
        data = data.copy()
        initial = int(data.get(f"{prefix}-INITIAL_FORMS", 0))  # a number: ``submitted_ids`` read it
        total = curation.typed_id(data.get(f"{prefix}-TOTAL_FORMS", "")) or initial
        rows = []
        for index in range(min(total, 1000)):
            head = f"{prefix}-{index}-"
            row = {key[len(head) :]: data.getlist(key) for key in list(data) if key.startswith(head)}
            for key in row:
                del data[head + key]
            if index < initial and curation.typed_id(row.get("id", [""])[0]) not in listed:
                self.gone += 1
                continue
            rows.append(row)
        for index, row in enumerate(rows):
            for key, values in row.items():
                data.setlist(f"{prefix}-{index}-{key}", values)
        data[f"{prefix}-INITIAL_FORMS"] = str(initial - self.gone)
        data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
        return data

    @staticmethod
    def submitted_ids(data, prefix) -> list[int]:
        try:
            count = min(int(data.get(f"{prefix}-INITIAL_FORMS", 0)), 1000)
        except ValueError:
            return []
        ids = (data.get(f"{prefix}-{i}-id", "") for i in range(count))
        return [pk for pk in map(curation.typed_id, ids) if pk]

    def get_queryset(self):
        """The rows, each knowing its page already (the form's), so nothing is fetched per row."""
        if not hasattr(self, "_queryset"):
            for listing in super().get_queryset():
                PageListing.page.field.set_cached_value(listing, self.instance)
        return self._queryset

    def add_fields(self, form, index):
        super().add_fields(form, index)
        name = self._pk_field.name
        field = form.fields[name]
        loaded = {listing.pk: listing for listing in self.get_queryset()}
        form.fields[name] = ListedChoiceField(
            loaded, initial=field.initial, required=False, widget=field.widget
        )


class PageListingInline(admin.TabularInline):
    """A page's publication list: pin an entry to keep it on top (up and down order the pins), hide it
    to keep it off, exclude its PMID for good; add publications by PMID or DOI (``admin_curation``).

    Bounded (``PageListingFormSet``): the whole list, thousands of entries after years of refreshes,
    is in the PageListing admin list, paginated, where entries are pinned and hidden too. Each entry is
    shown as readers see it, with its flags; the template marks hidden rows.
    """

    model = PageListing
    form = PageListingForm
    formset = PageListingFormSet
    template = "admin/publications/curation/listing_inline.html"
    extra = 0
    fields = ["position", "citation", "pinned", "hidden", "curate", "first_listed_at"]
    readonly_fields = ["position", "citation", "curate", "first_listed_at"]
    ordering = LISTING_ORDER
    can_delete = False  # a refresh would list it again: hide it instead
    verbose_name = "publication on this page"
    verbose_name_plural = "Latest research publications (pin or hide per page)"

    def has_add_permission(self, request, obj=None):
        return False

    def get_formset(self, request, obj=None, **kwargs):
        if obj is not None and obj.pk is not None:  # this instance serves this request only
            self.verbose_name_plural = format_html(
                "Latest research publications: what readers see, pinned and hidden "
                '(<a href="{}">every publication on this page</a>, to pin or hide any)',
                page_listings_url(obj),
            )
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description="publication")
    def citation(self, listing):
        return listing_html(listing)

    @admin.display(description="order and exclude")
    def curate(self, listing):
        """Buttons that work without JavaScript: they submit the page's form to the curation views."""
        return curation_buttons(listing)


# Flags an entry can carry in the admin's lists, and how each reads.
CORRECTED_TYPES = {"Corrected and Republished Article"}


def listing_flags(listing) -> list[tuple[str, str]]:
    """(class, label) for each flag: retracted, corrected, free on PMC, pinned, hidden, added by hand."""
    pub = listing.publication
    flags = []
    if pub.is_retracted:
        flags.append(("retracted", "Retracted"))
    if CORRECTED_TYPES.intersection(pub.publication_types or []):
        flags.append(("corrected", "Corrected and republished"))
    if pub.in_pmc or pub.book_accession:
        flags.append(("pmc", "Free full text" + ("" if pub.in_pmc else " (Bookshelf)")))
    if listing.pinned:
        flags.append(("pinned", f"Pinned #{listing.pin_position}" if listing.pin_position else "Pinned"))
    if listing.hidden:
        flags.append(("hidden", "Hidden from readers"))
    if listing.added_by_hand:
        flags.append(("by-hand", "Added by hand"))
    return flags


def listing_html(listing) -> str:
    """An entry as readers see it (authors, title with its markup, citation line, PMID) and its flags."""
    pub = listing.publication
    flags = format_html_join(
        " ", '<span class="curation-flag curation-flag-{}">{}</span>', listing_flags(listing)
    )
    return format_html(
        '<div class="curated-entry">{}<div class="authors">{}</div>'
        '<div class="title"><a href="{}" target="_blank" rel="noopener">{}</a></div>'
        '<div class="citation"><small>{} · {}</small></div></div>',
        format_html('<div class="curation-flags">{}</div>', flags) if flags else "",
        pub.author_line,
        pub.pubmed_url,
        inline_markup(pub.title),
        pub.citation_line,
        f"PMID {pub.pmid}" if pub.pmid else "no PMID (an old-site entry)",
    )


def curation_buttons(listing) -> str:
    """Up and down for a pin; "Exclude…" for an entry with a PMID. The buttons belong to the curation
    form outside the page's form (a form cannot hold another), posting to a view each (``formaction``)."""
    urls = curation_urls(listing.page_id)
    parts = []
    if listing.pinned:
        for direction, label in (("up", "↑ Up"), ("down", "↓ Down")):
            parts.append(
                format_html(
                    '<button type="submit" form="curation-form" class="button curation-move" formaction="{}" '
                    'aria-label="Move pin {} ({})">{}</button>',
                    urls["move"].format(listing=listing.pk, direction=direction),
                    direction,
                    listing.publication.title_text[:60],
                    label,
                )
            )
    if listing.publication.pmid:
        exclude = format_html(
            '<a class="curation-exclude" href="{}?pmid={}">Exclude…</a>',
            urls["exclude"],
            listing.publication.pmid,
        )
        parts.append(exclude)
    return format_html_join(" ", "{}", ((part,) for part in parts)) or "—"


def curation_urls(page_id) -> dict[str, str]:
    """The curation views of a page (``admin_curation``); ``move`` is a pattern for one pin."""
    name = "admin:treatments_treatmentpage_curation_{}"
    move = reverse(name.format("move"), args=[page_id, 0, "up"])
    return {
        "add": reverse(name.format("add"), args=[page_id]),
        "exclude": reverse(name.format("exclude"), args=[page_id]),
        "move": move.replace("/0/up/", "/{listing}/{direction}/"),
    }


def page_listings_url(page) -> str:
    return reverse("admin:publications_pagelisting_changelist") + f"?page__id__exact={page.pk}"


class PageFilter(admin.SimpleListFilter):
    """Filter by page without listing 3,000 of them: links from a page's form set it, and the
    search box finds pages by title. Only the chosen page is listed."""

    title = "page"
    parameter_name = "page__id__exact"

    def lookups(self, request, model_admin):
        chosen = curation.typed_id(self.value() or "")
        if not chosen:
            return []
        return [
            (str(page.pk), str(page))
            for page in TreatmentPage.objects.filter(pk=chosen).only("title", "other_name")
        ]

    def queryset(self, request, queryset):
        value = curation.typed_id(self.value() or "")
        return queryset.filter(page_id=value) if value else queryset  # "²" or "١٢٣" as "abc": no filter


@admin.register(PageListing)
class PageListingAdmin(admin.ModelAdmin):
    """Every entry of a page's list, paginated: the page form shows only the entries readers see."""

    list_display = ["position", "listed_citation", "pinned", "hidden", "first_listed_at", "page_title"]
    list_filter = [PageFilter, "pinned", "hidden", "added_by_hand"]
    search_fields = ["=publication__pmid"]
    search_help_text = "A PMID."
    ordering = ["page_id", *LISTING_ORDER]
    show_full_result_count = False
    actions = ["pin", "unpin", "hide", "show"]

    def get_queryset(self, request):
        return PageListing.objects.with_citation("page__title", "page__other_name").select_related("page")

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return EstimatedCountPaginator(queryset, per_page, orphans, allow_empty_first_page)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        """As on the page form: a deleted entry left the page's history and readers' cached copy alone,
        and the next refresh listed it again; excluding its PMID or hiding it is what lasts."""
        return False

    @admin.display(description="publication")
    def listed_citation(self, listing):
        return listing_html(listing)

    @admin.display(description="page", ordering="page__title")
    def page_title(self, listing):
        return listing.page.display_title

    @admin.action(description="Pin the selected entries", permissions=["change"])
    def pin(self, request, queryset):
        self.curate(request, queryset, curation.pin)

    @admin.action(description="Unpin the selected entries", permissions=["change"])
    def unpin(self, request, queryset):
        self.curate(request, queryset, curation.unpin)

    @admin.action(description="Hide the selected entries", permissions=["change"])
    def hide(self, request, queryset):
        self.curate(request, queryset, curation.hide)

    @admin.action(description="Show the selected entries again", permissions=["change"])
    def show(self, request, queryset):
        self.curate(request, queryset, curation.show)

    def curate(self, request, queryset, step):
        """As on the page form: one revision per page, with who and what, and readers see it at once."""
        chosen = list(queryset.order_by(*LISTING_ORDER).values_list("pk", "page_id"))
        pages = TreatmentPage.objects.in_bulk({page_id for _, page_id in chosen})
        done, refused = 0, []
        for page_id, page in pages.items():
            outcome = step(page, [pk for pk, on in chosen if on == page_id], user=request.user)
            done += len(outcome.done)
            refused += outcome.refused
        self.message_user(request, ngettext("%d entry changed.", "%d entries changed.", done) % done)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)


@admin.register(RefreshRun)
class RefreshRunAdmin(admin.ModelAdmin):
    """Kept for 90 days (and each page's latest run and failure): pruned daily by beat. Hourly checks
    that found nothing new leave no run (the page's PageCheck counts them)."""

    list_display = [
        "page", "started_at", "finished_at", "status", "pmids_found", "publications_added",
        "publications_dropped", "publications_new", "short_error",
    ]  # fmt: skip
    list_filter = [PageFilter, "status", ("started_at", admin.DateFieldListFilter)]
    search_fields = ["page__title"]
    search_help_text = "Words from the page's title."
    list_select_related = ["page"]
    show_full_result_count = False
    readonly_fields = [f.name for f in RefreshRun._meta.fields]

    def get_queryset(self, request):
        fields = [f.name for f in RefreshRun._meta.concrete_fields]
        runs = super().get_queryset(request).select_related("page")
        return runs.only(*fields, "page__title", "page__other_name")

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return EstimatedCountPaginator(queryset, per_page, orphans, allow_empty_first_page)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="error", ordering="error")
    def short_error(self, run):
        """A long error never pushes the other columns off the list; the run's page has all of it."""
        return Truncator(run.error).chars(ERROR_CHARS_IN_LIST)


RECENT_RUNS = 10
ERROR_CHARS_IN_LIST = 120


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "never"


@admin.display(description="last check (change)", ordering="last_checked_at")
def last_check_column(page):
    """When refreshes last asked PubMed about the page, and last changed its list (the page list's
    annotations, ``RefreshRun.objects.latest_annotations``): quiet hourly checks leave no run."""
    if not page.last_checked_at:
        return "never"
    return f"{_when(page.last_checked_at)} ({_when(page.last_changed_at)})"


def page_check_line(page) -> str:
    """The page's last check and change, in words for its admin form."""
    check = PageCheck.objects.filter(page=page).first()
    if check is None:
        return ""
    quiet = f"{check.quiet_checks} check{'s' if check.quiet_checks != 1 else ''}"
    return format_html(
        "<p>Last checked {} ({} with nothing new since the last change, which is not listed below); "
        "last changed {}; stored records last re-checked {}.</p>",
        _when(check.last_checked_at),
        quiet,
        _when(check.last_changed_at),
        _when(check.last_recheck_at),
    )


def recent_runs_table(page):
    """The page's last refreshes for its admin form, with a link to the whole history.

    Hourly checks that found nothing new leave no run: the line above the table counts them.
    """
    checked = page_check_line(page)
    runs = RefreshRun.objects.filter(page=page).newest_first()[:RECENT_RUNS]
    if not runs:
        return format_html("{}{}", checked, "Never refreshed.") if checked else "Never refreshed."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                f"{timezone.localtime(run.started_at):%Y-%m-%d %H:%M}",
                run.get_status_display(),
                run.pmids_found,
                run.publications_new,
                Truncator(run.error or run.warnings).chars(ERROR_CHARS_IN_LIST),
            )
            for run in runs
        ),
    )
    history = reverse("admin:publications_refreshrun_changelist") + f"?page__id__exact={page.pk}"
    return format_html(
        "{}<table><thead><tr><th>Started</th><th>Status</th><th>PMIDs found</th><th>New</th>"
        "<th>Error or warnings</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">All refreshes</a></p>',
        checked,
        rows,
        history,
    )
