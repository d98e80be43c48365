"""URL reversal remembered per process: a URL depends only on the URLconf, the script prefix, the
language and the arguments, so each is worked out once.

Django's ``reverse`` matches converters, quotes and joins on every call: about 9 µs, and 29 µs for a
page's path. A treatment page reverses about 30 URLs per render (its links, its breadcrumb, related
pages), most of them the same on every page. Templates (``{{ url(...) }}``) and models'
``get_absolute_url`` go through here.
"""

from functools import lru_cache

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf
from django.urls import reverse as django_reverse
from django.utils import translation


def scope() -> tuple:
    """What a reversal depends on besides its arguments: the URLconf, script prefix and language in
    effect. Reading them costs more than a remembered reversal (thread- and task-local values), so a
    render that reverses many URLs reads them once (``cancerindex.templating.url``)."""
    return (get_urlconf() or settings.ROOT_URLCONF, get_script_prefix(), translation.get_language())


def reverse(name: str, *args, **kwargs) -> str:
    """Django's ``reverse(name, args=args, kwargs=kwargs)``, remembered (its errors are not)."""
    return reverse_in(scope(), name, *args, **kwargs)


def reverse_in(within: tuple, name: str, *args, **kwargs) -> str:
    """``reverse`` in a ``scope()`` read earlier."""
    return _reverse(within, (name, args, tuple(sorted(kwargs.items())) if kwargs else ()))


@lru_cache(maxsize=16384)  # every page and section of a large site, and the site's own URLs
def _reverse(within, key) -> str:
    (urlconf, _prefix, _language), (name, args, kwargs) = within, key
    return django_reverse(name, urlconf=urlconf, args=args, kwargs=dict(kwargs))
