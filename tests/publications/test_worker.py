"""A real Celery worker process, against Redis and the real (test) database, as in production.

These tests start ``celery -A cancerindex worker`` as a subprocess, send it tasks through Redis and
watch the database. They need a broker: without REDIS_URL (the embedded default) they are skipped;
with it (CI) they run, and a worker that cannot start fails them.

Isolation: the workers use a Redis database of their own (``WORKER_TEST_REDIS_DB``, default 14) as
broker and cache, and every test its own queue, so no other worker can take these jobs and these
workers take nobody else's. ``refresh_all_pages`` sends its tasks to the default "celery" queue,
which in that database only these tests' workers consume.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import redis
from celery.schedules import crontab
from django.apps import apps
from django.conf import settings
from django.db import connection
from django_celery_beat.schedulers import DatabaseScheduler
from kombu import Connection

from cancerindex.celery import app as celery_app
from publications import tasks
from publications.models import PageListing, RefreshRun
from tests.factories import TreatmentPageFactory
from tests.fakes.eutils import FakeEutils

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0  # seconds for a worker to connect and say "ready"
TASK_TIMEOUT = 60.0  # seconds for a task to show its effect in the database
SCHEDULE_NAME = "Refresh publications of all published pages"
NEW_YORK = ZoneInfo("America/New_York")

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(
        not settings.REDIS_URL,
        reason="needs a Redis broker: set REDIS_URL (and DATABASE_URL) to run real Celery workers",
    ),
]

# Runs the worker so that it dies with this process even if pytest itself is killed (Linux:
# PR_SET_PDEATHSIG survives the exec); the fixtures stop it normally, and atexit is a second net.
_LAUNCHER = """
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != int(sys.argv[1]):
        sys.exit("the test process is gone")
os.execv(sys.argv[2], sys.argv[2:])
"""

_live_workers: set[Worker] = set()


class Worker:
    """One ``celery worker`` subprocess (solo pool unless asked) with its log in a file."""

    def __init__(
        self, name: str, queues: list[str], env: dict[str, str], log_path: Path, pool: str = "solo"
    ) -> None:
        self.name = name
        self.pool = pool
        self.queues = queues
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log_file: IO[bytes] | None = None

    def start(self) -> None:
        celery = Path(sys.executable).with_name("celery")
        command = [
            str(celery), "-A", "cancerindex", "worker", f"--pool={self.pool}", "--concurrency=1",
            "-Q", ",".join(self.queues), "-n", f"{self.name}@%h",
            "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "info",
        ]  # fmt: skip
        self._log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one, untouched by the terminal's ^C
        )
        _live_workers.add(self)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if re.search(rf"{re.escape(self.name)}@\S+ ready\.", self.log()):
                return
            if not self.running:
                pytest.fail(f"worker {self.name} exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        pytest.fail(f"worker {self.name} was not ready after {READY_TIMEOUT:.0f} s:\n{self.log()}")

    def pool_children(self) -> list[int]:
        """The prefork pool's child processes (the worker itself is the launcher's exec'd process)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        """SIGKILL: the worker gets no chance to finish, acknowledge or give back its task."""
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.running:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.process.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
        _live_workers.discard(self)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signum)


@atexit.register
def _stop_stray_workers() -> None:
    for worker in list(_live_workers):
        worker.stop()


def worker_database_url() -> str:
    """The test database pytest-django created, as a DATABASE_URL for the worker."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}{port}/{quote(db['NAME'], safe='')}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(what: str, check: Callable[[], object], *workers: Worker, timeout: float = TASK_TIMEOUT):
    """Poll ``check`` until it returns something true; fail if it never does or a worker dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        for worker in workers:
            if not worker.running:
                pytest.fail(f"worker {worker.name} died while waiting for {what}:\n{worker.log()}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def finished_run(page) -> RefreshRun | None:
    return RefreshRun.objects.filter(page=page, finished_at__isnull=False).order_by("-finished_at").first()


def listed_pmids(page) -> list[int]:
    return list(
        PageListing.objects.filter(page=page).order_by("position").values_list("publication__pmid", flat=True)
    )


def succeeded(task_name: str, task_id: str = r"[0-9a-f-]+") -> str:
    """A regex for the worker's log line of a task that succeeded."""
    return rf"Task {re.escape(task_name)}\[{task_id}\] succeeded in [\d.e-]+s: "


def fixture_pmids(fake: FakeEutils, count: int) -> list[int]:
    """Some PMIDs the fake can serve, deliberately not in PMID order."""
    known = [pmid for pmid in fake.known_pmids if pmid > 30_000_000]
    return [known[(i * 7 + 3) % len(known)] for i in range(count)][::-1]


@pytest.fixture
def spawn_worker(broker_url: str, fake_eutils: FakeEutils, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Starts workers on the test database and the fake NCBI; stops them all afterwards, always.

    Their logs are printed at teardown, so pytest shows them when a test fails.
    """
    workers: list[Worker] = []
    queues: set[str] = set()

    def spawn(queues_: list[str], *, visibility_timeout: int = 3600, pool: str = "solo") -> Worker:
        name = unique("test-worker")
        env = {
            # Celery prefers CELERY_BROKER_URL and the like from the environment to the settings: none here.
            **{key: value for key, value in os.environ.items() if not key.startswith("CELERY_")},
            "DJANGO_SETTINGS_MODULE": "cancerindex.settings",
            "DATABASE_URL": worker_database_url(),
            "REDIS_URL": broker_url,
            "SECRET_KEY": settings.SECRET_KEY,
            "NCBI_EUTILS_URL": fake_eutils.base_url,
            "CELERY_VISIBILITY_TIMEOUT": str(visibility_timeout),
            "PYTHONUNBUFFERED": "1",
        }
        worker = Worker(name, queues_, env, tmp_path / f"{name}.log", pool=pool)
        workers.append(worker)
        queues.update(q for q in queues_ if q != "celery")
        worker.start()
        worker.wait_ready()
        return worker

    yield spawn
    for worker in workers:
        worker.stop()
    for worker in workers:
        print(f"----- log of worker {worker.name} -----\n{worker.log()}")
    client = redis.Redis.from_url(broker_url)
    for queue in queues:  # this run's queue and its exchange binding
        for key in client.scan_iter(match=f"*{queue}*"):
            client.delete(key)
    client.close()


def send(task, args: list, *, queue: str, broker_url: str):
    """Send ``task`` to ``queue`` on the workers' broker, as beat or a view would."""
    with Connection(broker_url) as conn:
        return task.apply_async(args=args, queue=queue, connection=conn)


@pytest.mark.django_db(transaction=True)
def test_a_worker_refreshes_a_page_from_pubmed(spawn_worker, broker_url, fake_eutils):
    page = TreatmentPageFactory(pubmed_query="aldesleukin[tiab] AND melanoma[tiab]")
    pmids = fixture_pmids(fake_eutils, 4)
    fake_eutils.set_search(page.pubmed_query, pmids)
    queue = unique("test-refresh")
    worker = spawn_worker([queue])

    result = send(tasks.refresh_page, [page.pk], queue=queue, broker_url=broker_url)

    run = wait_for("the refresh run", lambda: finished_run(page), worker)
    assert run.status == RefreshRun.Status.OK, run.error
    assert (run.pmids_found, run.publications_new) == (4, 4)
    assert listed_pmids(page) == pmids  # esearch's order
    wait_for("the worker's log", lambda: re.search(succeeded("publications.refresh_page"), worker.log()))
    log = worker.log()
    assert f"Task publications.refresh_page[{result.id}] received" in log
    assert re.search(succeeded("publications.refresh_page", result.id) + "'ok'", log)


@pytest.mark.django_db(transaction=True)  # the scheduler closes "old" connections: no test transaction
def test_beat_reads_the_hourly_refresh_from_the_database(monkeypatch):
    # A transactional test before this one flushed the rows the migrations made: make them again, the
    # migrations' way (a no-op on a fresh test database): 0002 creates the schedule, 0007 makes it hourly.
    importlib.import_module("publications.migrations.0002_daily_refresh_schedule").create_schedule(apps, None)
    importlib.import_module("publications.migrations.0009_hourly").make_hourly(apps, None)
    # django-celery-beat loads a crontab entry only within two hours of its hour: look at 02:30 New York
    # time (in summer, so that daylight saving time is in play).
    half_past_two = datetime(2025, 7, 1, 2, 30, tzinfo=NEW_YORK).astimezone(UTC)
    monkeypatch.setattr("django_celery_beat.schedulers.aware_now", lambda: half_past_two)
    assert celery_app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"

    entry = DatabaseScheduler(app=celery_app).schedule[SCHEDULE_NAME]

    assert entry.task == "publications.refresh_all_pages"
    assert isinstance(entry.schedule, crontab)
    assert (entry.schedule.hour, entry.schedule.minute) == (set(range(24)), {0})  # every hour, on the hour
    assert str(entry.schedule.tz) == "America/New_York"
    now = entry.schedule.now()
    due = now + entry.schedule.remaining_estimate(now)  # to within a second
    due = (due + timedelta(seconds=30)).replace(second=0, microsecond=0).astimezone(NEW_YORK)
    assert due.minute == 0  # the next full hour
    assert timedelta(0) < due - now <= timedelta(hours=1)


@pytest.mark.django_db(transaction=True)
def test_the_hourly_job_refreshes_every_published_page_through_the_worker(
    spawn_worker, broker_url, fake_eutils
):
    with Connection(broker_url) as conn:
        conn.default_channel.queue_purge("celery")  # nothing left over from an interrupted run
    pmids = fixture_pmids(fake_eutils, 4)
    first = TreatmentPageFactory(pubmed_query="interleukin-2[tiab]")
    second = TreatmentPageFactory(pubmed_query="aldesleukin[tiab]")
    draft = TreatmentPageFactory(pubmed_query="draft[tiab]", published=False)
    no_query = TreatmentPageFactory(pubmed_query="")
    fake_eutils.set_search(first.pubmed_query, pmids[:2])
    fake_eutils.set_search(second.pubmed_query, pmids[2:])
    fake_eutils.set_search(draft.pubmed_query, pmids)
    queue = unique("test-daily")
    worker = spawn_worker([queue, "celery"])  # refresh_all_pages sends one task per page to "celery"

    result = send(tasks.refresh_all_pages, [], queue=queue, broker_url=broker_url)

    for page in (first, second):
        run = wait_for(f"the refresh of {page}", lambda page=page: finished_run(page), worker)
        assert run.status == RefreshRun.Status.OK, run.error
    assert listed_pmids(first) == pmids[:2]
    assert listed_pmids(second) == pmids[2:]

    def both_logged() -> str:
        log = worker.log()
        return log if len(re.findall(succeeded("publications.refresh_page"), log)) == 2 else ""

    log = wait_for("the worker's log of both refreshes", both_logged, worker)
    assert re.search(succeeded("publications.refresh_all_pages", result.id) + "2$", log, re.MULTILINE)
    assert len(re.findall(r"Task publications\.refresh_page\[[0-9a-f-]+\] received", log)) == 2
    assert not RefreshRun.objects.filter(page__in=[draft, no_query]).exists()
    assert not PageListing.objects.filter(page=draft).exists()
    assert not any(
        request.params["term"] == draft.pubmed_query for request in fake_eutils.requests_to("esearch")
    )


def unacked_since(broker_url: str, task_id: str) -> float | None:
    """When the broker handed ``task_id`` to a worker that has not acknowledged it yet, if it did."""
    client = redis.Redis.from_url(broker_url)
    try:
        for tag, raw in client.hgetall("unacked").items():
            if json.loads(raw)[0].get("headers", {}).get("id") == task_id:
                return client.zscore("unacked_index", tag)
        return None
    finally:
        client.close()


@pytest.mark.django_db(transaction=True)
def test_the_job_of_a_killed_worker_is_redelivered(spawn_worker, broker_url, fake_eutils):
    visibility_timeout = 2  # seconds; production keeps the default hour
    page = TreatmentPageFactory(pubmed_query="interleukin-2[tiab] AND renal[tiab]")
    pmids = fixture_pmids(fake_eutils, 3)
    fake_eutils.set_search(page.pubmed_query, pmids)
    fake_eutils.inject("slow", endpoint="esearch", delay=30)  # the first worker hangs on NCBI
    queue = unique("test-redeliver")
    first = spawn_worker([queue], visibility_timeout=visibility_timeout)

    result = send(tasks.refresh_page, [page.pk], queue=queue, broker_url=broker_url)
    wait_for("the first worker to ask NCBI", lambda: fake_eutils.requests_to("esearch"), first)
    first.kill()

    delivered_at = unacked_since(broker_url, result.id)
    assert delivered_at is not None, "the killed worker's task is not waiting unacknowledged in Redis"
    # Its page lock is still held; the redelivered task has the same id and takes it over.
    # A worker restores the messages whose visibility timeout is over when it starts polling.
    time.sleep(max(0.0, delivered_at + visibility_timeout + 0.5 - time.time()))
    second = spawn_worker([queue], visibility_timeout=visibility_timeout)

    succeeded_run = page.refresh_runs.filter(status=RefreshRun.Status.OK).first
    run = wait_for("the redelivered refresh", succeeded_run, second)
    assert listed_pmids(page) == pmids
    wait_for("the worker's log", lambda: re.search(succeeded("publications.refresh_page"), second.log()))
    assert f"Task publications.refresh_page[{result.id}] received" in second.log()
    assert re.search(succeeded("publications.refresh_page", result.id) + "'ok'", second.log())
    assert unacked_since(broker_url, result.id) is None
    assert page.refresh_runs.filter(status=RefreshRun.Status.OK).count() == 1
    assert page.refresh_runs.get(pk__lt=run.pk).error == RefreshRun.INTERRUPTED  # the killed attempt's


@pytest.mark.django_db(transaction=True)
def test_a_pool_child_killed_mid_refresh_is_replaced_and_the_page_refreshed(
    spawn_worker, broker_url, fake_eutils
):
    """Celery requeues the task at once; the redelivered task takes over its dead run's lock."""
    page = TreatmentPageFactory(pubmed_query="interleukin-2[tiab] AND melanoma[tiab]")
    pmids = fixture_pmids(fake_eutils, 3)
    fake_eutils.set_search(page.pubmed_query, pmids)
    fake_eutils.inject("slow", endpoint="efetch", delay=30)  # the first attempt hangs on efetch
    queue = unique("test-child-killed")
    worker = spawn_worker([queue], pool="prefork")
    (child,) = wait_for("the pool child", worker.pool_children, worker)

    send(tasks.refresh_page, [page.pk], queue=queue, broker_url=broker_url)
    wait_for("the first attempt to ask for the records", lambda: fake_eutils.requests_to("efetch"), worker)
    os.kill(child, signal.SIGKILL)  # the slow answer was for that attempt only

    succeeded_run = page.refresh_runs.filter(status=RefreshRun.Status.OK).first
    run = wait_for("the redelivered refresh", succeeded_run, worker, timeout=60)
    assert listed_pmids(page) == pmids, run.error
    assert not page.refresh_runs.filter(status=RefreshRun.Status.RUNNING).exists()
    dead = page.refresh_runs.exclude(pk=run.pk).get()
    assert (dead.status, dead.error) == ("failed", RefreshRun.INTERRUPTED)


@pytest.fixture
def web_queues_to(broker_url: str) -> Iterator[str]:
    """This process sends its tasks to the test workers' broker, as the web process does in production."""
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = broker_url
    _forget_pooled_connections()
    with Connection(broker_url) as conn:
        conn.default_channel.queue_purge("celery")  # nothing left over from an interrupted run
    yield broker_url
    celery_app.conf.broker_url = previous
    _forget_pooled_connections()


def _forget_pooled_connections() -> None:
    """Drop the app's pooled broker connections and producers, as Celery does in a forked child: the
    next task goes to the broker named now (earlier tests may have sent through the other one)."""
    celery_app._after_fork()


@pytest.mark.django_db(transaction=True)
def test_refresh_now_in_the_admin_is_carried_out_by_a_worker(spawn_worker, web_queues_to, fake_eutils):
    """The button queues the task on the broker (not eagerly); a worker refreshes; the status says so."""
    from django.contrib.auth.models import User
    from django.test import Client

    page = TreatmentPageFactory(pubmed_query="aldesleukin[tiab] AND renal[tiab]")
    pmids = fixture_pmids(fake_eutils, 3)
    fake_eutils.set_search(page.pubmed_query, pmids)
    worker = spawn_worker(["celery"])  # the view sends to the default queue
    editor = Client()
    editor.force_login(User.objects.create_superuser("chief", "chief@example.org", "unused-password"))

    response = editor.post(f"/admin/treatments/treatmentpage/{page.pk}/refresh-now/")

    assert response.status_code == 302
    run = wait_for("the worker's refresh", lambda: finished_run(page), worker)
    assert run.status == RefreshRun.Status.OK, run.error
    assert listed_pmids(page) == pmids
    assert re.search(r"Task publications\.refresh_page\[[0-9a-f-]+\] received", worker.log())
    status = editor.get(response["Location"], headers={"Accept": "application/json"})
    assert "Refreshed: 3 new" in status.content.decode()
