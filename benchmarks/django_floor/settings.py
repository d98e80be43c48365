"""The site's own stack with nothing of the page's work: its settings and middleware, its URLs, and one view
answering the page's saved bytes from memory (``urls.py``). ``serve.sh`` runs it under gunicorn as it runs the
site, so the gap between the two is what the page costs (its queries, PostgreSQL and the template), apart from
what Django, the middleware and gunicorn cost any answer.

Run with PYTHONPATH=benchmarks DJANGO_SETTINGS_MODULE=django_floor.settings FLOOR_PAGE=path/to/page.html.
"""

from cancerindex.settings import *  # noqa: F403 - the site's settings, one name changed

ROOT_URLCONF = "django_floor.urls"
