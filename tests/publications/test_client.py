"""The E-utilities client against the fake NCBI server, over real HTTP (nothing mocked)."""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time
import uuid

import pytest
import redis
from lxml import etree

from publications.pubmed import (
    EutilsClient,
    EutilsError,
    EutilsQueryError,
    EutilsUnavailable,
    MalformedResponse,
    PubmedParseError,
    ResponseTooLarge,
    make_client,
)
from publications.pubmed.ratelimit import LocalRateLimiter, RedisRateLimiter
from tests.fakes.eutils import fixture_articles

TOOL = "cancerindex_tests"
EMAIL = "editors@example.org"
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
UNKNOWN_PMID = 99_999_999


@pytest.fixture
def sleeps() -> list[float]:
    """Backoff waits the client asked for, recorded instead of slept."""
    return []


@pytest.fixture
def client_for(fake_eutils, sleeps):
    """Build clients for the fake server; the rate limit is lifted unless a test sets one."""
    clients: list[EutilsClient] = []

    def build(base_url: str | None = None, **options) -> EutilsClient:
        options = {
            "tool": TOOL,
            "email": EMAIL,
            "rate_limiter": LocalRateLimiter(1000),
            "sleep": sleeps.append,
            **options,
        }
        client = EutilsClient(base_url or fake_eutils.base_url, **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("REDIS_URL"):  # production-mode runs (CI) must test the shared limiter for real
            raise
        pytest.skip(f"no Redis at {REDIS_URL}; set REDIS_URL to test the shared rate limit")
    yield client
    client.close()


def pmids_in(body: bytes) -> list[int]:
    root = etree.fromstring(body)
    return [
        int(pmid)
        for pmid in root.xpath(
            "/PubmedArticleSet/*/*[self::MedlineCitation or self::BookDocument]/PMID/text()"
        )
    ]


def search_ids(body: bytes) -> list[int]:
    return [int(pmid) for pmid in etree.fromstring(body).xpath("/eSearchResult/IdList/Id/text()")]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Requests: parameters, GET or POST, batching


def test_esearch_sends_ncbi_parameters_and_identifies_the_tool(fake_eutils, client_for):
    pmids = fake_eutils.known_pmids[:3]
    fake_eutils.set_search("melanoma[tiab]", pmids)

    body = client_for().esearch("melanoma[tiab]", retmax=2)

    assert search_ids(body) == pmids[:2]
    assert etree.fromstring(body).findtext("Count") == "3"
    (request,) = fake_eutils.requests
    assert request.method == "GET"
    assert request.path == "/entrez/eutils/esearch.fcgi"
    assert request.params == {
        "db": "pubmed",
        "term": "melanoma[tiab]",
        "retmax": "2",
        "sort": "pub_date",
        "retmode": "xml",
        "usehistory": "n",
        "tool": TOOL,
        "email": EMAIL,
    }
    assert TOOL in request.headers["user-agent"]


def test_api_key_is_sent_when_configured(fake_eutils, client_for):
    client_for(api_key="s3cr3tkey").esearch("melanoma", retmax=5)

    assert fake_eutils.requests[0].params["api_key"] == "s3cr3tkey"


def test_esearch_for_an_unknown_term_gets_ncbis_no_results_answer(fake_eutils, client_for):
    root = etree.fromstring(client_for().esearch("abcXYZ", retmax=20))

    assert root.findtext("Count") == "0"
    assert root.find("IdList") is not None and len(root.find("IdList")) == 0
    assert root.findtext("ErrorList/PhraseNotFound") == "abcXYZ"


def test_efetch_of_a_short_list_uses_get_and_keeps_the_requested_order(fake_eutils, client_for):
    wanted = [*fake_eutils.known_pmids[:3][::-1], UNKNOWN_PMID]

    body = client_for().efetch(wanted)

    assert pmids_in(body) == wanted[:3]  # unknown PMIDs are silently left out, as NCBI does
    assert all(fixture_articles()[pmid].encode() in body for pmid in wanted[:3])
    (request,) = fake_eutils.requests
    assert request.method == "GET"
    assert request.params["id"] == ",".join(map(str, wanted))
    assert request.params["db"] == "pubmed"
    assert request.params["retmode"] == "xml"


def test_efetch_of_a_long_list_posts_a_form(fake_eutils, client_for):
    wanted = fake_eutils.known_pmids[:60]

    body = client_for().efetch(wanted)

    assert pmids_in(body) == wanted
    (request,) = fake_eutils.requests
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.params["id"] == ",".join(map(str, wanted))
    assert request.params["tool"] == TOOL
    assert request.params["email"] == EMAIL


def test_a_search_term_too_long_for_a_url_is_posted(fake_eutils, client_for):
    term = " OR ".join(f"gene{n}[tiab]" for n in range(200))

    client_for().esearch(term, retmax=10)

    assert fake_eutils.requests[0].method == "POST"
    assert fake_eutils.requests[0].params["term"] == term


@pytest.mark.parametrize("pmids", [[], list(range(1, 202))], ids=["none", "201"])
def test_efetch_refuses_empty_or_oversized_batches(fake_eutils, client_for, pmids):
    with pytest.raises(ValueError):
        client_for().efetch(pmids)
    assert fake_eutils.requests == []


def test_efetch_batches_splits_into_batches_of_200(fake_eutils, client_for):
    known = fake_eutils.known_pmids
    wanted = known + list(range(UNKNOWN_PMID - (450 - len(known)), UNKNOWN_PMID))  # 450 PMIDs

    batches = list(client_for().efetch_batches(wanted))

    assert [batch for batch, _ in batches] == [wanted[:200], wanted[200:400], wanted[400:]]
    assert [pmid for _, body in batches for pmid in pmids_in(body)] == known
    assert [request.method for request in fake_eutils.requests] == ["POST", "POST", "GET"]  # 50 fit a URL


def test_base_url_is_normalised(fake_eutils, client_for):
    assert client_for(base_url=" https://example.org/entrez/eutils//").base_url == (
        "https://example.org/entrez/eutils/"
    )

    client_for(base_url=fake_eutils.base_url.rstrip("/")).esearch("melanoma", retmax=1)

    assert fake_eutils.requests[0].path == "/entrez/eutils/esearch.fcgi"


@pytest.mark.parametrize("base_url", ["eutils.ncbi.nlm.nih.gov/entrez/eutils/", "ftp://example.org/"])
def test_a_base_url_without_http_is_refused(client_for, base_url):
    with pytest.raises(ValueError, match="must start with http"):
        client_for(base_url=base_url)


# Transient failures: retried with backoff


def test_429_is_retried_after_the_wait_ncbi_asks_for(fake_eutils, client_for, sleeps):
    fake_eutils.set_search("melanoma", [1, 2])
    fake_eutils.inject("429")

    body = client_for().esearch("melanoma", retmax=20)

    assert search_ids(body) == [1, 2]
    assert sleeps == [1.0]  # the fake's Retry-After
    assert len(fake_eutils.requests) == 2


def test_retry_after_is_capped_by_backoff_max(fake_eutils, client_for, sleeps):
    fake_eutils.inject("429")

    client_for(backoff_max=0.25).esearch("melanoma", retmax=20)

    assert sleeps == [0.25]


@pytest.mark.parametrize("fault", ["500", "502", "reset", "html"])
def test_transient_failures_are_retried(fake_eutils, client_for, sleeps, fault):
    wanted = fake_eutils.known_pmids[:2]
    fake_eutils.inject(fault, endpoint="efetch")

    body = client_for().efetch(wanted)

    assert pmids_in(body) == wanted
    assert len(sleeps) == 1
    assert len(fake_eutils.requests) == 2


def test_a_slow_answer_times_out_and_is_retried(fake_eutils, client_for, sleeps):
    fake_eutils.inject("slow", delay=1.0)

    client_for(timeout=0.3).efetch(fake_eutils.known_pmids[:1])

    assert len(sleeps) == 1
    assert len(fake_eutils.requests) == 2


def test_gives_up_when_ncbi_stays_too_slow(fake_eutils, client_for, sleeps):
    fake_eutils.inject("slow", delay=1.0, times=3)

    with pytest.raises(EutilsUnavailable) as caught:
        client_for(timeout=0.3, max_retries=2).efetch(fake_eutils.known_pmids[:1])

    assert caught.value.reason == "timed out after 0.3s"
    assert "in 3 attempts" in str(caught.value)
    assert len(sleeps) == 2
    assert len(fake_eutils.requests) == 3


def test_a_server_that_trickles_bytes_is_stopped_by_the_deadline(fake_eutils, client_for, sleeps):
    """Each piece comes within the per-read timeout; the whole request still has a deadline."""
    fake_eutils.inject("drip", endpoint="efetch", delay=0.2, times=2)
    started = time.monotonic()

    with pytest.raises(EutilsUnavailable) as caught:
        client_for(timeout=0.5, deadline=1.0, max_retries=1).efetch(fake_eutils.known_pmids[:3])

    assert caught.value.reason.startswith("still sending after 1s")
    assert time.monotonic() - started < 5  # two attempts of about a second, not minutes
    assert len(fake_eutils.requests) == 2


def test_a_trickle_that_ends_within_the_deadline_is_read_whole(fake_eutils, client_for):
    fake_eutils.inject("drip", endpoint="efetch", delay=0.01)
    body = client_for(timeout=0.5, deadline=30.0).efetch(fake_eutils.known_pmids[:1])
    assert body.rstrip().endswith(b"</PubmedArticleSet>")


def test_gives_up_on_persistent_rate_limiting_with_ncbis_reason(fake_eutils, client_for, sleeps):
    fake_eutils.inject("429", times=3)

    with pytest.raises(EutilsUnavailable) as caught:
        client_for(max_retries=2).esearch("melanoma", retmax=20)

    assert caught.value.reason == "HTTP 429: API rate limit exceeded"
    assert "HTTP 429: API rate limit exceeded" in str(caught.value)
    assert sleeps == [1.0, 1.0]


def test_gives_up_when_ncbi_cannot_be_reached(client_for, sleeps):
    client = client_for(base_url=f"http://127.0.0.1:{closed_port()}/entrez/eutils/", max_retries=1)

    with pytest.raises(EutilsUnavailable, match="connection failed") as caught:
        client.esearch("melanoma", retmax=20)

    assert "refused" in caught.value.reason.lower()
    assert len(sleeps) == 1


def test_backoff_doubles_with_jitter_up_to_the_cap(fake_eutils, client_for, sleeps):
    fake_eutils.inject("500", times=5)
    client = client_for(max_retries=5, backoff_base=0.5, backoff_max=3.0, jitter=lambda: 0.5)

    client.esearch("melanoma", retmax=20)

    assert sleeps == [0.25, 0.5, 1.0, 1.5, 1.5]  # half of 0.5, 1, 2, 4→3, 8→3


def test_backoff_jitter_stays_within_the_exponential_bounds(fake_eutils, client_for, sleeps):
    fake_eutils.inject("502", times=4)

    client_for(max_retries=4, backoff_base=0.5, backoff_max=2.0).esearch("melanoma", retmax=20)

    bounds = [0.5, 1.0, 2.0, 2.0]
    assert len(sleeps) == 4
    assert all(0 <= slept <= bound for slept, bound in zip(sleeps, bounds, strict=True))


def test_every_attempt_waits_for_the_rate_limiter(fake_eutils, client_for):
    class CountingLimiter:
        calls = 0

        def acquire(self) -> None:
            self.calls += 1

    limiter = CountingLimiter()
    fake_eutils.inject("500", times=2)

    client_for(rate_limiter=limiter).esearch("melanoma", retmax=20)

    assert limiter.calls == len(fake_eutils.requests) == 3


# Failures that retrying cannot fix


def test_a_rejected_query_fails_at_once_with_ncbis_message(fake_eutils, client_for, sleeps):
    fake_eutils.inject("400")

    with pytest.raises(EutilsQueryError) as caught:
        client_for().esearch("melanoma[[", retmax=20)

    assert caught.value.ncbi_message == "Invalid query"
    assert "Invalid query" in str(caught.value)
    assert sleeps == []
    assert len(fake_eutils.requests) == 1


def test_ncbis_message_is_read_from_an_xml_error_body_too(fake_eutils, client_for):
    fake_eutils.inject("400-xml")

    with pytest.raises(EutilsQueryError) as caught:
        client_for().esearch("melanoma[[", retmax=20)

    assert caught.value.ncbi_message == "Invalid query"  # the fake's "Invalid\n query", spaces collapsed
    assert str(caught.value) == "NCBI rejected the esearch.fcgi request: Invalid query"


def test_an_html_error_page_is_reported_by_its_status(fake_eutils, client_for):
    fake_eutils.inject("500", times=2)

    with pytest.raises(EutilsUnavailable) as caught:
        client_for(max_retries=1).esearch("melanoma", retmax=20)

    assert caught.value.reason == "HTTP 500: Internal Server Error"  # not the page's markup


def test_other_refusals_point_at_the_settings(fake_eutils, client_for, sleeps):
    client = client_for(base_url=fake_eutils.base_url.replace("/eutils/", "/wrong/"))

    with pytest.raises(EutilsError, match=r"HTTP 404: Not Found\); check the E-utilities settings") as caught:
        client.esearch("melanoma", retmax=20)

    assert type(caught.value) is EutilsError
    assert sleeps == []


def test_a_streamed_response_over_the_cap_is_refused(fake_eutils, client_for, sleeps):
    with pytest.raises(ResponseTooLarge, match=r"efetch\.fcgi response exceeded the 2,000-byte limit"):
        client_for(max_response_bytes=2000).efetch(fake_eutils.known_pmids[:5])

    assert len(fake_eutils.requests) == 1
    assert sleeps == []


def test_a_declared_length_over_the_cap_is_refused_before_reading(fake_eutils, client_for):
    fake_eutils.set_search("melanoma", fake_eutils.known_pmids)

    with pytest.raises(ResponseTooLarge, match=r"esearch\.fcgi"):
        client_for(max_response_bytes=200).esearch("melanoma", retmax=100)


def test_all_failures_of_the_package_share_one_base_class():
    failures = (EutilsQueryError, EutilsUnavailable, ResponseTooLarge, PubmedParseError, MalformedResponse)
    assert all(issubclass(cls, EutilsError) for cls in failures)


@pytest.mark.parametrize("fault", ["truncated", "malformed"])
def test_broken_xml_is_left_for_the_parser_to_reject(fake_eutils, client_for, fault):
    fake_eutils.inject(fault, endpoint="efetch")

    body = client_for().efetch(fake_eutils.known_pmids[:2])

    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(body)


def test_an_entity_bomb_is_returned_unexpanded(fake_eutils, client_for):
    fake_eutils.inject("bomb", endpoint="efetch")

    body = client_for().efetch(fake_eutils.known_pmids[:2])

    assert b"<!ENTITY lol9" in body
    assert len(body) < 2_000


def test_fake_serves_hand_built_articles(fake_eutils, client_for):
    retracted = (
        '<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">123</PMID>'
        "<Article><ArticleTitle>Retracted.</ArticleTitle><PublicationTypeList>"
        '<PublicationType UI="D016441">Retracted Publication</PublicationType>'
        "</PublicationTypeList></Article></MedlineCitation></PubmedArticle>"
    )
    assert fake_eutils.add_article(retracted) == 123
    assert 123 in fake_eutils.known_pmids
    fake_eutils.set_search("retracted[pt]", [123])
    fake_eutils.inject("empty", endpoint="esearch")

    body = client_for().efetch([123])

    assert retracted.encode() in body
    assert search_ids(client_for().esearch("retracted[pt]", retmax=5)) == []


# Rate limiting


def assert_at_most_per_second(stamps: list[float], rate: int) -> None:
    for start in stamps:
        assert sum(start <= stamp < start + 1.0 for stamp in stamps) <= rate


def test_local_rate_limiter_spaces_requests_across_threads():
    limiter = LocalRateLimiter(3)
    stamps: list[float] = []

    def acquire_times(count: int) -> None:
        for _ in range(count):
            limiter.acquire()
            stamps.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=acquire_times, args=(count,)) for count in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert time.monotonic() - started >= 4 / 3
    assert_at_most_per_second(sorted(stamps), 3)


def _acquire_in_process(redis_url: str, key: str, count: int, barrier, results) -> None:
    """Runs in a separate process: take ``count`` slots from the shared Redis limiter."""
    limiter = RedisRateLimiter(redis_url, 3, key=key)
    barrier.wait()
    stamps = []
    for _ in range(count):
        limiter.acquire()
        stamps.append(time.monotonic())  # CLOCK_MONOTONIC: comparable across processes
    results.put(stamps)


def test_redis_rate_limiter_is_shared_by_processes(redis_client):
    key = f"test:ncbi:rate:{uuid.uuid4()}"
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_acquire_in_process, args=(REDIS_URL, key, 4, barrier, results))
        for _ in range(2)
    ]
    try:
        for worker in workers:
            worker.start()
        stamps = sorted(results.get(timeout=15) + results.get(timeout=15))
        for worker in workers:
            worker.join(timeout=5)
    finally:
        redis_client.delete(key)

    assert stamps[-1] - stamps[0] >= 7 / 3
    assert_at_most_per_second(stamps, 3)


def test_redis_rate_limiter_reports_an_unreachable_redis():
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{closed_port()}/0", 3)

    with pytest.raises(EutilsUnavailable, match="rate limiter"):
        limiter.acquire()


@pytest.mark.parametrize(("api_key", "rate"), [(None, 3), ("", 3), ("key", 10)])
def test_make_client_keeps_ncbis_rate_in_process_without_redis(api_key, rate):
    with make_client(tool=TOOL, email=EMAIL, api_key=api_key) as local:
        assert isinstance(local.rate_limiter, LocalRateLimiter)
        assert local.rate_limiter.rate_per_second == rate
        assert local.base_url == "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
        with make_client(tool=TOOL, email=EMAIL, api_key=api_key) as other:
            assert other.rate_limiter is local.rate_limiter  # one schedule per process


def test_make_client_shares_the_limit_through_redis_when_configured(redis_client):
    with make_client(tool=TOOL, email=EMAIL, api_key="key", redis_url=REDIS_URL) as shared:
        assert isinstance(shared.rate_limiter, RedisRateLimiter)
        assert shared.rate_limiter.rate_per_second == 10
