"""Guessed passwords, a dropped database connection, injected scripts: what the site does about them
(issue 10, items 2, 9 and 10; README: Security)."""

import io
import logging
import re
import select

import pytest
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory

from tests.conftest import DEMO_PAGE_URL

PASSWORD = "the-right-passphrase"
LOGIN_URL = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def _cheap_hashes(settings):
    """The lockout is tested, not PBKDF2's cost."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser("boss", password=PASSWORD)


def sign_in(username, password, address="192.0.2.10", **headers):
    client = Client(REMOTE_ADDR=address, **headers)
    response = client.post(LOGIN_URL, {"username": username, "password": password})
    return client, response


def signed_in(client):
    return "_auth_user_id" in client.session


def fail_five_times(username="boss", address="192.0.2.10", **headers):
    for _ in range(5):
        assert not signed_in(sign_in(username, "wrong", address, **headers)[0])


# Item 2: throttling and lockout (django-axes).


def test_five_wrong_passwords_lock_the_right_one_out(admin_user, caplog):
    with caplog.at_level(logging.WARNING, logger="axes"):
        fail_five_times()
    assert any("Locking out" in r.getMessage() and "boss" in r.getMessage() for r in caplog.records)
    client, response = sign_in("boss", PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)


def test_a_lockout_holds_only_that_username_from_that_address(admin_user):
    User.objects.create_superuser("colleague", password=PASSWORD)
    fail_five_times()
    assert signed_in(sign_in("colleague", PASSWORD)[0])
    assert signed_in(sign_in("boss", PASSWORD, address="198.51.100.7")[0])


def test_four_failures_do_not_lock_and_success_starts_the_count_again(admin_user):
    for _ in range(4):
        sign_in("boss", "wrong")
    assert signed_in(sign_in("boss", PASSWORD)[0])
    for _ in range(4):
        sign_in("boss", "wrong")
    assert signed_in(sign_in("boss", PASSWORD)[0])


@pytest.mark.parametrize("command", [["axes_reset_username", "boss"], ["axes_reset"]])
def test_an_admin_unlocks_an_account_as_the_readme_says(admin_user, command):
    fail_five_times()
    call_command(*command, stdout=io.StringIO())
    assert signed_in(sign_in("boss", PASSWORD)[0])


def test_behind_our_proxy_the_lockout_follows_the_forwarded_address(admin_user, settings):
    settings.TRUST_X_FORWARDED_FOR, settings.TRUSTED_PROXIES = True, ["10.0.0.1"]
    proxy = "10.0.0.1"
    fail_five_times(address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert sign_in("boss", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="203.0.113.5")[1].status_code == 429
    assert signed_in(sign_in("boss", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="203.0.113.6")[0])


def test_a_request_sent_around_our_proxy_cannot_forge_its_address(admin_user, settings):
    """gunicorn bound beyond loopback (``make stack HOST=0.0.0.0``) answers requests that did not come
    through Varnish: their X-Forwarded-For is the sender's to write, so it is not read."""
    settings.TRUST_X_FORWARDED_FOR, settings.TRUSTED_PROXIES = True, ["127.0.0.1"]
    attacker = "198.51.100.7"
    fail_five_times(address=attacker, HTTP_X_FORWARDED_FOR="203.0.113.5")
    client, response = sign_in("boss", PASSWORD, attacker, HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert response.status_code == 429
    assert not signed_in(client)


@pytest.mark.parametrize(
    "proxy, trusted", [("::ffff:127.0.0.1", ["127.0.0.1"]), ("10.1.2.3", ["10.1.0.0/16"])]
)
def test_our_proxy_is_known_by_network_and_as_an_ipv4_address_seen_as_ipv6(
    admin_user, settings, proxy, trusted
):
    settings.TRUST_X_FORWARDED_FOR, settings.TRUSTED_PROXIES = True, trusted
    fail_five_times(address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert signed_in(sign_in("boss", PASSWORD, proxy, HTTP_X_FORWARDED_FOR="203.0.113.6")[0])


def test_without_a_trusted_proxy_a_forged_forwarded_address_escapes_nothing(admin_user, settings):
    settings.TRUST_X_FORWARDED_FOR = False
    fail_five_times(HTTP_X_FORWARDED_FOR="203.0.113.5")
    client, response = sign_in("boss", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert response.status_code == 429
    assert not signed_in(client)


def test_an_off_site_next_lands_on_the_admin_index(admin_user):
    client = Client()
    response = client.post(
        "/admin/login/?next=https://evil.example/", {"username": "boss", "password": PASSWORD}
    )
    assert (response.status_code, response["Location"]) == (302, "/admin/")


# Item 10: Content-Security-Policy.


def directives(response):
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_public_pages_send_a_strict_policy_and_have_nothing_inline(demo_page):
    for url in ["/", DEMO_PAGE_URL]:
        response = Client().get(url)
        assert response.status_code == 200
        policy = directives(response)
        assert policy["script-src"] == ["'self'"]
        assert policy["style-src"] == ["'self'"]
        assert policy["default-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        html = response.content.decode()
        # JSON-LD is a data block, never run (and not subject to script-src): the only script without src.
        inline_script = r"<script(?![^>]*\bsrc=)(?![^>]*application/ld\+json)[^>]*>"
        assert not re.search(inline_script, html), "inline script"
        assert not re.search(r"\sstyle=", html), "style attribute"
        assert not re.search(r"\son[a-z]+=", html), "event handler attribute"


def test_the_admin_gets_what_its_editor_needs_and_no_more(editor_client):
    policy = directives(editor_client.get("/admin/"))
    assert policy["script-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert directives(Client().get("/admin/login/"))["object-src"] == ["'none'"]


# Item 9: a dropped database connection.


def serve(handler, path):
    """One request through the WSGI handler as gunicorn calls it: the request signals run, so a connection
    is kept between requests (CONN_MAX_AGE) and checked at the next one, which the test client skips."""
    statuses = []
    environ = RequestFactory()._base_environ(PATH_INFO=path, REQUEST_METHOD="GET")
    response = handler(environ, lambda status, headers, exc_info=None: statuses.append(status))
    b"".join(response)
    response.close()
    return int(statuses[0].split()[0])


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_replaced_not_a_500(settings):
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend needs PostgreSQL: run with DATABASE_URL set (CI does)")
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    call_command("load_demo", stdout=io.StringIO())
    handler = WSGIHandler()
    assert serve(handler, DEMO_PAGE_URL) == 200
    assert connection.connection is not None, "the request's connection is kept (CONN_MAX_AGE)"
    dropped = connection.connection.info.backend_pid
    with _another_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s, 5000)", [dropped])  # waits until it is gone
    assert serve(handler, DEMO_PAGE_URL) == 200
    assert connection.connection.info.backend_pid != dropped


@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_is_checked_without_a_round_trip():
    """The health check before each request reads the socket; it asks the server only if something
    arrived (cancerindex/postgresql), so a healthy kept connection costs a request no extra query."""
    if connection.vendor != "postgresql":
        pytest.skip("the check is PostgreSQL's backend's: run with DATABASE_URL set (CI does)")
    connection.ensure_connection()
    sent = []
    real = connection.connection.execute
    connection.connection.cursor = _counting(connection.connection.cursor, sent)
    connection.connection.execute = _counting(real, sent)
    assert connection.is_usable()
    assert sent == [], "a healthy idle connection is usable without a query"
    with _another_connection() as other:
        other.execute("SELECT pg_terminate_backend(%s, 5000)", [connection.connection.info.backend_pid])
    assert not connection.is_usable(), "a connection the server dropped is not"
    assert sent, "and it was asked, because the server's goodbye made the socket readable"
    connection.close()  # as the request cycle does with an unusable one


@pytest.mark.django_db(transaction=True)
def test_a_kept_connection_with_a_harmless_message_waiting_is_asked_and_kept():
    """Something readable is not always a goodbye (here a notification): the check then asks the
    server, and a connection that answers is kept."""
    if connection.vendor != "postgresql":
        pytest.skip("the check is PostgreSQL's backend's: run with DATABASE_URL set (CI does)")
    with connection.cursor() as cursor:
        cursor.execute("LISTEN cancerindex_health_check")
    pid = connection.connection.info.backend_pid
    with _another_connection() as other:
        other.execute("NOTIFY cancerindex_health_check")
    poller = select.poll()
    poller.register(connection.connection.pgconn.socket, select.POLLIN)
    assert poller.poll(5000), "the notification arrived"
    sent = []
    connection.connection.execute = _counting(connection.connection.execute, sent)
    connection.connection.cursor = _counting(connection.connection.cursor, sent)
    try:
        assert connection.is_usable()
        assert sent, "asked, since something was waiting"
        assert connection.connection.info.backend_pid == pid
    finally:
        connection.close()


def _counting(method, calls):
    def counted(*args, **kwargs):
        calls.append(args)
        return method(*args, **kwargs)

    return counted


def _another_connection():
    import psycopg  # only installed where PostgreSQL is used

    params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
    return psycopg.connect(**params, autocommit=True)
