"""The link checker against real local servers: every way a link can answer, fail or move.

The servers listen on 127.0.0.1 only, so the tests turn on LINK_CHECK_ALLOW_PRIVATE (the autouse
fixture below), except where they check that the rule refuses loopback addresses.
"""

from __future__ import annotations

import io
import itertools
import socket
import ssl
import struct
import subprocess
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from cancerindex.celery import app
from tests.factories import TreatmentPageFactory, WebResourceFactory
from treatments import linkcheck, tasks, workflow
from treatments.models import LinkStatus, PageRevision, TreatmentPage, WebResource

TIMEOUT = 0.5  # seconds: the slow page answers only after the test ends

pytestmark = pytest.mark.django_db


class LinkServer(ThreadingHTTPServer):
    """Answers each path the way some real site does; remembers every request."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), LinkHandler)
        self.requests: list[tuple[str, str, str]] = []  # method, path, User-Agent
        self.in_flight = self.most_in_flight = 0
        self.arrivals: list[float] = []
        self.lock = threading.Lock()
        self.release = threading.Event()  # lets /slow go when the test is over
        self.head_refusals = {"/head-405": 405, "/head-403": 403, "/head-501": 501}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path


ROUTES = {
    "/ok": (200, None),
    "/missing": (404, None),
    "/gone": (410, None),
    "/error": (500, None),
    "/unavailable": (503, None),
    "/moved": (301, "/ok"),
    "/moved-308": (308, "/ok"),
    "/found": (302, "/ok"),
    "/temporary": (307, "/ok"),
    "/chain": (301, "/moved-308"),  # permanent, then permanent again: the final address is offered
    "/then-temporary": (301, "/found"),  # permanent to /found, which redirects for now: /found is offered
    "/moved-to-missing": (301, "/missing"),
    "/loop": (301, "/loop"),
    "/to-nowhere": (301, "http://nowhere.invalid/"),
    "/to-ftp": (301, "ftp://files.example.org/il2"),
    "/absolute": (301, None),  # Location: this server's /ok, written out in full
    "/bad-location": (301, "//[::1"),
}


class LinkHandler(BaseHTTPRequestHandler):
    server: LinkServer

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.answer("HEAD")

    def do_GET(self):
        self.answer("GET")

    def answer(self, method):
        server, path = self.server, self.path
        with server.lock:
            server.requests.append((method, path, self.headers.get("User-Agent", "")))
            server.arrivals.append(time.monotonic())
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        try:
            if path == "/slow":
                server.release.wait(10)
            if path == "/hang-up":  # closes the connection without a word
                self.close_connection = True
                return
            if path == "/reset":  # drops the connection: a TCP reset, not a goodbye
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            status, location = ROUTES.get(
                path, (200, None) if path.startswith(("/page", "/head")) else (404, None)
            )
            if method == "HEAD" and path in server.head_refusals:
                status, location = server.head_refusals[path], None
            if path == "/absolute":
                location = server.url("/ok")
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
        finally:
            with server.lock:
                server.in_flight -= 1


@pytest.fixture
def site():
    server = LinkServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


OPENSSL_SELF_SIGNED = [
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
]


@pytest.fixture(scope="session")
def self_signed_cert(tmp_path_factory):
    """A certificate nobody vouches for, made with the openssl command line."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [*OPENSSL_SELF_SIGNED, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_site(self_signed_cert):
    server = LinkServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_cert)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _local_links(settings):
    """The test servers are on 127.0.0.1: allowed here only, never by default."""
    settings.LINK_CHECK_ALLOW_PRIVATE = True
    settings.LINK_CHECK_TIMEOUT = TIMEOUT
    settings.LINK_CHECK_HOST_DELAY = 0
    settings.LINK_CHECK_USER_AGENT = (
        "CancerIndex link checker (+https://www.cancerindex.org/; test@example.org)"
    )


def check(url):
    return linkcheck.Checker.from_settings().check(url)


# --- One URL: what it answers -------------------------------------------------------------------


def test_a_page_that_answers_is_ok_after_one_head_request(site):
    outcome = check(site.url("/ok"))
    assert (outcome.status, outcome.http_status, outcome.error) == (LinkStatus.OK, 200, "")
    assert outcome.describe() == "HTTP 200"
    assert [request[:2] for request in site.requests] == [("HEAD", "/ok")]


@pytest.mark.parametrize("path", ["/head-405", "/head-403", "/head-501"])
def test_a_server_that_refuses_head_is_asked_with_get(site, path):
    outcome = check(site.url(path))
    assert (outcome.status, outcome.http_status) == (LinkStatus.OK, 200)
    assert [request[:2] for request in site.requests] == [("HEAD", path), ("GET", path)]


@pytest.mark.parametrize(
    ("path", "status"), [("/missing", 404), ("/gone", 410), ("/error", 500), ("/unavailable", 503)]
)
def test_client_and_server_errors_are_broken_links(site, path, status):
    outcome = check(site.url(path))
    assert (outcome.status, outcome.http_status, outcome.error) == (
        LinkStatus.BROKEN,
        status,
        f"HTTP {status}",
    )
    assert outcome.broken
    assert [request[0] for request in site.requests] == [
        "HEAD",
        "GET",
    ]  # HEAD may be what a server gets wrong


def test_the_checker_names_the_site_and_a_contact(site):
    check(site.url("/ok"))
    assert site.requests[0][2] == "CancerIndex link checker (+https://www.cancerindex.org/; test@example.org)"


@pytest.mark.parametrize("path", ["/moved", "/moved-308", "/absolute"])
def test_a_permanent_redirect_offers_the_new_address(site, path):
    outcome = check(site.url(path))
    assert (outcome.status, outcome.http_status) == (LinkStatus.REDIRECT, 200)
    assert outcome.redirect_to == site.url("/ok")
    assert [hop[:2] for hop in outcome.hops] == [
        (site.url(path), 301 if path != "/moved-308" else 308),
        (site.url("/ok"), 200),
    ]
    status = 308 if path == "/moved-308" else 301
    assert (
        outcome.describe()
        == f"HTTP {status} → {site.url('/ok')}, HTTP 200; moved permanently to {site.url('/ok')}"
    )


@pytest.mark.parametrize("path", ["/found", "/temporary"])
def test_a_temporary_redirect_is_followed_but_not_offered(site, path):
    outcome = check(site.url(path))
    assert (outcome.status, outcome.http_status, outcome.redirect_to) == (LinkStatus.OK, 200, "")
    assert len(outcome.hops) == 2


def test_a_chain_of_permanent_redirects_offers_its_end(site):
    outcome = check(site.url("/chain"))
    assert outcome.redirect_to == site.url("/ok")
    assert [status for _, status, _ in outcome.hops] == [301, 308, 200]


def test_a_permanent_redirect_to_a_temporary_one_offers_the_permanent_target(site):
    outcome = check(site.url("/then-temporary"))
    assert (outcome.status, outcome.redirect_to) == (LinkStatus.REDIRECT, site.url("/found"))


def test_a_redirect_to_a_missing_page_is_broken_and_offers_nothing(site):
    outcome = check(site.url("/moved-to-missing"))
    assert (outcome.status, outcome.http_status, outcome.redirect_to) == (LinkStatus.BROKEN, 404, "")
    assert outcome.describe() == f"HTTP 301 → {site.url('/missing')}, HTTP 404"


def test_a_redirect_loop_stops_after_ten_hops(site):
    outcome = check(site.url("/loop"))
    assert (outcome.status, outcome.error) == (LinkStatus.ERROR, "More than 10 redirects")
    assert len(site.requests) == linkcheck.MAX_HOPS + 1


def test_an_unknown_host_is_a_dns_error():
    outcome = check("http://no-such-host.invalid/page")
    assert (outcome.status, outcome.error) == (LinkStatus.ERROR, "DNS lookup failed for no-such-host.invalid")
    assert outcome.http_status is None and outcome.broken


def test_a_redirect_to_an_unknown_host_records_the_hop_and_the_dns_error(site):
    outcome = check(site.url("/to-nowhere"))
    assert outcome.status == LinkStatus.ERROR
    assert outcome.describe() == "HTTP 301 → http://nowhere.invalid/, DNS lookup failed for nowhere.invalid"


def test_a_redirect_away_from_the_web_is_an_error(site):
    outcome = check(site.url("/to-ftp"))
    assert outcome.error == "Redirected to a non-web address: ftp://files.example.org/il2"


def test_a_slow_server_times_out(site):
    outcome = check(site.url("/slow"))
    assert (outcome.status, outcome.error) == (LinkStatus.ERROR, f"Timed out after {TIMEOUT:g} s")


def test_an_untrusted_certificate_is_a_tls_error(tls_site):
    outcome = check(f"https://127.0.0.1:{tls_site.server_address[1]}/ok")
    assert outcome.status == LinkStatus.ERROR
    assert outcome.error.startswith("TLS error: ")
    assert "self-signed certificate" in outcome.error
    assert tls_site.requests == []  # nothing is asked over a connection that is not trusted


def test_a_server_that_hangs_up_gives_an_invalid_answer(site):
    outcome = check(site.url("/hang-up"))
    assert (outcome.status, outcome.error) == (
        LinkStatus.ERROR,
        "Invalid answer: Server disconnected without sending a response.",
    )


def test_a_redirect_to_a_malformed_address_is_an_invalid_answer(site):
    error = check(site.url("/bad-location")).error
    assert error == "Invalid answer: Invalid URL in location header: Invalid port: ':1'."


def test_a_dropped_connection_is_a_failed_connection(site):
    assert check(site.url("/reset")).error == "Connection failed: [Errno 104] Connection reset by peer"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://files.example.org/il2", "Not an http or https link"),
        ("http://[::1", "Invalid address: Invalid port: ':1'"),
    ],
)
def test_a_link_that_cannot_be_asked_over_the_web_is_an_error_not_a_crash(url, error):
    link = WebResourceFactory(url=url)
    summary = linkcheck.check_page(link.page)
    assert [outcome.error for outcome in summary.outcomes] == [error]
    assert row(link).last_status == "error"


def test_a_closed_port_is_a_refused_connection():
    with socket.socket() as sock:  # a port that was free a moment ago, with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = check(f"http://127.0.0.1:{port}/")
    assert (outcome.status, outcome.error) == (LinkStatus.ERROR, "Connection refused")


# --- Never the server's own network -------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        *["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"],
        *["224.0.0.1", "240.0.0.1", "::1", "fe80::1", "fc00::1", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1"],
    ],
)
def test_private_loopback_and_special_addresses_are_not_public(address):
    assert not linkcheck.is_public(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_internet_addresses_are_public(address):
    assert linkcheck.is_public(address)


def strict_checker(**kwargs):
    return linkcheck.Checker(timeout=TIMEOUT, host_delay=0, user_agent="test", allow_private=False, **kwargs)


def test_by_default_a_link_to_a_loopback_address_is_refused_before_any_request(site):
    outcome = strict_checker().check(site.url("/ok"))
    assert (outcome.status, outcome.error) == (
        LinkStatus.ERROR,
        "Not checked: 127.0.0.1 is a private or local address (127.0.0.1)",
    )
    assert site.requests == []


def test_a_name_that_resolves_to_loopback_is_refused(site):
    outcome = strict_checker().check(f"http://localhost:{site.server_address[1]}/ok")
    assert outcome.error.startswith("Not checked: localhost resolves to a private or local address (")
    assert site.requests == []


def test_a_redirect_hop_to_a_private_address_is_refused(site):
    """127.0.0.1 stands in for a public site here; it redirects to another loopback address."""
    ROUTES["/to-private"] = (301, f"http://127.0.0.2:{site.server_address[1]}/admin")
    try:
        outcome = strict_checker(public=lambda address: address == "127.0.0.1").check(site.url("/to-private"))
    finally:
        del ROUTES["/to-private"]
    assert outcome.status == LinkStatus.ERROR
    assert outcome.error == "Not checked: 127.0.0.2 is a private or local address (127.0.0.2)"
    assert outcome.hops == [
        (site.url("/to-private"), 301, f"http://127.0.0.2:{site.server_address[1]}/admin")
    ]
    assert [path for _, path, _ in site.requests] == ["/to-private"]


def test_the_rule_is_off_only_when_the_settings_say_so(site, settings):
    settings.LINK_CHECK_ALLOW_PRIVATE = False
    assert check(site.url("/ok")).error.startswith("Not checked: 127.0.0.1 is a private or local address")
    assert site.requests == []


# --- Politeness ---------------------------------------------------------------------------------


def test_one_request_at_a_time_per_host_with_the_delay_between(site, settings):
    settings.LINK_CHECK_HOST_DELAY = 0.05
    links = [WebResourceFactory(url=site.url(f"/page{n}")) for n in range(6)]
    linkcheck.check_resources(links)
    assert site.most_in_flight == 1
    assert [path for _, path, _ in site.requests] == [f"/page{n}" for n in range(6)]  # in the page's order
    gaps = [later - earlier for earlier, later in itertools.pairwise(site.arrivals)]
    assert min(gaps) >= 0.05


class FakeTime:
    """A clock the host delay's sleep moves on: a run's time budget without waiting for it."""

    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_a_scheduled_run_starts_no_link_after_its_time_and_leaves_the_rest_due(site):
    links = [WebResourceFactory(url=site.url(f"/page{n}")) for n in range(3)]
    time_ = FakeTime()
    checker = linkcheck.Checker(
        timeout=TIMEOUT,
        host_delay=60,
        user_agent="test",
        allow_private=True,
        clock=time_.clock,
        sleep=time_.sleep,
    )
    summary = linkcheck.check_due(seconds=90, checker=checker)  # the third link's turn comes at 120 s
    assert [path for _, path, _ in site.requests] == ["/page0", "/page1"]
    assert (len(summary.outcomes), summary.remaining) == (2, 1)
    assert list(WebResource.objects.due_for_check()) == [links[2]]
    assert str(summary) == "2 link(s) checked: 2 ok; 1 still to check."


# --- What is recorded, and what is not an edit --------------------------------------------------


def row(resource):
    return WebResource.objects.get(pk=resource.pk)


def test_a_check_records_the_status_and_when_it_broke(site):
    good = WebResourceFactory(url=site.url("/ok"))
    page = good.page
    bad = WebResourceFactory(page=page, url=site.url("/missing"))
    moved = WebResourceFactory(page=page, url=site.url("/moved"))
    gone = WebResourceFactory(page=page, url="http://gone.invalid/")
    revisions_before = PageRevision.objects.filter(page_pk=page.pk).count()
    changed_at = TreatmentPage.objects.get(pk=page.pk).content_changed_at

    summary = linkcheck.check_page(page)

    assert str(summary) == "4 link(s) checked: 1 ok, 1 moved permanently, 1 broken, 1 no answer."
    assert (row(good).last_status, row(good).last_http_status, row(good).broken_since) == ("ok", 200, None)
    assert (row(bad).last_status, row(bad).last_error, row(bad).last_http_status) == (
        "broken",
        "HTTP 404",
        404,
    )
    assert row(bad).broken_since == row(bad).last_checked_at
    assert (row(moved).last_status, row(moved).redirect_to) == ("redirect", site.url("/ok"))
    assert (row(gone).last_status, row(gone).last_error) == ("error", "DNS lookup failed for gone.invalid")
    assert set(WebResource.objects.broken()) == {bad, gone}
    # Not an edit: no revision, no draft, the page's "last updated" stays.
    assert PageRevision.objects.filter(page_pk=page.pk).count() == revisions_before
    page.refresh_from_db()
    assert (page.draft, page.content_changed_at) == (None, changed_at)


def test_a_link_that_stays_broken_keeps_when_it_first_broke_and_loses_it_when_it_works(site):
    link = WebResourceFactory(url=site.url("/missing"))
    first = timezone.now() - timedelta(days=14)
    linkcheck.record(
        link, linkcheck.Outcome(url=link.url, status=LinkStatus.BROKEN, error="HTTP 404"), at=first
    )
    linkcheck.check_page(link.page)
    assert row(link).broken_since == first and row(link).last_checked_at > first
    WebResource.objects.filter(pk=link.pk).update(url=site.url("/ok"))
    linkcheck.check_page(link.page)
    assert (row(link).last_status, row(link).broken_since, row(link).last_error) == ("ok", None, "")


def test_an_outcome_for_an_address_the_editor_changed_meanwhile_is_not_recorded(site):
    link = WebResourceFactory(url=site.url("/missing"))
    linkcheck.record(link, linkcheck.Outcome(url="https://old.example.org/", status=LinkStatus.BROKEN))
    assert row(link).last_status == ""


def test_links_checked_this_week_are_not_due():
    fresh = WebResourceFactory(last_checked_at=timezone.now() - timedelta(days=1))
    stale = WebResourceFactory(last_checked_at=timezone.now() - timedelta(days=8))
    never = WebResourceFactory()
    assert set(WebResource.objects.due_for_check()) == {stale, never}
    assert fresh not in WebResource.objects.due_for_check()


# --- The weekly run, the task and the command ---------------------------------------------------


def test_the_weekly_run_is_in_the_database_and_enabled():
    task = PeriodicTask.objects.get(task="treatments.check_links")
    assert task.enabled
    assert (task.crontab.day_of_week, task.crontab.hour, task.crontab.minute) == ("0", "2", "0")
    assert str(task.crontab.timezone) == "Europe/London"


def test_the_task_checks_only_the_links_that_are_due(site):
    due = WebResourceFactory(url=site.url("/page-due"))
    WebResourceFactory(url=site.url("/page-fresh"), last_checked_at=timezone.now())
    assert tasks.check_links.apply().get() == "1 link(s) checked: 1 ok."
    assert [path for _, path, _ in site.requests] == ["/page-due"]
    assert row(due).last_status == "ok"


def test_the_task_checks_one_page_whatever_is_due(site):
    link = WebResourceFactory(url=site.url("/missing"), last_checked_at=timezone.now())
    assert tasks.check_links.apply(args=[link.page_id]).get() == "1 link(s) checked: 1 broken."
    assert tasks.check_links.apply(args=[0]).get() == "No such page."


def run_command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("check_links", *args, stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue()


def test_the_command_prints_one_line_per_link_with_its_outcome(site):
    page = TreatmentPageFactory(slug="il-2")
    for path in ("/ok", "/moved", "/missing"):
        WebResourceFactory(page=page, url=site.url(path))
    WebResourceFactory(page=page, url="http://nowhere.invalid/")
    lines, summary = run_command()
    where = f"(/{page.path}/)"
    assert lines == [
        f"OK       {site.url('/ok')}  HTTP 200  {where}",
        f"REDIRECT {site.url('/moved')}  HTTP 301 → {site.url('/ok')}, HTTP 200; moved permanently to "
        f"{site.url('/ok')}  {where}",
        f"BROKEN   {site.url('/missing')}  HTTP 404  {where}",
        f"ERROR    http://nowhere.invalid/  DNS lookup failed for nowhere.invalid  {where}",
    ]
    assert "4 link(s) checked" in summary


def test_the_command_prints_timeouts_and_tls_errors(site, tls_site):
    page = TreatmentPageFactory()
    WebResourceFactory(page=page, url=site.url("/slow"))
    WebResourceFactory(page=page, url=f"https://127.0.0.1:{tls_site.server_address[1]}/ok")
    lines, _ = run_command("--page", page.slug)
    assert lines[0].startswith(f"ERROR    {site.url('/slow')}  Timed out after {TIMEOUT:g} s")
    assert "TLS error: " in lines[1] and "self-signed certificate" in lines[1]


def test_the_command_checks_every_page_with_the_slug_and_no_other(site):
    one = TreatmentPageFactory(slug="il-2")
    other_section = TreatmentPageFactory(slug="il-2")
    WebResourceFactory(page=one, url=site.url("/page-a"))
    WebResourceFactory(page=other_section, url=site.url("/page-b"))
    WebResourceFactory(url=site.url("/page-elsewhere"))
    lines, _ = run_command("--page", "il-2")
    assert len(lines) == 2
    assert sorted(path for _, path, _ in site.requests) == ["/page-a", "/page-b"]


def test_the_command_refuses_an_unknown_slug():
    with pytest.raises(CommandError, match='No page has the slug "no-such-page"'):
        run_command("--page", "no-such-page")


def test_the_command_says_when_there_is_nothing_to_check():
    lines, summary = run_command()
    assert (lines, summary.strip()) == ([], "No links to check.")


# --- In the page admin --------------------------------------------------------------------------


def admin_url(page, view):
    return f"/admin/treatments/treatmentpage/{page.pk}/{view}/"


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def staff_client(*codenames):
    user = User.objects.create_user("viewer", password="a-long-passphrase", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def local_page(site, *paths, **kwargs):
    page = TreatmentPageFactory(**kwargs)
    for path in paths:
        WebResourceFactory(page=page, url=site.url(path), title=f"Link {path}")
    return TreatmentPage.objects.get(pk=page.pk)


def test_check_links_now_shows_each_links_status_beside_it(site, editor_client, eager):
    page = local_page(site, "/ok", "/missing", "/moved")
    WebResourceFactory(page=page, url="http://nowhere.invalid/")
    response = editor_client.post(admin_url(page, "links/check"), follow=True)
    assert response.redirect_chain[-1][0].endswith(f"/{page.pk}/change/#web_resources-group")
    assert messages_of(response) == [
        "Links checked: 4 link(s) checked: 1 ok, 1 moved permanently, 1 broken, 1 no answer."
    ]
    html = response.content.decode()
    assert "OK (HTTP 200)" in html
    assert "<strong>Broken since" in html and ": HTTP 404<br>" in html
    assert ": DNS lookup failed for nowhere.invalid<br>" in html
    moved = WebResource.objects.get(url=site.url("/moved"))
    assert f'Moved permanently to <a href="{site.url("/ok")}"' in html
    assert f'name="resource" value="{moved.pk}">Use the new URL</button>' in html
    assert '<form id="link-actions" method="post">' in html


def test_a_draft_shows_the_check_of_the_live_link_and_says_a_new_link_waits(site, editor_client):
    page = local_page(site, "/missing")
    linkcheck.check_page(page)
    content = workflow.working_content(page)
    content["web_resources"].append({"title": "New", "url": "https://example.org/new", "note": ""})
    workflow.save_draft(page, content)
    html = editor_client.get(admin_url(page, "change")).content.decode()
    assert html.count("<strong>Broken since") == 1
    assert "Checked once published." in html


def test_a_new_page_has_no_link_tools_until_it_is_saved(editor_client):
    html = editor_client.get("/admin/treatments/treatmentpage/add/").content.decode()
    assert "Check links now" not in html and 'id="link-actions"' not in html


def test_a_page_never_checked_says_so(site, editor_client):
    page = local_page(site, "/ok")
    assert "Not checked yet." in editor_client.get(admin_url(page, "change")).content.decode()


@pytest.fixture
def eager(monkeypatch):
    """Embedded mode: tasks run in-process, even where REDIS_URL is set (CI), so no real job is queued."""
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    monkeypatch.setitem(app.conf, "task_eager_propagates", True)


@pytest.fixture
def queued(monkeypatch):
    """Production: tasks go to the broker and wait for a worker. Here the broker is Celery's in-memory
    one, with fresh connection pools, so not even CI's Redis gets a job nobody will run."""
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setitem(app.conf, "broker_url", "memory://")
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)


def test_in_production_the_check_is_queued_and_the_editor_told(site, editor_client, queued):
    page = local_page(site, "/ok")
    response = editor_client.post(admin_url(page, "links/check"), follow=True)
    assert messages_of(response) == [
        "The links are being checked: reload this page in a minute to see what was found."
    ]
    assert site.requests == []


def test_the_link_views_answer_post_only_with_a_csrf_token_and_the_right_to_change(
    site, editor, editor_client
):
    page = local_page(site, "/moved")
    for view in ("links/check", "links/move", "links/accept"):
        assert editor_client.get(admin_url(page, view)).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(editor)
    assert strict.post(admin_url(page, "links/check")).status_code == 403
    viewer = staff_client("view_treatmentpage", "view_webresource")
    html = viewer.get(admin_url(page, "change")).content.decode()
    assert "Check links now" not in html and "Use the new URL" not in html and 'name="move"' not in html
    for view in ("links/check", "links/move", "links/accept"):
        assert viewer.post(admin_url(page, view)).status_code == 403
    assert site.requests == []


# --- Accepting a permanent redirect -------------------------------------------------------------


def accept(client, resource):
    return client.post(admin_url(resource.page, "links/accept"), {"resource": resource.pk}, follow=True)


@pytest.mark.parametrize("chosen", ["²", "١", "abc", "99999999999999999999"])
def test_accepting_a_link_id_that_is_not_one_is_a_404(site, editor_client, chosen):
    page = local_page(site, "/moved")
    response = editor_client.post(admin_url(page, "links/accept"), {"resource": chosen})
    assert response.status_code == 404


def test_accepting_a_redirect_changes_the_url_for_readers_and_in_the_history(site, editor, editor_client):
    page = local_page(site, "/moved", published=True)
    linkcheck.check_page(page)
    link = page.web_resources.get()
    response = accept(editor_client, link)
    assert messages_of(response) == [f"“Link /moved” now links to {site.url('/ok')}."]
    position = link.position
    link.refresh_from_db()
    assert (link.url, link.redirect_to, link.last_status, link.position) == (
        site.url("/ok"),
        "",
        "",
        position,
    )
    assert site.url("/ok") in Client().get(page.get_absolute_url()).content.decode()
    latest = PageRevision.objects.filter(page_pk=page.pk).select_related("revision__user").first()
    assert latest.revision.user == editor
    assert (
        latest.revision.comment
        == f"Link “Link /moved” moved permanently: {site.url('/moved')} → {site.url('/ok')}"
    )
    assert latest.content["web_resources"][0]["url"] == site.url("/ok")
    assert TreatmentPage.objects.get(pk=page.pk).draft is None  # a fix, not a change waiting to be published


def test_accepting_a_redirect_on_a_page_with_a_draft_changes_the_draft_too(site, editor_client):
    page = local_page(site, "/moved", published=True)
    linkcheck.check_page(page)
    content = workflow.working_content(page)
    content["title"] = "A new title, not published yet"
    content["web_resources"].insert(0, {"title": "New in the draft", "url": "https://example.org/new"})
    workflow.save_draft(page, content)
    accept(editor_client, page.web_resources.get())
    page.refresh_from_db()
    assert page.web_resources.get().url == site.url("/ok")
    assert [item["url"] for item in page.draft["web_resources"]] == [
        "https://example.org/new",
        site.url("/ok"),
    ]
    assert page.draft["title"] == "A new title, not published yet"
    assert page.title != page.draft["title"]
    workflow.publish(page)  # the draft has the same change as the live page: nothing to ask about
    page.refresh_from_db()
    assert page.title == "A new title, not published yet" and page.web_resources.count() == 2


def test_accepting_a_redirect_on_a_page_not_yet_live_changes_its_link(site, editor_client):
    page = local_page(site, "/moved", published=False)
    linkcheck.check_page(page)
    accept(editor_client, page.web_resources.get())
    page.refresh_from_db()
    assert ([r.url for r in page.web_resources.all()], page.draft) == ([site.url("/ok")], None)
    assert PageRevision.objects.filter(page_pk=page.pk).first().content["web_resources"][0][
        "url"
    ] == site.url("/ok")


def test_a_redirect_cannot_be_accepted_twice_or_onto_a_link_the_page_has(site, editor_client):
    page = local_page(site, "/moved", "/ok")
    linkcheck.check_page(page)
    moved = page.web_resources.get(url=site.url("/moved"))
    response = accept(editor_client, moved)
    assert messages_of(response) == [
        f"The page already links to {site.url('/ok')}: delete the old link instead."
    ]
    fine = page.web_resources.get(url=site.url("/ok"))
    assert messages_of(accept(editor_client, fine)) == [
        "There is no new address to accept: check the links again."
    ]
    assert moved.url == WebResource.objects.get(pk=moved.pk).url


def test_accepting_a_link_of_another_page_is_not_found(site, editor_client):
    page, other = local_page(site, "/moved"), local_page(site, "/moved")
    url = admin_url(page, "links/accept")
    assert editor_client.post(url, {"resource": other.web_resources.get().pk}).status_code == 404
    assert editor_client.post(url, {"resource": "x"}).status_code == 404
