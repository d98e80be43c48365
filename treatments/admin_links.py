"""The page admin's link tools: Check links now, move a link up or down, accept a permanent redirect.

A mixin for ``TreatmentPageAdmin``. The buttons are plain form buttons (no JavaScript): the inline's
up, down and accept buttons belong to a small form outside the page form (``form="link-actions"``,
in ``change_form.html``'s footer), so Enter in a field still saves the draft and never moves a link.
Each view needs the permission to change the page, and answers POST only.
"""

from __future__ import annotations

import reversion
from celery.result import EagerResult
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from publications.curation import typed_id

from . import linkcheck, tasks, workflow
from .models import WebResource

MOVES = {"up": -1, "down": 1}


class LinkAdminMixin:
    def get_urls(self):
        view = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/links/check/", view(self.check_links_view), name=f"{name}_check_links"),
            path("<path:object_id>/links/move/", view(self.move_link_view), name=f"{name}_move_link"),
            path(
                "<path:object_id>/links/accept/",
                view(self.accept_redirect_view),
                name=f"{name}_accept_redirect",
            ),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            context.update(check_links_url=self._url("check_links", obj.pk))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _back_to_links(self, page):
        return HttpResponseRedirect(self._url("change", page.pk) + "#web_resources-group")

    @method_decorator(require_POST)
    def check_links_view(self, request, object_id):
        """Embedded mode checks while the editor waits; production queues the check for a worker."""
        page = self._page(request, object_id, change=True)
        result = tasks.check_links.delay(page.pk)
        if isinstance(result, EagerResult):
            messages.success(request, f"Links checked: {result.get()}")
        else:
            messages.info(
                request, "The links are being checked: reload this page in a minute to see what was found."
            )
        return self._back_to_links(page)

    @method_decorator(require_POST)
    def move_link_view(self, request, object_id):
        """The button's value is "up 2 https://…": the direction, the link's place, and its URL as shown."""
        page = self._page(request, object_id, change=True)
        direction, _, rest = request.POST.get("move", "").partition(" ")
        index, _, url = rest.partition(" ")
        if direction not in MOVES or not (index.isascii() and index.isdigit()):  # "²" is not a place
            messages.error(request, "Choose a link to move up or down.")
            return self._back_to_links(page)
        with reversion.create_revision():
            reversion.set_user(request.user)
            moved = workflow.move_web_resource(page, int(index), MOVES[direction], url=url)
        if not moved:
            messages.error(request, "The links changed since this page was opened: nothing was moved.")
        elif page.published:
            messages.success(request, f"Link moved {direction}. Readers see the new order when you publish.")
        else:
            messages.success(request, f"Link moved {direction}.")
        return self._back_to_links(page)

    @method_decorator(require_POST)
    def accept_redirect_view(self, request, object_id):
        page = self._page(request, object_id, change=True)
        if (chosen := typed_id(request.POST.get("resource", ""))) is None:  # the one rule for typed ids
            raise Http404("No such link on this page.")
        resource = get_object_or_404(WebResource, page=page, pk=chosen)
        try:
            new = linkcheck.accept_redirect(resource, user=request.user)
        except linkcheck.CannotAccept as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"“{resource.title}” now links to {new}.")
        return self._back_to_links(page)
