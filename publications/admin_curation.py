"""The page admin's curation views: add publications by PMID or DOI (looked up, shown, then added),
exclude a PMID for good and remove an exclusion, move a pin up or down.

A mixin for ``TreatmentPageAdmin``. Every change is a POST with the CSRF token, by an editor who may
change the page; the work is ``publications.curation``'s. The buttons on the page form belong to a
small form of their own outside the page's form (``form="curation-form"``): they post nothing of the
page's fields, and pressing Enter in a field still saves the draft, never moves a pin.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from treatments.models import TreatmentPage

from . import curation
from .admin import listing_html
from .models import Exclusion, PageListing

CURATION_FIELDS = ["curation_exclusions"]
CURATION_FIELDSET = "Latest research"  # the page form's fieldset the exclusions are shown in (if any)
TEMPLATES = "admin/publications/curation/"


class PageCurationAdminMixin:
    change_form_template = TEMPLATES + "page_change_form.html"

    # --- On the page form ------------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        """The exclusions go with the page's search settings, once the page exists."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.pk is None:
            return fieldsets
        return [
            (name, {**options, "fields": [*options["fields"], *CURATION_FIELDS]})
            if name == CURATION_FIELDSET
            else (name, options)
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *CURATION_FIELDS]

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is PageListing and formset.has_changed():
            PageListing.objects.renumber_pins(form.instance)  # an unpinned entry's pins close up, as on Unpin
        if gone := getattr(formset, "gone", 0):
            entries = "1 entry" if gone == 1 else f"{gone} entries"
            messages.warning(
                request,
                f"{entries} left the list after you opened this form (a refresh or another editor): "
                f"your changes to {'it' if gone == 1 else 'them'} were not saved; the rest were.",
            )

    def curation_exclusions(self, page):
        exclusions = Exclusion.objects.filter(page=page).select_related("created_by")
        context = {"exclusions": exclusions, "urls": _urls(self, page.pk)}
        return mark_safe(render_to_string(TEMPLATES + "exclusions.html", context))  # noqa: S308 - a template

    curation_exclusions.short_description = "excluded PMIDs"

    # --- Views -------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}_curation"
        base = "<path:object_id>/curation/"
        return [
            path(base + "add/", view(self.curation_add_view), name=f"{name}_add"),
            path(base + "exclude/", view(self.curation_exclude_view), name=f"{name}_exclude"),
            path(
                base + "exclusions/<int:exclusion_id>/remove/",
                view(self.curation_unexclude_view),
                name=f"{name}_unexclude",
            ),
            path(
                base + "pins/<int:listing_id>/<str:direction>/",
                view(self.curation_move_view),
                name=f"{name}_move",
            ),
            *super().get_urls(),
        ]

    def _curated_page(self, request, object_id) -> TreatmentPage:
        return self._page(request, object_id, change=True)  # the page admin's: a typed "abc" is a 404

    def _back_to_list(self, page) -> HttpResponseRedirect:
        change = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[page.pk])
        return HttpResponseRedirect(change + "#listings-group")

    def _render(self, request, page, template: str, title: str, status: int = 200, **context):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "object": page,
            "title": f"{title}: {page}",
            "urls": _urls(self, page.pk),
            **context,
        }
        return TemplateResponse(request, TEMPLATES + template, context, status=status)

    def curation_add_view(self, request, object_id):
        """GET with ``ids``: look them up and show each entry as readers will see it; POST: add them."""
        page = self._curated_page(request, object_id)
        if request.method == "POST":
            return self._add(request, page)
        typed = request.GET.get("ids", "").strip()
        lookup = curation.lookup_for_adding(page, typed) if typed else None
        return self._render(
            request,
            page,
            "add.html",
            "Add publications",
            typed=typed,
            lookup=lookup,
            as_of=timezone.localdate(),
        )

    def _add(self, request, page):
        pmids = [str(pmid) for pmid in map(curation.typed_id, request.POST.getlist("pmid")) if pmid]
        if not pmids:
            messages.error(request, "Nothing to add: look the publications up first.")
            return HttpResponseRedirect(_urls(self, page.pk)["add"])
        lookup = curation.lookup_for_adding(page, " ".join(pmids))  # PubMed's record as it is now
        for error in lookup.errors:
            messages.warning(request, error)
        if lookup.found:
            outcome = curation.add(
                page,
                [item.record for item in lookup.found],
                user=request.user,
                pin_them="pin" in request.POST,
            )
            _report(request, outcome)
        return self._back_to_list(page)

    def curation_exclude_view(self, request, object_id):
        """GET: the form (a PMID, a reason), with the entry if it is listed; POST: exclude it."""
        page = self._curated_page(request, object_id)
        data = request.POST if request.method == "POST" else request.GET
        pmid, reason, error = data.get("pmid", "").strip(), data.get("reason", ""), None
        if request.method == "POST":
            try:
                outcome = curation.exclude(page, pmid, reason, user=request.user)
            except curation.CurationError as exc:
                error = str(exc)
            else:
                _report(request, outcome)
                return self._back_to_list(page)
        number = curation.typed_id(pmid)
        listed = (
            PageListing.objects.with_citation().filter(page=page, publication__pmid=number).first()
            if number
            else None
        )
        return self._render(
            request,
            page,
            "exclude.html",
            "Exclude a PMID",
            pmid=pmid,
            reason=reason,
            error=error,
            entry=listing_html(listed) if listed else None,
            status=400 if error else 200,
        )

    @method_decorator(require_POST)
    def curation_unexclude_view(self, request, object_id, exclusion_id):
        page = self._curated_page(request, object_id)
        try:
            _report(request, curation.unexclude(page, exclusion_id, user=request.user))
        except curation.CurationError as exc:
            messages.warning(request, str(exc))
        return self._back_to_list(page)

    @method_decorator(require_POST)
    def curation_move_view(self, request, object_id, listing_id, direction):
        page = self._curated_page(request, object_id)
        listing = get_object_or_404(PageListing, page=page, pk=listing_id)
        try:
            _report(request, curation.move_pin(page, listing, direction, user=request.user))
        except curation.CurationError as exc:
            messages.warning(request, str(exc))
        return self._back_to_list(page)


def _urls(model_admin, page_id) -> dict[str, str]:
    name = f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}"
    return {
        "add": reverse(f"{name}_curation_add", args=[page_id]),
        "exclude": reverse(f"{name}_curation_exclude", args=[page_id]),
        "change": reverse(f"{name}_change", args=[page_id]),
    }


def _report(request, outcome: curation.Outcome) -> None:
    for line in outcome.done:
        messages.success(request, line)
    for reason in outcome.refused:
        messages.warning(request, reason)
