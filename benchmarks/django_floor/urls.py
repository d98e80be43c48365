"""The page's URL answered with its saved bytes (``FLOOR_PAGE``), ahead of the site's own URLs."""

import os
from pathlib import Path

from django.http import HttpResponse
from django.urls import include, path

BODY = Path(os.environ["FLOOR_PAGE"]).read_bytes()
PAGE = os.environ.get("FLOOR_PATH", "treatments/biological-therapies/interleukin-2/")


def page(request):
    return HttpResponse(BODY, content_type="text/html; charset=utf-8")


urlpatterns = [path(PAGE, page), path("", include("cancerindex.urls"))]
