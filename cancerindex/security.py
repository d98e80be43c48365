"""Content-Security-Policy: one strict policy for readers' pages, a looser one for the admin.

django-csp 4 sends one policy per site; the admin needs inline scripts (django-prose-editor's import map)
and style attributes that readers' pages never do, so the admin's directives replace those two there.
The two headers are built once per process (the policies are static: no nonces), which keeps a page
served from the cache cheap.
"""

from csp.constants import HEADER
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import reverse

_built: dict[bool, str] = {}  # admin or not -> the header's value


@receiver(setting_changed)
def _forget(setting, **kwargs):
    if setting.startswith(("CONTENT_SECURITY_POLICY", "CSP_")):
        _built.clear()
    if setting in ("ROOT_URLCONF", "FORCE_SCRIPT_NAME"):
        _admin_prefix.clear()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """The site's policy, with CSP_ADMIN_DIRECTIVES in place of its own under the admin's URL."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and _is_admin(request):
            parts.replace = {**(parts.replace or {}), **settings.CSP_ADMIN_DIRECTIVES}
        return parts

    def process_response(self, request, response):
        if not _is_static_policy(request, response):
            return super().process_response(request, response)
        if HEADER not in response:
            admin = _is_admin(request)
            if admin not in _built:
                _built[admin] = super().process_response(request, response).get(HEADER, "")
                return response
            if _built[admin]:
                response[HEADER] = _built[admin]
        return response


def _is_admin(request) -> bool:
    urlconf = getattr(request, "urlconf", None)
    if (prefix := _admin_prefix.get(urlconf)) is None:
        prefix = _admin_prefix[urlconf] = reverse("admin:index", urlconf=urlconf)
    return request.path_info.startswith(prefix)


_admin_prefix: dict = {}  # urlconf -> the admin's URL: reversed once per process, not per response


def _is_static_policy(request, response) -> bool:
    """No per-response policy, no nonce asked for, no report-only policy: the header is always the same."""
    per_response = ("_csp_config", "_csp_update", "_csp_replace", "_csp_exempt")
    return (
        not any(hasattr(response, name) for name in per_response)
        and getattr(request, "_csp_nonce", None) is None
        and not getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
        and not settings.DEBUG
    )
