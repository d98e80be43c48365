"""Previews: a page's draft rendered with the public template, for editors and for a shared link.

Editors see it in the admin (signed in, staff). A shared link carries a signature and expires, so
a reviewer without an account can read the draft, and nothing else: the link opens one page, read
only, never indexed or cached.
"""

from __future__ import annotations

from django.core import signing
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.cache import never_cache

from . import workflow
from .models import TreatmentPage

SHARE_DAYS = 7
_SALT = "treatments.preview"


def share_url(page: TreatmentPage) -> str:
    """A signed link to the draft as it is now: it shows that draft only, never a later one."""
    draft = workflow.content_digest(workflow.working_content(page))
    token = signing.dumps({"page": page.pk, "draft": draft}, salt=_SALT, compress=True)
    return reverse("treatments:shared_preview", kwargs={"token": token})


def render_preview(request, page: TreatmentPage, *, shared: bool = False):
    from .views import render_page  # the reader's page view renders previews too

    shown = workflow.preview(page)
    response = render_page(
        request,
        shown.page,
        web_resources=shown.web_resources,
        extra={
            "preview": True,
            "shared_preview": shared,
            "preview_state": workflow.State.LABELS[workflow.state(page)],
        },
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@never_cache
def shared_preview(request, token: str):
    """A reviewer's read-only view of a draft; the link expires after SHARE_DAYS. Once the draft it
    showed is published, it opens the live page: the reviewer reads what readers do, not a "draft"."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=SHARE_DAYS * 24 * 3600)
    except signing.SignatureExpired:
        raise Http404("This preview link has expired; ask an editor for a new one.") from None
    except signing.BadSignature:
        raise Http404("No such preview.") from None
    page = TreatmentPage.objects.select_related("section").filter(pk=data.get("page")).first()
    if page is None:
        raise Http404("No such preview.")
    if page.published and data.get("draft") == workflow.content_digest(workflow.content_of(page)):
        return HttpResponseRedirect(page.get_absolute_url())  # what it showed is live: no draft banner
    if data.get("draft") != workflow.content_digest(workflow.working_content(page)):
        raise Http404("This preview link was for an earlier draft; ask an editor for a new one.")
    return render_preview(request, page, shared=True)
