"""Readers' views: the home page, a section, a treatment page, and the page's feedback vote."""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseBadRequest, HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from publications.models import PageListing

from . import paths
from .models import Feedback, Section, TreatmentPage

VISITOR_COOKIE = "ci_visitor"
VISITOR_COOKIE_AGE = 365 * 24 * 3600


def home(request):
    sections = Section.objects.roots().prefetch_related("children")
    return render(request, "treatments/home.html", {"sections": sections})


def node(request, path):
    """A URL follows the tree: a section's path, or a section's path and a page's slug.

    An old path (a renamed or moved page or section) answers 301 to where it lives now, keeping
    the query string, so links and bookmarks never break.
    """
    found = paths.find(path)
    if found is None:
        raise Http404("No such page.")
    if isinstance(found, paths.Moved):
        return moved(request, found.path)
    if isinstance(found, Section):
        return section_detail(request, found)
    return page_detail(request, found)


def moved(request, path):
    """301, not 302: search engines and bookmarks should take the new URL for good."""
    url = reverse("treatments:node", kwargs={"path": path})
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(f"{url}?{query}" if query else url)


def section_detail(request, section):
    context = {
        "section": section,
        "ancestors": Section.objects.ancestors_of(section.path)[:-1],
        "subsections": section.children.all(),
        "pages": TreatmentPage.objects.published().in_section(section).select_related("section"),
    }
    return render(request, "treatments/section.html", context)


def page_detail(request, page):
    return render_page(request, page, web_resources=page.web_resources.all())


def render_page(request, page, *, web_resources, extra=None):
    """The treatment page template for a live page or, from ``treatments.previews``, a draft."""
    as_of = timezone.localdate(page.list_refreshed_at) if page.list_refreshed_at else timezone.localdate()
    context = {
        "page": page,
        "ancestors": Section.objects.ancestors_of(page.section.path),
        "web_resources": web_resources,
        "listings": PageListing.objects.for_page(page),
        "as_of": as_of,
        **(extra or {}),
    }
    return render(request, "treatments/page.html", context)


@require_POST
def feedback(request, page_id):
    """Store "Found this page useful?": one vote per visitor, page and day; a later vote replaces it."""
    page = get_object_or_404(TreatmentPage.objects.published(), pk=page_id)
    answer = request.POST.get("useful")
    if answer not in ("yes", "no"):
        return HttpResponseBadRequest("Choose yes or no.")
    token = _visitor_token(request)
    Feedback.objects.update_or_create(
        page=page,
        visitor=_visitor_key(token),
        day=timezone.localdate(),
        defaults={"useful": answer == "yes"},
    )
    messages.success(request, "Thank you for your feedback.")
    response = redirect(page.get_absolute_url() + "#feedback", permanent=False)
    response.status_code = 303
    response.set_signed_cookie(
        VISITOR_COOKIE,
        token,
        max_age=VISITOR_COOKIE_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return response


def _visitor_token(request):
    """The visitor's cookie; else a token from address and browser, so cookie-less repeats count once."""
    token = request.get_signed_cookie(VISITOR_COOKIE, default=None)
    if token:
        return token
    fingerprint = f"{client_address(request)}|{request.META.get('HTTP_USER_AGENT', '')}"
    return (
        hashlib.sha256(fingerprint.encode()).hexdigest()[:32] if fingerprint != "|" else secrets.token_hex(16)
    )


def client_address(request):
    """The reader's address: behind our own proxy (TRUST_X_FORWARDED_FOR), the one it saw."""
    forwarded = request.headers.get("x-forwarded-for", "")
    if settings.TRUST_X_FORWARDED_FOR and forwarded:
        return forwarded.split(",")[-1].strip()  # the last hop is the one our proxy added
    return request.META.get("REMOTE_ADDR", "")


def _visitor_key(token):
    return hmac.new(settings.SECRET_KEY.encode(), token.encode(), hashlib.sha256).hexdigest()
