"""WSGI entry point for gunicorn: `gunicorn cancerindex.wsgi`."""

import os
import sys

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cancerindex.settings")

application = get_wsgi_application()


def refuse_the_public_key(settings, argv=sys.argv):
    """Serving with the key printed in settings.py lets anyone forge sessions and signed preview links.
    Only a DEBUG site or `manage.py runserver` (embedded mode, this machine only) may use it."""
    embedded_server = len(argv) > 1 and argv[1] == "runserver"
    if settings.SECRET_KEY == settings.EMBEDDED_SECRET_KEY and not (settings.DEBUG or embedded_server):
        raise ImproperlyConfigured(
            "Refusing to serve with the embedded SECRET_KEY (it is public): set SECRET_KEY, or DEBUG=1 "
            "on a development machine."
        )


refuse_the_public_key(settings)
