"""The readers' template engine (Jinja2, ``cancerindex.templating``): what it escapes, the URLs it
remembers, and the dates it shows."""

import datetime

import lxml.html
import pytest
from django.template import engines
from django.test import Client
from django.urls import set_script_prefix
from django.utils import timezone

from cancerindex import reversing
from tests.factories import TreatmentPageFactory, WebResourceFactory
from treatments import paths
from treatments.models import Section

jinja = engines["jinja2"]


@pytest.mark.django_db
def test_what_editors_and_readers_type_is_escaped_on_the_page(client):
    page = TreatmentPageFactory(title="IL-2 <script>alert(1)</script>", label='"quoted" & <b>bold</b>')
    WebResourceFactory(page=page, title="<img src=x onerror=alert(2)>", note="<i>note</i>")
    page.tags.add("<b>tag</b>")
    html = client.get(page.get_absolute_url(), {"voted": "<script>"}).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<i>note</i>" not in html and "<b>tag</b>" not in html
    doc = lxml.html.fromstring(html)
    assert doc.cssselect("h1")[0].text_content() == "IL-2 <script>alert(1)</script>"
    assert [a.text_content() for a in doc.cssselect(".web-resources a")] == ["<img src=x onerror=alert(2)>"]


@pytest.mark.django_db
def test_a_search_for_markup_shows_it_as_text(client):
    html = client.get("/search/", {"q": '"><script>alert(1)</script>'}).content.decode()
    assert "<script>alert(1)" not in html
    doc = lxml.html.fromstring(html)
    assert doc.cssselect("#search-q")[0].get("value") == '"><script>alert(1)</script>'


def test_url_gives_each_arguments_own_address():
    assert reversing.reverse("treatments:page_feed_atom", page_id=1) != reversing.reverse(
        "treatments:page_feed_atom", page_id=2
    )
    assert reversing.reverse("publications:cite_page", 7, "ris").endswith("/7.ris")
    assert _rendered("{{ url('publications:cite_page', 7, 'ris') }}").endswith("/7.ris")


def test_url_follows_the_script_prefix_it_is_served_under():
    """Remembered per prefix: a site mounted under /cancerindex/ links there, not to the root, in
    templates and in models' own URLs alike."""
    section = Section(path="treatments/biological-therapies")
    assert reversing.reverse("treatments:a_z") == "/a-z/"
    assert section.get_absolute_url() == "/treatments/biological-therapies/"
    set_script_prefix("/cancerindex/")
    try:
        assert reversing.reverse("treatments:a_z") == "/cancerindex/a-z/"
        assert section.get_absolute_url() == "/cancerindex/treatments/biological-therapies/"
        assert _rendered("{{ url('treatments:a_z') }}") == "/cancerindex/a-z/"
    finally:
        set_script_prefix("/")
    assert reversing.reverse("treatments:a_z") == "/a-z/"
    assert _rendered("{{ url('treatments:a_z') }}") == "/a-z/"


def test_a_render_reads_what_reversals_depend_on_once_per_request(rf):
    """The prefix, URLconf and language are read once per request: a second render of the same request
    links as the first, and a new request reads them again."""
    first = rf.get("/")
    assert _rendered("{{ url('treatments:a_z') }}", first) == "/a-z/"
    set_script_prefix("/cancerindex/")
    try:
        assert _rendered("{{ url('treatments:a_z') }}", first) == "/a-z/"
        assert _rendered("{{ url('treatments:a_z') }}", rf.get("/")) == "/cancerindex/a-z/"
    finally:
        set_script_prefix("/")


def _rendered(source: str, request=None) -> str:
    return jinja.from_string(source).render({}, request)


def test_dates_show_in_the_sites_time_zone_as_djangos_engine_shows_them(settings):
    settings.TIME_ZONE = "America/New_York"
    moment = datetime.datetime(2026, 1, 2, 3, 30, tzinfo=datetime.UTC)
    with timezone.override("America/New_York"):
        shown = jinja.from_string('{{ moment|date("j F Y, H:i") }}').render({"moment": moment})
    assert shown == "1 January 2026, 22:30"
    assert jinja.from_string("[{{ nothing|date('c') }}]").render({"nothing": None}) == "[]"


def test_a_missing_value_is_blank_not_an_error():
    template = jinja.from_string("[{{ page.refresh_check.last_checked_at }}{{ missing }}]")
    assert template.render({}) == "[]"


@pytest.mark.django_db
def test_a_server_error_shows_the_sites_own_500_page(monkeypatch):
    """Django's handler renders 500.html without a request or context; the reader sees no traceback."""

    def broken(path):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(paths, "find", broken)
    response = Client(raise_request_exception=False).get("/treatments/anything/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "database went away" not in html
