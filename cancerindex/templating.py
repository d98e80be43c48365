"""The readers' template engine: Jinja2, with Django's URLs, static files, dates and plurals.

Readers' pages (templates/jinja2/) render with Jinja2; the admin and its widgets keep Django's
templates (templates/admin/). Jinja2 compiles a template to Python once per process, where Django's
engine walks a node tree and resolves every variable through its lookup rules on each request: for
the treatment page that was about 3 ms of the 5 ms a render took (README: Performance). What the
templates may call is listed here and in each app's ``template_globals``; nothing reaches Python
except through them.
"""

from functools import lru_cache

from django.conf import settings
from django.template import defaultfilters
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone, translation
from jinja2 import ChainableUndefined, Environment


def environment(**options) -> Environment:
    """``TEMPLATES[...]["OPTIONS"]["environment"]``: the engine's globals and filters."""
    from treatments.templating import template_globals as treatments_globals

    # A missing variable, or an attribute of one, is blank as in Django's engine, in DEBUG too (Django's
    # backend would print it): ``page.refresh_check.last_checked_at`` of a page never checked is blank.
    options["undefined"] = ChainableUndefined
    # Every value is escaped unless marked safe (Django's SafeString is), whatever OPTIONS say.
    options.pop("autoescape", None)
    env = Environment(autoescape=True, extensions=["jinja2.ext.i18n"], **options)
    env.install_gettext_callables(translation.gettext, translation.ngettext, newstyle=True)
    env.globals.update(url=url, static=static, **treatments_globals())
    env.filters.update(
        date=date, pluralize=defaultfilters.pluralize, truncatewords=defaultfilters.truncatewords
    )
    return env


def url(name: str, *args, **kwargs) -> str:
    """``{{ url("treatments:home") }}``: Django's ``reverse``, remembered per URLconf, name, arguments,
    script prefix and language, which is all a reversal depends on. A page reverses about 27 URLs, most
    the same on every page: reversing them each time was a tenth of a render."""
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    key = (name, args, tuple(sorted(kwargs.items())))
    return _reverse(urlconf, get_script_prefix(), translation.get_language(), key)


@lru_cache(maxsize=4096)
def _reverse(urlconf, prefix, language, key) -> str:
    name, args, kwargs = key
    return reverse(name, urlconf=urlconf, args=args, kwargs=dict(kwargs))


def date(value, format_string: str | None = None) -> str:
    """``{{ when|date("j F Y") }}``: Django's ``date`` filter, in the site's time zone as Django's engine
    shows an aware datetime (Jinja2 does not convert it)."""
    if value in (None, ""):
        return ""
    return defaultfilters.date(timezone.template_localtime(value, settings.USE_TZ), format_string)
