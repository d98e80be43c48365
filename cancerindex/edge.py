"""The one place that talks to the edge cache (Varnish, ``deploy/varnish/default.vcl``).

``EDGE_PURGE_URL`` (read once in settings; unset means there is no edge) is where the edge listens.
A purge is one ``BAN`` request per batch of paths: the VCL bans every cached object whose URL is one
of those paths with any query string (``?voted=yes``, a section's later pages), whatever the Host.
Failures are logged, never raised: the writer's transaction has committed already, and the edge
copy expires after ``s-maxage`` anyway.
"""

import logging
import re
from collections.abc import Iterable

import httpx
from django.conf import settings

log = logging.getLogger(__name__)

BATCH = 40  # paths per BAN request: the regex travels in a header, which Varnish limits to 8 KB
TIMEOUT = 2.0
EVERYTHING = "^/"


def purge(paths: Iterable[str]) -> None:
    """Ban these URL paths ("/a/b/") and their query-string variants at the edge."""
    wanted = sorted(set(paths))
    for start in range(0, len(wanted), BATCH):
        batch = "|".join(re.escape(path) for path in wanted[start : start + BATCH])
        ban(rf"^(?:{batch})(?:\?.*)?$")


def purge_everything() -> None:
    """Ban every cached object: a section moved or was renamed, so any page's breadcrumb may differ."""
    ban(EVERYTHING)


def ban(pattern: str) -> bool:
    """One BAN request (the VCL accepts it only from 127.0.0.1); True if the edge took it."""
    if not settings.EDGE_PURGE_URL:
        return False
    try:
        response = httpx.request(
            "BAN", settings.EDGE_PURGE_URL, headers={"X-Ban-Url": pattern}, timeout=TIMEOUT
        )
    except httpx.HTTPError as exc:
        log.warning("Edge purge failed (%s): %s", pattern, exc)
        return False
    if response.status_code != 200:
        log.warning("Edge purge refused (%s): %s %s", pattern, response.status_code, response.text[:200])
        return False
    return True
