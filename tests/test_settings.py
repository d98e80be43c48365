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


PRODUCTION = {"DATABASE_URL": "postgres://u@h/db", "REDIS_URL": "redis://h:6379/0", "SECRET_KEY": "k" * 60}


def run(code, **env):
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT, env={**BASE_ENV, "DJANGO_SETTINGS_MODULE": "cancerindex.settings", **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_production_with_https_passes_the_deployment_checks():
    """`check --deploy` finds nothing: HSTS for a year, secure cookies, HTTPS redirect (README: Security)."""
    env = {
        **BASE_ENV,
        **PRODUCTION,
        "HTTPS": "1",
        "SECRET_KEY": "a-long-random-production-key-" + "x7Qz" * 10,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_https_sends_hsts_for_a_year():
    show = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_SSL_REDIRECT)"
    )
    result = run(show, **PRODUCTION, HTTPS="1")
    assert result.stdout.split() == ["31536000", "True", "True"], result.stderr


@pytest.mark.parametrize("env", [{}, {"DATABASE_URL": "", "REDIS_URL": ""}])
def test_gunicorn_refuses_to_serve_with_the_public_embedded_key(env):
    result = run("import cancerindex.wsgi", **env)
    assert result.returncode != 0
    assert "Refusing to serve with the embedded SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        ("gunicorn", {"DEBUG": "1"}),
        ("gunicorn", {"SECRET_KEY": "a-key-of-its-own"}),
        ("manage.py runserver", {}),
    ],
)
def test_serving_with_debug_a_key_of_its_own_or_runserver(argv, env):
    result = run(f"import sys; sys.argv = {argv.split()!r}; import cancerindex.wsgi; print('serving')", **env)
    assert (result.returncode, result.stdout.strip()) == (0, "serving"), result.stderr
