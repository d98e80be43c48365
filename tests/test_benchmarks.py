"""The benchmarks' builders keep up with the models: benchmarks/scale.py writes its 300,000 listings and
runs in raw SQL, which a new NOT NULL column breaks without a word until the next run (it did once).
Built here at a tiny size on the test database; the script prints times, this checks only that it runs."""

import importlib.util
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
