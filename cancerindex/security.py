"""Content-Security-Policy: one strict policy for readers' pages, a looser one for the admin.

django-csp 4 sends one policy per site; the admin needs inline scripts (django-prose-editor's import map)
and style attributes that readers' pages never do, so the admin's directives replace those two there.
"""

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.urls import reverse


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """The site's policy, with CSP_ADMIN_DIRECTIVES in place of its own under the admin's URL."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and request.path_info.startswith(reverse("admin:index")):
            parts.replace = {**(parts.replace or {}), **settings.CSP_ADMIN_DIRECTIVES}
        return parts
