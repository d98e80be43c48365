"""The benchmarks' builders keep up with the models: benchmarks/scale.py writes its 300,000 listings and
runs in raw SQL, which a new NOT NULL column breaks without a word until the next run (it did once).
Built here at a tiny size on the test database; the script prints times, this checks only that it runs."""

import importlib.util
import sys
from pathlib import Path

import pytest
from django.db import connection

from publications.models import PageListing, Publication, RefreshRun
from treatments.models import TreatmentPage

SCALE = Path(__file__).resolve().parents[1] / "benchmarks" / "scale.py"


@pytest.fixture
def scale(monkeypatch):
    spec = importlib.util.spec_from_file_location("scale_benchmark", SCALE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sizes = dict(PAGES=12, SECTIONS=3, BIG_SECTION=4, LISTINGS_PER_PAGE=5, BIG_PAGE_LISTINGS=9,
                 PUBLICATIONS=40, RUN_DAYS=3)  # fmt: skip
    for name, value in sizes.items():
        monkeypatch.setattr(module, name, value)
    return module


@pytest.mark.django_db
def test_the_scale_benchmark_builds_its_content_with_the_models_as_they_are(scale, client):
    if connection.vendor != "postgresql":
        pytest.skip("benchmarks/scale.py builds on PostgreSQL (generate_series)")
    scale.build_tree()
    scale.build_publications()
    scale.build_listings_and_runs()
    assert TreatmentPage.objects.count() == 12 and Publication.objects.count() == 40
    assert PageListing.objects.count() == 11 * 5 + 9 and RefreshRun.objects.count() == 12 * 3
    big_page = TreatmentPage.objects.order_by("pk").first()
    response = client.get(big_page.get_absolute_url())
    assert response.status_code == 200 and response.content.count(b'class="publication') >= 9


BENCHMARKS = SCALE.parent


@pytest.fixture
def django_floor(tmp_path, monkeypatch, settings):
    """benchmarks/django_floor's URLs, answering a saved page, in place of the site's."""
    page = tmp_path / "page.html"
    page.write_bytes("<!doctype html><title>Interleukin 2</title><p>γc saved bytes".encode())
    monkeypatch.setenv("FLOOR_PAGE", str(page))
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.delitem(sys.modules, "django_floor.urls", raising=False)
    settings.ROOT_URLCONF = "django_floor.urls"
    return page.read_bytes()


@pytest.mark.django_db
def test_the_site_stack_alone_answers_the_saved_page_through_the_sites_middleware(django_floor, client):
    response = client.get("/treatments/biological-therapies/interleukin-2/")
    assert response.status_code == 200 and response.content == django_floor
    # The site's own middleware ran: its security headers and the ETag the page's answer gets.
    assert response["Content-Security-Policy"] and response["X-Content-Type-Options"] == "nosniff"
    assert response.has_header("ETag")
    assert client.get("/").status_code == 200  # the site's other URLs stay as they are


def test_the_serving_goals_say_what_the_uncached_page_costs_beside_the_stack_alone(tmp_path):
    spec = importlib.util.spec_from_file_location("goals_benchmark", BENCHMARKS / "goals.py")
    goals = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(goals)
    table = tmp_path / "compare.txt"
    table.write_text(
        "target req/s ratio p50_ms p99_ms non2xx bytes\n"
        "django 2000 1 1 1 0 96074\nsite 500 1 1 1 0 96074\nwagtail 100 1 1 1 0 56785\n"
    )
    # Two cores: the stack 1 ms a request, the site 4 ms; 10x the peer is 2 ms, which leaves the page 1 ms.
    assert goals.page_work(goals.read_table(table), cores=2).endswith(
        "(queries, PostgreSQL, template) 3.00 ms more; 10x the peer leaves it 1.00 ms (3.0x less)"
    )
    table.write_text(
        "target req/s ratio p50_ms p99_ms non2xx bytes\nsite 500 1 1 1 0 1\nwagtail 100 1 1 1 0 1\n"
    )
    assert goals.page_work(goals.read_table(table), cores=2) is None  # no stack alone in the run: not guessed
