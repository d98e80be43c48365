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
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template import defaultfilters
from django.templatetags.static import static as django_static
from django.utils import timezone, translation
from jinja2 import ChainableUndefined, Environment, pass_context

from . import reversing


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


@pass_context
def url(context, name: str, *args, **kwargs) -> str:
    """``{{ url("treatments:home") }}``: ``cancerindex.reversing.reverse``, reading what reversals depend
    on once per request rather than once per URL."""
    request = context.get("request")
    within = getattr(request, "_url_scope", None)
    if within is None:
        within = reversing.scope()
        if request is not None:
            request._url_scope = within
    return reversing.reverse_in(within, name, *args, **kwargs)


@lru_cache(maxsize=64)
def static(path: str) -> str:
    """``{{ static("css/site.css") }}``: the file's URL (hashed in production), looked up once per process."""
    return django_static(path)


def date(value, format_string: str | None = None) -> str:
    """``{{ when|date("j F Y") }}``: Django's ``date`` filter, in the site's time zone as Django's engine
    shows an aware datetime (Jinja2 does not convert it). Remembered per value, format, language and
    time zone: a page shows the same few dates on every render (15-30 µs each through Django)."""
    if value in (None, ""):
        return ""
    return _date(value, format_string, translation.get_language(), timezone.get_current_timezone_name())


@lru_cache(maxsize=4096)
def _date(value, format_string, language, zone) -> str:
    return defaultfilters.date(timezone.template_localtime(value, settings.USE_TZ), format_string)


@receiver(setting_changed)
def _forget(setting, **kwargs):
    """Tests change the settings these depend on."""
    if setting in (
        "STATIC_URL",
        "STORAGES",
        "TIME_ZONE",
        "USE_TZ",
        "DATE_FORMAT",
        "USE_L10N",
        "LANGUAGE_CODE",
    ):
        static.cache_clear()
        _date.cache_clear()
