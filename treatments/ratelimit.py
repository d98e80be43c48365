"""Fixed-window rate limits kept in Django's cache (Redis in production), shared by every worker.

A vote flood from one address, or from many addresses of one network, must not move a page's totals,
so votes are counted per address and per /24 (IPv4) or /64 (IPv6) network. Each count is one atomic
INCR on a key that expires with its window. If the cache is unreachable the vote is let through:
a lost vote limit is better than a reader seeing an error (README: Production stack).
"""

import ipaddress
import logging
import time

from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)

# (votes, seconds): the defaults when settings do not say otherwise.
ADDRESS_RATE = (10, 600)
NETWORK_RATE = (30, 600)


def network_of(address: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) around an address: one household, office or hosting block."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def hit(scope: str, key: str, limit: int, window: int) -> bool:
    """Count one event for key; False once more than `limit` fell in the current window."""
    cache = caches[getattr(settings, "RATE_LIMIT_CACHE", "default")]
    name = f"ratelimit:{scope}:{key}:{int(time.time() // window)}"
    try:
        cache.add(name, 0, timeout=window + 1)
        try:
            count = cache.incr(name)
        except ValueError:  # expired between add and incr
            cache.set(name, 1, timeout=window + 1)
            count = 1
    except Exception:  # the cache is down: let the vote through rather than fail the request
        logger.warning("rate limit %s not checked: cache unreachable", scope, exc_info=True)
        return True
    return count <= limit


def vote_allowed(address: str) -> bool:
    """May this address vote now? Both its own and its network's budgets must have room."""
    per_address = getattr(settings, "FEEDBACK_RATE_ADDRESS", ADDRESS_RATE)
    per_network = getattr(settings, "FEEDBACK_RATE_NETWORK", NETWORK_RATE)
    address_ok = hit("vote-address", address or "unknown", *per_address)
    network_ok = hit("vote-network", network_of(address) or "unknown", *per_network)
    return address_ok and network_ok
