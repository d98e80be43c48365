"""Settings refuse half a production configuration, and production without its own secret key."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODE_VARIABLES = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}
BASE_ENV = {name: value for name, value in os.environ.items() if name not in MODE_VARIABLES}
SHOW_MODE = "import django; django.setup(); from django.conf import settings; print(settings.EMBEDDED)"


def load_settings(**env):
    return subprocess.run(
        [sys.executable, "-c", SHOW_MODE],
        cwd=ROOT, env={**BASE_ENV, "DJANGO_SETTINGS_MODULE": "cancerindex.settings", **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": "postgres://u@h/db", "SECRET_KEY": "k"},
        {"REDIS_URL": "redis://h:6379/0", "SECRET_KEY": "k"},
    ],
)
def test_half_a_production_configuration_is_refused(env):
    result = load_settings(**env)
    assert result.returncode != 0
    assert "Set both DATABASE_URL and REDIS_URL" in result.stderr


def test_production_needs_its_own_secret_key_even_with_debug():
    result = load_settings(DATABASE_URL="postgres://u@h/db", REDIS_URL="redis://h:6379/0", DEBUG="1")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_embedded_mode_needs_nothing():
    result = load_settings()
    assert (result.returncode, result.stdout.strip()) == (0, "True"), result.stderr
