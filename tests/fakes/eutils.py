"""A fake NCBI E-utilities server for tests: real HTTP on 127.0.0.1, real NCBI XML.

Articles come from the efetch fixtures in ``tests/fixtures/pubmed`` (each article's XML text
kept byte for byte), so the client and the parser meet what NCBI really sends. Tests script
searches with ``set_search``, add hand-built records with ``add_article``, and make the
server misbehave the ways NCBI does with ``inject``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from lxml import etree

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pubmed"
URL_PREFIX = "/entrez/eutils/"
ENDPOINTS = ("esearch", "efetch")
FAULTS = (
    "429", "500", "502", "slow", "drip", "unasked", "truncated", "malformed", "bomb", "empty", "400",
    "400-xml", "html", "reset",
)  # fmt: skip

EFETCH_PROLOGUE = (
    '<?xml version="1.0" ?>\n'
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
)
ESEARCH_PROLOGUE = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n'
    '<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
XML_TYPE = "text/xml; charset=UTF-8"
HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>NCBI - WWW Error Blocked Diagnostic</title></head>"
    "<body><h1>Service temporarily unavailable</h1><p>Please try again later.</p></body></html>\n"
)
_ARTICLE_RE = re.compile(r"<(PubmedArticle|PubmedBookArticle|DeleteCitation)\b[^>]*>.*?</\1>", re.DOTALL)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; ``params`` merges the query string and a POST form."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]

    @property
    def endpoint(self) -> str:
        """The endpoint name without ".fcgi": "esearch" or "efetch"."""
        return self.path.rsplit("/", 1)[-1].removesuffix(".fcgi")


@dataclass
class _Fault:
    kind: str
    endpoint: str | None
    remaining: int
    delay: float


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = XML_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    streamed: bool = False  # no Content-Length: the body ends when the connection closes
    drip: float = 0.0  # seconds between each small piece of the body (a server that trickles bytes)


def article_pmid(article_xml: str) -> int:
    """The PMID of one PubmedArticle, PubmedBookArticle or DeleteCitation (not a cited one)."""
    element = etree.fromstring(article_xml.encode())
    pmid = element.findtext("MedlineCitation/PMID") or element.findtext("BookDocument/PMID")
    pmid = pmid or element.findtext("PMID")
    if not pmid:
        raise ValueError(f"no PMID found in <{element.tag}>")
    return int(pmid)


def split_articles(xml_text: str) -> list[str]:
    """Each top-level record of a PubmedArticleSet, as its original text."""
    articles = [match.group(0) for match in _ARTICLE_RE.finditer(xml_text)]
    expected = len(etree.fromstring(xml_text.encode()))
    if len(articles) != expected:
        raise ValueError(f"split {len(articles)} records out of {expected}")
    return articles


@functools.cache
def fixture_articles() -> dict[int, str]:
    """Every article of the efetch fixtures by PMID (the first file wins on duplicates)."""
    articles: dict[int, str] = {}
    for path in sorted((FIXTURES / "efetch").glob("*.xml")):
        for article in split_articles(path.read_text(encoding="utf-8")):
            articles.setdefault(article_pmid(article), article)
    return articles


def efetch_body(articles: Iterable[str]) -> bytes:
    """A PubmedArticleSet joining articles the way NCBI does for a batch."""
    return (EFETCH_PROLOGUE + "<PubmedArticleSet>\n" + "".join(articles) + "</PubmedArticleSet>").encode()


# NCBI's esearch DTD fixes the order of the children of ErrorList and WarningList.
ERROR_TAGS = ("PhraseNotFound", "FieldNotFound")
WARNING_TAGS = ("PhraseIgnored", "QuotedPhraseNotFound", "OutputMessage")
NO_ITEMS_FOUND = "No items found."
_DOI_TERM_RE = re.compile(r'^\s*"?(?P<doi>[^"\[\]]+?)"?\s*\[(?:doi|aid)\]\s*$', re.IGNORECASE)


@dataclass(frozen=True)
class ScriptedSearch:
    """What esearch answers for one term: its PMIDs, PubMed's translation, errors and warnings."""

    pmids: list[int]
    translation: str | None = None  # None: the term itself, or "(term[All Fields])" if nothing matched
    translation_set: tuple[tuple[str, str], ...] = ()  # (From, To) pairs of <TranslationSet>
    errors: tuple[tuple[str, str], ...] | None = None  # None: PhraseNotFound for a term with no results
    warnings: tuple[tuple[str, str], ...] | None = None  # None: "No items found." for no results
    error: str = ""  # a whole-document <ERROR> instead of a result (NCBI refusing the query)


def _messages(
    messages: Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]] | None, tags: tuple[str, ...]
) -> tuple[tuple[str, str], ...] | None:
    """Messages as (tag, text) pairs in the DTD's order, from a mapping or from pairs."""
    if messages is None:
        return None
    if isinstance(messages, Mapping):
        pairs = [
            (tag, text)
            for tag, texts in messages.items()
            for text in ([texts] if isinstance(texts, str) else texts)
        ]
    else:
        pairs = [(tag, text) for tag, text in messages]
    unknown = {tag for tag, _ in pairs} - set(tags)
    if unknown:
        raise ValueError(f"unknown tag(s) {', '.join(sorted(unknown))}; choose from {', '.join(tags)}")
    return tuple(sorted(pairs, key=lambda pair: tags.index(pair[0])))


def _message_list(root: str, messages: tuple[tuple[str, str], ...]) -> str:
    if not messages:
        return ""
    return f"<{root}>" + "".join(f"<{tag}>{escape(text)}</{tag}>" for tag, text in messages) + f"</{root}>"


def esearch_body(
    term: str, pmids: list[int], *, retmax: int, retstart: int, search: ScriptedSearch | None = None
) -> bytes:
    """An eSearchResult shaped like NCBI's, or its "no items found" shape when nothing matches."""
    search = search or ScriptedSearch(pmids)
    if search.error:
        error = f"<eSearchResult><ERROR>{escape(search.error)}</ERROR></eSearchResult>\n"
        return (ESEARCH_PROLOGUE + error).encode()
    found = bool(pmids)
    translation = search.translation
    if translation is None:
        translation = term if found else f"({term}[All Fields])"
    errors = search.errors if search.errors is not None else (() if found else (("PhraseNotFound", term),))
    warnings = search.warnings
    if warnings is None:
        warnings = () if found else (("OutputMessage", NO_ITEMS_FOUND),)
    page = pmids[retstart : retstart + retmax]
    ids = "".join(f"<Id>{pmid}</Id>\n" for pmid in page)
    id_list = f"<IdList>\n{ids}</IdList>" if page else "<IdList/>"
    translation_set = (
        "<TranslationSet>"
        + "".join(
            f"<Translation>     <From>{escape(source)}</From>     <To>{escape(target)}</To>    </Translation>"
            for source, target in search.translation_set
        )
        + "</TranslationSet>"
        if search.translation_set
        else "<TranslationSet/>"
    )
    return (
        ESEARCH_PROLOGUE + f"<eSearchResult><Count>{len(pmids)}</Count><RetMax>{len(page)}</RetMax>"
        f"<RetStart>{retstart if found else 0}</RetStart>{id_list}{translation_set}"
        f"<QueryTranslation>{escape(translation)}</QueryTranslation>"
        f"{_message_list('ErrorList', errors)}{_message_list('WarningList', warnings)}"
        "</eSearchResult>\n"
    ).encode()


def article_dois(article_xml: str) -> set[str]:
    """The DOIs (lower-cased) in the article's own ArticleIdList, not in its cited references."""
    element = etree.fromstring(article_xml.encode())
    return {
        (doi.text or "").strip().lower()
        for doi in element.iterfind("*/ArticleIdList/ArticleId[@IdType='doi']")
        if (doi.text or "").strip()
    }


@functools.cache
def _fixture_dois() -> dict[int, frozenset[str]]:
    return {pmid: frozenset(article_dois(xml)) for pmid, xml in fixture_articles().items()}


def billion_laughs(root: str, inner: str) -> bytes:
    """A tiny document whose nested entity ``&lol9;`` expands to gigabytes if a parser lets it."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10)
    ]
    doctype = f"<!DOCTYPE {root} [\n " + "\n ".join(entities) + "\n]>"
    return f'<?xml version="1.0"?>\n{doctype}\n<{root}>{inner}</{root}>\n'.encode()


class FakeEutils:
    """Serves esearch.fcgi and efetch.fcgi (GET and POST) on a free local port.

    Use as a context manager, or call ``start()`` and ``stop()``; ``reset()`` forgets the
    searches, extra articles, queued faults and recorded requests between tests.
    """

    def __init__(self, *, port: int = 0) -> None:
        self._port = port  # 0: any free port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # lifecycle

    def start(self) -> FakeEutils:
        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-eutils", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # cuts "slow" answers short
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> FakeEutils:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeEutils is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}{URL_PREFIX}"

    def reset(self) -> None:
        with self._lock:
            self.requests: list[RecordedRequest] = []
            self.extra_articles: dict[int, str] = {}
            self._searches: dict[str, ScriptedSearch] = {}
            self._faults: list[_Fault] = []

    # scripting

    def set_search(
        self,
        term: str,
        pmids: Iterable[int],
        *,
        translation: str | None = None,
        translation_set: Iterable[tuple[str, str]] = (),
        errors: Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]] | None = None,
        warnings: Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]] | None = None,
        error: str = "",
    ) -> None:
        """What esearch answers for ``term`` (in this order); other terms find nothing.

        ``translation`` is the <QueryTranslation> (default: the term; "(term[All Fields])" when
        nothing matches), ``translation_set`` its (From, To) pairs. ``errors`` (PhraseNotFound,
        FieldNotFound) and ``warnings`` (PhraseIgnored, QuotedPhraseNotFound, OutputMessage) fill
        NCBI's ErrorList and WarningList, as ``{"PhraseNotFound": ["x", "y"]}`` or (tag, text)
        pairs; left as None, a search with no PMIDs gets NCBI's PhraseNotFound and "No items
        found.", and one with PMIDs gets neither. ``error`` makes esearch answer only
        ``<ERROR>error</ERROR>``, as NCBI does for a query it cannot run.
        """
        search = ScriptedSearch(
            [int(pmid) for pmid in pmids],
            translation=translation,
            translation_set=tuple((str(source), str(target)) for source, target in translation_set),
            errors=_messages(errors, ERROR_TAGS),
            warnings=_messages(warnings, WARNING_TAGS),
            error=error,
        )
        with self._lock:
            self._searches[term] = search

    def add_article(self, article_xml: str) -> int:
        """Serve a hand-built PubmedArticle (or book, or DeleteCitation); returns its PMID.

        It takes precedence over a fixture article with the same PMID. (Setting
        ``extra_articles[pmid] = xml`` directly does the same for XML without a PMID.)
        """
        pmid = article_pmid(article_xml)
        with self._lock:
            self.extra_articles[pmid] = article_xml
        return pmid

    @property
    def known_pmids(self) -> list[int]:
        """Every PMID efetch can answer, sorted."""
        with self._lock:
            return sorted(fixture_articles().keys() | self.extra_articles.keys())

    def inject(self, fault: str, *, endpoint: str | None = None, times: int = 1, delay: float = 2.0) -> None:
        """Make the next ``times`` requests (to ``endpoint``, or any) fail the way NCBI can.

        Faults: "429", "500", "502", "400" (NCBI's JSON error bodies), "400-xml" (an XML body
        whose <ERROR> text is spread over lines), "slow" (answer after
        ``delay`` seconds), "drip" (the answer 64 bytes at a time, ``delay`` seconds apart),
        "unasked" (efetch sends every article it knows, asked for or not),
        "truncated", "malformed", "bomb" (billion laughs), "empty",
        "html" (an HTML error page with status 200), "reset" (close without answering).
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        endpoint = endpoint.removesuffix(".fcgi") if endpoint else None
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; choose from {', '.join(ENDPOINTS)}")
        with self._lock:
            self._faults.append(_Fault(fault, endpoint, times, delay))

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self.requests if request.endpoint == endpoint]

    # serving (called from the handler threads)

    def _record(self, request: RecordedRequest) -> _Fault | None:
        """Record the request and consume the first queued fault that matches it."""
        with self._lock:
            self.requests.append(request)
            for fault in self._faults:
                if fault.endpoint in (None, request.endpoint):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _answer(self, request: RecordedRequest, fault: _Fault | None) -> _Reply | None:
        """The reply to send, or None to drop the connection."""
        if fault is None:
            return self._normal(request)
        if fault.kind == "slow":
            self._stopping.wait(fault.delay)
            return self._normal(request)
        if fault.kind == "unasked":  # efetch sends every article it has, asked for or not
            with self._lock:
                articles = {**fixture_articles(), **self.extra_articles}
            return _Reply(200, efetch_body(articles.values()), streamed=True)
        if fault.kind == "drip":  # each piece in time for a per-read timeout, the whole far too late
            return dataclasses.replace(self._normal(request), drip=fault.delay)
        if fault.kind == "reset":
            return None
        return self._faulty(fault.kind, request)

    def _normal(self, request: RecordedRequest) -> _Reply:
        if request.endpoint == "esearch":
            return self._esearch(request.params)
        return self._efetch(request.params)

    def _esearch(self, params: dict[str, str]) -> _Reply:
        term = params.get("term", "")
        if not term.strip():
            return _xml_error("eSearchResult", "Empty term and query_key - nothing todo")
        with self._lock:
            search = self._searches.get(term)
        if search is None:
            search = (
                ScriptedSearch(self.pmids_with_doi(doi)) if (doi := _doi_in(term)) else ScriptedSearch([])
            )
        retmax = int(params.get("retmax", "20"))
        retstart = int(params.get("retstart", "0"))
        return _Reply(200, esearch_body(term, search.pmids, retmax=retmax, retstart=retstart, search=search))

    def pmids_with_doi(self, doi: str) -> list[int]:
        """Every known article (fixture or added) whose own ArticleIdList holds ``doi``, newest PMID first.

        An esearch for ``<doi>[doi]`` or ``<doi>[AID]`` that was not scripted answers these.
        """
        doi = doi.strip().lower()
        with self._lock:
            extra = dict(self.extra_articles)
        found = {pmid for pmid, dois in _fixture_dois().items() if doi in dois and pmid not in extra}
        found |= {pmid for pmid, xml in extra.items() if doi in _safe_dois(xml)}
        return sorted(found, reverse=True)

    def _efetch(self, params: dict[str, str]) -> _Reply:
        ids = [token.strip() for token in params.get("id", "").split(",") if token.strip()]
        if not ids:
            return _xml_error("eFetchResult", "Empty id list - nothing todo")
        with self._lock:
            articles = {**fixture_articles(), **self.extra_articles}
        requested = dict.fromkeys(int(pmid) for pmid in ids if pmid.isdigit())
        body = efetch_body(articles[pmid] for pmid in requested if pmid in articles)
        return _Reply(200, body, streamed=True)  # NCBI streams efetch without a Content-Length

    def _faulty(self, kind: str, request: RecordedRequest) -> _Reply:
        if kind == "429":
            client = request.params.get("api_key", "127.0.0.1")
            body = {"error": "API rate limit exceeded", "api-key": client, "count": "4", "limit": "3"}
            return _Reply(429, json.dumps(body).encode(), "application/json", {"Retry-After": "1"})
        if kind == "400":
            return _json_error(400, "Invalid query")
        if kind == "400-xml":
            return _Reply(400, b"<eSearchResult><ERROR>Invalid\n query</ERROR></eSearchResult>")
        if kind in ("500", "502"):
            phrase = "Internal Server Error" if kind == "500" else "Bad Gateway"
            page = f"<html><head><title>{kind} {phrase}</title></head><body>{phrase}</body></html>"
            return _Reply(int(kind), page.encode(), "text/html")
        if kind == "html":
            return _Reply(200, HTML_ERROR_PAGE.encode(), "text/html; charset=UTF-8")
        is_search = request.endpoint == "esearch"
        if kind == "empty":
            term = request.params.get("term", "")
            return _Reply(200, esearch_body(term, [], retmax=0, retstart=0) if is_search else efetch_body([]))
        if kind == "bomb":
            if is_search:
                return _Reply(200, billion_laughs("eSearchResult", "<Count>&lol9;</Count>"))
            article = (
                '<PubmedArticle><MedlineCitation><PMID Version="1">1</PMID>'
                "<Article><ArticleTitle>&lol9;</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
            )
            return _Reply(200, billion_laughs("PubmedArticleSet", article))
        body = self._normal(request).body
        if kind == "truncated":
            return _Reply(200, body[: len(body) // 2])
        # "malformed": the root's end tag no longer matches its start tag
        root = b"eSearchResult" if is_search else b"PubmedArticleSet"
        return _Reply(200, body.replace(b"</" + root + b">", b"</" + root + b"Broken>"))


def _doi_in(term: str) -> str:
    """The DOI of a ``10.x/y[doi]`` or ``"10.x/y"[AID]`` term, or ""."""
    match = _DOI_TERM_RE.match(term)
    return match.group("doi").strip() if match else ""


def _safe_dois(article_xml: str) -> set[str]:
    """An added article's DOIs; hand-built XML a test made unparsable on purpose has none."""
    try:
        return article_dois(article_xml)
    except etree.XMLSyntaxError:
        return set()


def _json_error(status: int, message: str) -> _Reply:
    return _Reply(status, json.dumps({"error": message}).encode(), "application/json")


def _xml_error(root: str, message: str) -> _Reply:
    """NCBI answers a request with nothing to do by an XML error document, with status 200."""
    return _Reply(200, f'<?xml version="1.0" ?>\n<{root}>\n<ERROR>{message}</ERROR>\n</{root}>\n'.encode())


def _handler_for(fake: FakeEutils) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeEutils/1.0"

        def do_GET(self) -> None:
            self._handle(b"")

        def do_POST(self) -> None:
            self._handle(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def _handle(self, form: bytes) -> None:
            url = urlsplit(self.path)
            if url.path not in {f"{URL_PREFIX}{name}.fcgi" for name in ENDPOINTS}:
                self._send(_Reply(404, b"Not Found", "text/plain"))
                return
            params = {**_form(url.query.encode()), **_form(form)}
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = RecordedRequest(self.command, url.path, params, headers)
            reply = fake._answer(request, fake._record(request))
            if reply is None:
                self.close_connection = True
                return
            self._send(reply)

        def _send(self, reply: _Reply) -> None:
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if not reply.streamed:
                    self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if not reply.drip:
                    self.wfile.write(reply.body)
                for start in range(0, len(reply.body), 64) if reply.drip else ():
                    self.wfile.write(reply.body[start : start + 64])
                    self.wfile.flush()
                    if fake._stopping.wait(reply.drip):
                        return
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (a "slow" answer after its timeout)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean; assertions use fake.requests

    return Handler


def _form(data: bytes) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(data.decode(), keep_blank_values=True).items()}
