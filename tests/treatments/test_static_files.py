"""Production serves hashed, compressed static files: the page links the files collectstatic wrote."""

import io
import re

from django.core.management import call_command

from tests.conftest import DEMO_PAGE_URL


def test_pages_link_hashed_static_files_that_collectstatic_wrote(settings, tmp_path, client, demo_page):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0, stdout=io.StringIO())

    html = client.get(DEMO_PAGE_URL).content.decode()

    stylesheet = re.search(r'href="/static/(css/site\.[0-9a-f]{12}\.css)"', html)
    assert stylesheet, "the page links a hashed stylesheet"
    assert (tmp_path / stylesheet[1]).is_file()
    assert (tmp_path / f"{stylesheet[1]}.gz").is_file()
