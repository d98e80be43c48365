"""The page admin's PubMed tools: "Test query", the check of a changed query, and "Refresh now".

A mixin for ``TreatmentPageAdmin``. Everything works without JavaScript (buttons post to views that
answer with a page); ``static/js/pubmed_tools.js`` makes the same views answer inline, as JSON. The
work itself is in ``query_tools`` (asking PubMed) and ``refresh`` (the refresh the workers run).
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import HttpResponseRedirect, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from treatments.models import TreatmentPage

from . import curation, query_tools, refresh, tasks
from .models import RefreshRun

CONFIRM_FIELD = "confirm_query"
CONFIRM_LABEL = "Save this query despite PubMed's warning"
STATUS_RELOAD_SECONDS = 2  # how often the status page reloads itself while a refresh runs
MAX_REFRESHES_AT_ONCE = 100  # the admin action queues at most this many pages' refreshes
LEFT_NAMED = 5  # of the selected pages past that, the action's warning names this many


# --- The page form's check of a changed query -------------------------------------------------------


def confirm_query_field() -> forms.BooleanField:
    """Hidden until a submitted query fails the check; then ticking it is the only way to save that query."""
    return forms.BooleanField(required=False, widget=forms.HiddenInput, label=CONFIRM_LABEL)


def check_changed_query(form: forms.ModelForm) -> None:
    """Called from the page form's ``clean``: a changed query PubMed rejects or warns about needs a yes.

    PubMed out of reach never blocks saving: ``form.query_check`` keeps the result, and the admin says
    after saving that the query could not be checked. With a saved page the result also says what the
    next refresh would change in its list.
    """
    form.query_check = None
    query = (form.cleaned_data.get("pubmed_query") or "").strip()
    if "pubmed_query" not in form.changed_data or not query or "pubmed_query" in form.errors:
        return
    page = form.instance if form.instance.pk else None
    result = form.query_check = query_tools.test_query(query, page=page, titles=False)
    if not result.needs_confirmation or form.cleaned_data.get(CONFIRM_FIELD):
        return
    form.fields[CONFIRM_FIELD].widget = forms.CheckboxInput()
    form.add_error(CONFIRM_FIELD, f"Tick “{CONFIRM_LABEL}” to save it as it is, or change the query.")
    said = [*result.problems]
    if result.translation:
        said.append(f"PubMed read it as: {result.translation}")
    form.add_error("pubmed_query", said)


# --- Refresh now ---------------------------------------------------------------------------------


def queue_refresh(page: TreatmentPage) -> str:
    """Queue a refresh of the page on the workers; returns "" or why nothing was queued.

    One at a time: not while a run of the page is going, nor while one is queued and not started (the
    page's lock would skip a second anyway; this says so before the editor waits for it).
    """
    if not page.pubmed_query.strip():
        return "This page has no PubMed query: add one and save first."
    if RefreshRun.objects.running_for(page).exists():
        return "A refresh of this page is already running."
    try:
        marked = refresh.mark_queued(page.pk)
    except Exception:  # cache unreachable: queue anyway, the run records why it could not lock
        marked = True
    if not marked:
        return "A refresh of this page is already queued."
    # After the commit: queued from a save (Refresh now without JavaScript), a worker could read the page
    # before it. In embedded mode Celery is eager: this runs it then.
    tasks.refresh_page.delay_on_commit(page.pk)
    return ""


def page_status(page: TreatmentPage, after: int) -> dict:
    """The page's refresh since run ``after`` (the newest before the click), in words for editors."""
    run = RefreshRun.objects.filter(page=page, pk__gt=after).newest_first().first()
    state = {"page": page.pk, "title": str(page), "run": None}
    if run is None:
        if _is_queued(page):
            return state | {"state": "queued", "done": False, "message": "Queued: waiting for a worker…"}
        message = "No refresh has started: the workers may be down. Try again later."
        return state | {"state": "lost", "done": True, "message": message}
    return state | {
        "state": run.status,
        "done": run.done,
        "message": run.outcome(),
        "run": {
            "id": run.pk,
            "found": run.pmids_found,
            "new": run.publications_new,
            "added": run.publications_added,
            "dropped": run.publications_dropped,
            "query_changed": run.query_changed,
            "error": run.error,
            "warnings": run.warning_list,
            "url": reverse("admin:publications_refreshrun_change", args=[run.pk]),
        },
    }


@dataclass
class _Queued:
    why: str  # "" when queued, else why not
    track: bool  # there is a run (queued or going) whose progress is worth showing


def _follow(page: TreatmentPage) -> tuple[int, _Queued]:
    """Queue the page's refresh; returns the run id to show progress after, and what happened."""
    after = RefreshRun.objects.filter(page=page).aggregate(last=Max("pk"))["last"] or 0
    why = queue_refresh(page)
    if not why:
        return after, _Queued("", track=True)
    running = RefreshRun.objects.running_for(page).order_by("pk").first()
    if running is not None:
        return running.pk - 1, _Queued(why, track=True)  # show the run that is going
    return after, _Queued(why, track=_is_queued(page))


def _is_queued(page: TreatmentPage) -> bool:
    try:
        return refresh.is_queued(page.pk)
    except Exception:  # the cache is unreachable: nothing to follow
        return False


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


# --- The widget: the query field with its buttons ----------------------------------------------------


class PubmedQueryWidget(forms.TextInput):
    """The query field with "Test query" (and, on a saved page, "Refresh now") under it.

    They are submit buttons with ``formaction``: without JavaScript they post the form to their view;
    ``pubmed_tools.js`` posts the same and shows the answer in the area below instead.
    """

    def __init__(self, *, test_url: str, refresh_url: str = "", status_url: str = "", attrs=None) -> None:
        super().__init__(attrs)
        self.test_url, self.refresh_url, self.status_url = test_url, refresh_url, status_url

    def render(self, name, value, attrs=None, renderer=None):
        field = super().render(name, value, attrs, renderer)
        context = {"test_url": self.test_url, "refresh_url": self.refresh_url, "status_url": self.status_url}
        return format_html(
            "{}{}", field, render_to_string("admin/publications/_pubmed_query_tools.html", context)
        )


# --- The admin mixin -------------------------------------------------------------------------------


@admin.action(description="Refresh now (from PubMed)", permissions=["change"])
def refresh_now_action(modeladmin, request, queryset):
    """Queue the selected pages' refreshes and follow them on the status page."""
    pages, after = [], []
    for page in queryset.order_by("pk")[:MAX_REFRESHES_AT_ONCE]:  # the action needs change permission
        last, follow = _follow(page)
        if follow.why:
            modeladmin.message_user(request, f"{page}: {follow.why}", messages.WARNING)
        if follow.track:
            pages.append(page.pk)
            after.append(last)
    left = queryset.order_by("pk")[MAX_REFRESHES_AT_ONCE:]
    if names := [str(page) for page in left[:LEFT_NAMED]]:  # never silently: say who was left out
        more = left.count() - len(names)
        listed = ", ".join(names) + (f" and {more} more" if more else "")
        one = len(names) + more == 1
        them = "it" if one else "them"
        modeladmin.message_user(
            request,
            f"At most {MAX_REFRESHES_AT_ONCE} pages are refreshed at once: {listed} "
            f"{'was' if one else 'were'} not. Select {them} again to refresh {them}.",
            messages.WARNING,
        )
    if not pages:
        return None
    return HttpResponseRedirect(modeladmin._tools_url("refresh_status") + "?" + _status_query(pages, after))


def _status_query(pages: list[int], after: list[int]) -> str:
    return urlencode(
        [pair for pk, last in zip(pages, after, strict=True) for pair in (("page", pk), ("after", last))]
    )


class PubmedToolsAdminMixin:
    """Adds to the page admin: the query check's checkbox, "Test query", "Refresh now" and its status."""

    def get_urls(self):
        view = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("test-query/", view(self.test_query_view), name=f"{name}_test_query"),
            path("refresh-status/", view(self.refresh_status_view), name=f"{name}_refresh_status"),
            path("<path:object_id>/test-query/", view(self.test_query_view), name=f"{name}_test_query"),
            path("<path:object_id>/refresh-now/", view(self.refresh_now_view), name=f"{name}_refresh_now"),
            *super().get_urls(),
        ]

    def _tools_url(self, view: str, object_id=None) -> str:
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_{view}"
        return reverse(name, args=[object_id] if object_id is not None else [])

    @property
    def media(self):
        return super().media + forms.Media(js=["js/pubmed_tools.js"])

    def get_fieldsets(self, request, obj=None):
        """The check's checkbox right under the query (hidden unless the query needs a yes)."""
        fieldsets = []
        editable = (
            self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)
        )
        for title, options in super().get_fieldsets(request, obj):
            fields = list(options.get("fields", ()))
            if editable and "pubmed_query" in fields and CONFIRM_FIELD not in fields:
                fields.insert(fields.index("pubmed_query") + 1, CONFIRM_FIELD)
                options = {**options, "fields": fields}
            fieldsets.append((title, options))
        return fieldsets

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        field = form.base_fields.get("pubmed_query")
        if field is not None:
            saved = obj is not None and obj.pk is not None
            can_refresh = saved and self.has_change_permission(request, obj)
            field.widget = PubmedQueryWidget(
                attrs=field.widget.attrs,
                test_url=self._tools_url("test_query", obj.pk if saved else None),
                refresh_url=self._tools_url("refresh_now", obj.pk) if can_refresh else "",
                status_url=self._tools_url("refresh_status") if can_refresh else "",
            )
        return form

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        result = getattr(form, "query_check", None)
        if result is None:
            return
        if result.unavailable:
            self.message_user(
                request, f"The query was saved without being checked. {result.unavailable}", messages.WARNING
            )
        elif result.diff is not None:
            self.message_user(
                request,
                f"The query changed: compared with the list as it is, the next refresh would bring "
                f"{result.diff} ({result.count} found in PubMed).",
                messages.INFO,
            )

    def response_change(self, request, obj):
        """Refresh now without JavaScript posts the page form (named ``_refresh_now``): its edits are
        saved as by Save draft, then the refresh is queued and followed, as from its own view."""
        response = super().response_change(request, obj)
        if "_refresh_now" not in request.POST:
            return response
        return self._refresh_now(request, obj)

    # --- Test query ---

    def test_query_view(self, request, object_id=None):
        """PubMed's answer to the query in the form (posted), as readers would see the first titles."""
        page = None
        if object_id is not None:
            page = self._page(request, object_id)  # the page admin's: a typed "abc" is a 404
        elif not self.has_add_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            query = page.pubmed_query if page is not None else ""
            result = None
        else:
            query = request.POST.get("pubmed_query", "").strip()
            result = query_tools.test_query(query, page=page)
        context = {
            "result": result,
            "query": query,
            "page": page,
            "sample_size": query_tools.SAMPLE_SIZE,
        }
        if _wants_json(request) and result is not None:
            html = render_to_string("admin/publications/_query_test_result.html", context, request)
            return JsonResponse({**result.as_dict(), "html": html})
        context |= {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Test a PubMed query",
            "test_url": request.path,
            "back_url": self._tools_url("change", page.pk) if page else self._tools_url("add"),
        }
        return TemplateResponse(request, "admin/publications/query_test.html", context)

    # --- Refresh now ---

    @method_decorator(require_POST)
    def refresh_now_view(self, request, object_id):
        return self._refresh_now(request, self._page(request, object_id, change=True))

    def _refresh_now(self, request, page):
        after, follow = _follow(page)
        status_url = self._tools_url("refresh_status") + "?" + _status_query([page.pk], [after])
        if _wants_json(request):
            return JsonResponse(
                {
                    "queued": not follow.why,
                    "message": follow.why or "Refresh queued.",
                    "status_url": status_url if follow.track else "",
                }
            )
        if follow.why:
            self.message_user(request, follow.why, messages.WARNING)
        if not follow.track:
            return HttpResponseRedirect(self._tools_url("change", page.pk))
        return HttpResponseRedirect(status_url)

    def refresh_status_view(self, request):
        """Where each page's refresh is: a page that reloads itself while one runs, or JSON for the poller."""
        ids, after = request.GET.getlist("page"), request.GET.getlist("after")
        try:  # a page id as the one rule for typed ids reads it: 20 digits are no page, not a 500
            wanted = {curation.typed_id(pk): int(last) for pk, last in zip(ids, after, strict=True)}
        except ValueError:
            wanted = {}
        wanted.pop(None, None)
        pages = TreatmentPage.objects.filter(pk__in=list(wanted)[:MAX_REFRESHES_AT_ONCE]).order_by("title")
        statuses = [
            page_status(page, wanted[page.pk])
            for page in pages
            if self.has_view_or_change_permission(request, page)
        ]
        done = all(status["done"] for status in statuses)
        if _wants_json(request) or request.GET.get("format") == "json":
            return JsonResponse({"done": done, "pages": statuses})
        for status in statuses:
            status["change_url"] = self._tools_url("change", status["page"])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Refresh from PubMed",
            "statuses": statuses,
            "done": done,
            "reload_seconds": STATUS_RELOAD_SECONDS,
        }
        return TemplateResponse(request, "admin/publications/refresh_status.html", context)
