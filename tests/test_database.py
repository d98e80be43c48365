"""The production database connection: what settings ask of PostgreSQL."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_postgresql_never_jit_compiles_the_sites_short_queries():
    """JIT spent 0.7 s compiling the related-pages query (32 ms to run) at 3,000 pages."""
    if connection.vendor != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
