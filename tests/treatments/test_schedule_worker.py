"""A real Celery beat and worker publish a scheduled page, as in production.

Beat reads the publishing schedule from the (test) database with django-celery-beat's scheduler,
sends the task through Redis, and a worker runs it. Without REDIS_URL (embedded mode) this is
skipped; with it (CI) it runs. Processes, broker database and isolation follow
tests/publications/test_worker.py: the schedule is pointed at a queue of this test's own, so no
other worker takes its runs and this worker takes nobody else's.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.apps import apps
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.factories import TreatmentPageFactory
from tests.publications.test_worker import (
    _LAUNCHER,
    READY_TIMEOUT,
    ROOT,
    Worker,
    _live_workers,
    unique,
    wait_for,
    worker_database_url,
)
from treatments import workflow
from treatments.models import TreatmentPage

SCHEDULE = importlib.import_module("treatments.migrations.0006_publishing_schedule")
PUBLISH_TIMEOUT = 90.0  # seconds for beat and the worker to publish the page

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="needs a Redis broker: set REDIS_URL (and DATABASE_URL) to run real Celery beat and workers",
    ),
]


class Beat(Worker):
    """``celery beat`` with the database scheduler, started and stopped like the test workers."""

    def start(self) -> None:
        celery = Path(sys.executable).with_name("celery")
        command = [
            str(celery), "-A", "cancerindex", "beat", "-l", "info", "--max-interval=1",
            "--scheduler=django_celery_beat.schedulers:DatabaseScheduler",
            f"--schedule={self.log_path.with_suffix('.schedule')}",
        ]  # fmt: skip
        self._log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _live_workers.add(self)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if "beat: Starting..." in self.log():
                return
            if not self.running:
                pytest.fail(f"beat exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        pytest.fail(f"beat was not ready after {READY_TIMEOUT:.0f} s:\n{self.log()}")


@pytest.fixture
def queue(broker_url: str) -> Iterator[str]:
    """A queue of this test's own; its keys are removed afterwards."""
    name = unique("test-schedule")
    yield name
    client = redis.Redis.from_url(broker_url)
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def processes(broker_url: str, tmp_path: Path) -> Iterator[list[Worker]]:
    """Beat and worker processes started by the test; stopped and their logs printed afterwards."""
    started: list[Worker] = []
    yield started
    for process in started:
        process.stop()
    for process in started:
        print(f"----- log of {process.name} -----\n{process.log()}")


def process_env(broker_url: str) -> dict[str, str]:
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("CELERY_")},
        "DJANGO_SETTINGS_MODULE": "cancerindex.settings",
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": broker_url,
        "SECRET_KEY": settings.SECRET_KEY,
        "PYTHONUNBUFFERED": "1",
    }


def schedule_on(queue: str) -> PeriodicTask:
    """The migration's schedule (a transactional test before may have flushed it), every 2 s, on ``queue``."""
    SCHEDULE.create_schedule(apps, None)
    task = PeriodicTask.objects.get(name=SCHEDULE.TASK_NAME)
    assert (task.task, task.interval.every, task.interval.period) == (SCHEDULE.TASK, 1, "minutes")
    task.interval, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    task.queue = queue
    task.save()
    return task


def published(page_id: int) -> TreatmentPage | None:
    page = TreatmentPage.objects.get(pk=page_id)
    return page if page.published and page.publish_at is None else None


@pytest.mark.django_db(transaction=True)  # beat and the worker must see the committed rows
def test_beat_publishes_a_scheduled_page_through_a_worker(processes, queue, broker_url, tmp_path):
    page = TreatmentPageFactory(description="<p>Old text.</p>")
    workflow.save_draft(page, {**workflow.content_of(page), "description": "<p>New text.</p>"})
    TreatmentPage.objects.filter(pk=page.pk).update(publish_at=timezone.now() - timedelta(seconds=5))
    schedule_on(queue)
    env = process_env(broker_url)
    worker = Worker(unique("test-worker"), [queue], env, tmp_path / "worker.log")
    beat = Beat(unique("test-beat"), [], env, tmp_path / "beat.log")
    for process in (worker, beat):
        processes.append(process)
        process.start()
        process.wait_ready()

    page = wait_for(
        "beat and the worker to publish the page",
        lambda: published(page.pk),
        worker,
        beat,
        timeout=PUBLISH_TIMEOUT,
    )

    assert (page.description, page.draft, page.schedule_error) == ("<p>New text.</p>", None, "")
    assert f"Sending due task {SCHEDULE.TASK_NAME} ({SCHEDULE.TASK})" in beat.log()
    done = rf"Task {re.escape(SCHEDULE.TASK)}\[[0-9a-f-]+\] succeeded in [\d.e-]+s: 'published 1, "
    wait_for("the worker's log", lambda: re.search(done, worker.log()), worker)
