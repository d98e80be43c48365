"""The throw-away state a benchmark of the demo page runs in: set in the environment before Django starts."""

import os
import tempfile
from pathlib import Path


def use_scratch_state(prefix: str) -> Path:
    """A new temporary folder for static files and, unless BENCHMARK_DATABASE_URL names a scratch
    PostgreSQL database (never a real one), an SQLite database; returns the folder."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    if url := os.environ.get("BENCHMARK_DATABASE_URL"):
        os.environ.update(
            DATABASE_URL=url,
            REDIS_URL=os.environ.get("BENCHMARK_REDIS_URL", "redis://127.0.0.1:6379/13"),
            SECRET_KEY="benchmark-only",  # noqa: S106 - a scratch database
        )
    else:
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        os.environ["SQLITE_PATH"] = str(scratch / "db.sqlite3")
    os.environ["STATIC_ROOT"] = str(scratch / "static")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cancerindex.settings")
    return scratch


def load_demo() -> None:
    """The scratch database migrated, the static files collected and the demo pages loaded (Django set up)."""
    import io

    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    call_command("load_demo", verbosity=0, stdout=io.StringIO())
