"""Parse NCBI E-utilities XML (PubMed efetch and esearch) into the plain records of ``records``.

Responses come over the network, so parsing is defensive: no DTD loading, no network access, no
entity expansion, the package's one size limit (``ResponseTooLarge``), and a document that
declares its own entities is refused. A response that cannot be used as a whole raises
``PubmedParseError`` (both errors live in ``errors``); one bad article in a batch is reported in
``ParseResult.problems`` and the rest of the batch is kept.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import html
import re
from collections.abc import Iterator

from lxml import etree

from publications.markup import CONTENT_DROPPED_TAGS, INLINE_TAGS, clean_inline, inline_text
from publications.pubmed.errors import MAX_RESPONSE_BYTES, MalformedResponse, ResponseTooLarge
from publications.pubmed.errors import PubmedParseError as PubmedParseError  # still imported from here
from publications.pubmed.records import (
    AbstractSection,
    Author,
    ParseProblem,
    ParseResult,
    PubmedRecord,
    SearchResult,
)
from publications.pubmed.trim import TrimmedReader, without_reference_lists

_MATHML_NS = "http://www.w3.org/1998/Math/MathML"
_MATHML_PREFIX = f"{{{_MATHML_NS}}}"
_MATHML_TEXT = f"{_MATHML_PREFIX}mtext"
# MathML's scripts, as the sub and sup the site keeps: the tags their scripts take, in turn.
_MATHML_SCRIPTS = {
    f"{_MATHML_PREFIX}{name}": tags
    for name, tags in (
        ("msub", ("sub",)), ("msup", ("sup",)),
        ("msubsup", ("sub", "sup")), ("mmultiscripts", ("sub", "sup")),
    )
}  # fmt: skip
_MATHML_PRESCRIPTS = f"{_MATHML_PREFIX}mprescripts"
_XML_SPACE = re.compile(r"[ \t\r\n]+")  # not \s: a no-break space in the text is meant
_DIGITS = re.compile(r"[0-9]+")
_YEAR = re.compile(r"(?<![0-9])[0-9]{4}(?![0-9])")
_AUTHOR_PARTS = ("LastName", "ForeName", "Initials", "Suffix", "CollectiveName")
_DATE_PARTS = ("Year", "Month", "Day")
_PUB_DATE_PARTS = ("Year", "Month", "Day", "Season", "MedlineDate")
_COMMENT_PARTS = ("PMID", "RefSource")
# What PubMed puts in ArticleTitle for a non-English article it has no English title for: the title is
# then its VernacularTitle, as PubMed's own page shows it.
_NO_TITLE = ("", "[Not Available].")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _ArticleProblem(Exception):
    """One article (or one deleted PMID) cannot be used; the batch goes on without it."""

    def __init__(self, message: str, pmid: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pmid = pmid


def parse_efetch(data: bytes, *, max_bytes: int = MAX_RESPONSE_BYTES) -> ParseResult:
    """Parse a PubMed efetch response (a PubmedArticleSet) into records, deletions and problems.

    Articles' reference lists are cut out before lxml reads them (``trim`` says why): no record holds
    them, nor its ``source_xml``.
    """
    root = _parse_document(data, max_bytes, ("PubmedArticleSet",))
    result = ParseResult()
    for element in root.iterchildren(tag=etree.Element):
        if element.tag == "DeleteCitation":
            for pmid in element.iterfind("PMID"):
                with _reported_in(result, "DeleteCitation"):
                    result.deleted_pmids.append(_pmid(pmid))
        else:
            with _reported_in(result, element.tag):
                result.records.append(_record(element))
    return result


def iter_efetch(source, *, result: ParseResult | None = None) -> Iterator[PubmedRecord]:
    """Stream an efetch response (a file or file-like object of any size) one record at a time.

    Memory stays flat: each article is read, turned into a record and freed before the next, so a
    10,000-record efetch never becomes one tree. Same safety as ``parse_efetch`` (no DTD, no network,
    no entity expansion, entity declarations refused); bad articles and deleted PMIDs go to ``result``.
    Reference lists are cut out as the bytes are read (``trim``), as ``parse_efetch`` does.
    """
    result = ParseResult() if result is None else result
    events = etree.iterparse(
        TrimmedReader(source), events=("end",), tag=("PubmedArticle", "PubmedBookArticle", "DeleteCitation"),
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True,
        remove_pis=True,
    )  # fmt: skip
    checked = False
    try:
        for _, element in events:
            if not checked:
                _refuse_entity_declarations(element)
                checked = True
            etree.strip_elements(element, etree.Entity, with_tail=False)
            record = None
            with _reported_in(result, element.tag):
                if element.tag == "DeleteCitation":
                    result.deleted_pmids.extend(_pmid(pmid) for pmid in element.iterfind("PMID"))
                else:
                    record = _record(element)
            if record is not None:
                yield record
            element.clear(keep_tail=False)
            while element.getprevious() is not None:  # drop articles already read from the root
                del element.getparent()[0]
    except etree.XMLSyntaxError as exc:
        raise MalformedResponse(f"not well-formed XML ({exc})") from exc
    _check_streamed_root(events.root)


def _check_streamed_root(root: etree._Element | None) -> None:
    """What ``_parse_document`` checks first, checked once the stream is read: NCBI's error, the root."""
    if root is None:
        raise MalformedResponse("empty response")
    ncbi_error = _text(root) if root.tag == "ERROR" else _text(root, "ERROR")
    if ncbi_error:
        raise MalformedResponse(f"NCBI error: {ncbi_error}", ncbi_error=ncbi_error)
    if root.tag != "PubmedArticleSet":
        raise MalformedResponse(f"expected <PubmedArticleSet>, got <{root.tag}>")


def parse_article_xml(xml: str) -> PubmedRecord:
    """Re-parse a stored ``PubmedRecord.source_xml``, so stored articles can be re-read by a newer parser."""
    root = _parse_document(xml.encode("utf-8"), MAX_RESPONSE_BYTES, ("PubmedArticle", "PubmedBookArticle"))
    try:
        return _record(root)
    except _ArticleProblem as problem:
        raise MalformedResponse(problem.message) from None


def parse_esearch(data: bytes, *, max_bytes: int = MAX_RESPONSE_BYTES) -> SearchResult:
    """Parse an esearch response; "no results" is a normal result, with NCBI's errors and warnings."""
    root = _parse_document(data, max_bytes, ("eSearchResult",))
    count = _text(root, "Count")
    ids = [_text(id_element) for id_element in root.iterfind("IdList/Id")]
    if not _DIGITS.fullmatch(count) or not all(_DIGITS.fullmatch(pmid) for pmid in ids):
        raise MalformedResponse(f"eSearchResult with a missing or non-numeric Count or Id (Count {count!r})")
    return SearchResult(
        count=int(count),
        pmids=[int(pmid) for pmid in ids],
        query_translation=_text(root, "QueryTranslation"),
        errors=[f"{child.tag}: {_text(child)}" for child in root.iterfind("ErrorList/*")],
        warnings=[f"{child.tag}: {_text(child)}" for child in root.iterfind("WarningList/*")],
    )


@contextlib.contextmanager
def _reported_in(result: ParseResult, where: str) -> Iterator[None]:
    """Turn one article's problem into a ParseProblem instead of failing the batch."""
    try:
        yield
    except _ArticleProblem as problem:
        result.problems.append(ParseProblem(f"{where}: {problem.message}", problem.pmid))


# Whole documents


def _parse_document(data: bytes, max_bytes: int, expected_roots: tuple[str, ...]) -> etree._Element:
    if len(data) > max_bytes:
        raise ResponseTooLarge(f"The response ({len(data):,} bytes)", max_bytes)
    try:
        root = etree.fromstring(without_reference_lists(data), _xml_parser())
    except etree.XMLSyntaxError as exc:
        raise MalformedResponse(f"not well-formed XML ({exc}): {_snippet(data)}") from exc
    _refuse_entity_declarations(root)
    ncbi_error = _text(root) if root.tag == "ERROR" else _text(root, "ERROR")
    if ncbi_error:
        raise MalformedResponse(f"NCBI error: {ncbi_error}", ncbi_error=ncbi_error)
    if root.tag not in expected_roots:
        expected = " or ".join(f"<{tag}>" for tag in expected_roots)
        raise MalformedResponse(f"expected {expected}, got <{root.tag}>: {_snippet(data)}")
    # Without the DTD an undeclared reference (&nbsp;) stays an entity node; NCBI sends character
    # references instead, so drop such a node rather than show "&nbsp;" as text.
    etree.strip_elements(root, etree.Entity, with_tail=False)
    return root


def _xml_parser() -> etree.XMLParser:
    """A parser that never fetches NCBI's DTD (the DOCTYPE names its URL) and never expands entities."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _refuse_entity_declarations(root: etree._Element) -> None:
    """NCBI never declares entities; a document that does is an entity-expansion or XXE attempt."""
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise MalformedResponse("document declares its own entities; NCBI responses never do")


def _snippet(data: bytes) -> str:
    return _collapse_space(data[:200].decode("utf-8", "replace"))


# One article


def _record(element: etree._Element) -> PubmedRecord:
    if element.tag == "PubmedArticle":
        record = _article_record(element)
    elif element.tag == "PubmedBookArticle":
        record = _book_record(element)
    else:
        raise _ArticleProblem("not a PubmedArticle, PubmedBookArticle or DeleteCitation")
    release = record.dates.get("pmc-release")
    record.pmc_release_date = datetime.date.fromisoformat(release) if release else None
    record.source_xml = etree.tostring(element, encoding="unicode", with_tail=False)
    return record


def _article_record(element: etree._Element) -> PubmedRecord:
    """A PubmedArticle: a journal article, cited by journal, issue and pages."""
    top = _children([element])
    cited = _children(top.get("MedlineCitation", ()))
    pmid = _pmid(_first(cited, "PMID"))
    article = _first(cited, "Article")
    if article is None:
        raise _ArticleProblem("no Article element", pmid)
    parts = _children([article])
    journal = _children(parts.get("Journal", ()))
    issue = _children(journal.get("JournalIssue", ()))
    pubmed_data = _children(top.get("PubmedData", ()))
    shared = _shared_fields(
        parts,
        ids=_children(pubmed_data.get("ArticleIdList", ())).get("ArticleId", []),
        elocation_ids=parts.get("ELocationID", []),
        publication_types=_children(parts.get("PublicationTypeList", ())).get("PublicationType", []),
    )
    comments = _children(cited.get("CommentsCorrectionsList", ())).get("CommentsCorrections", [])
    retraction_notices = _retraction_notices(comments)
    return PubmedRecord(
        pmid=pmid,
        title=_article_title(parts),
        journal_iso=_text(_first(journal, "ISOAbbreviation")),
        journal_title=_text(_first(journal, "Title")),
        **_pub_date_fields(_first(issue, "PubDate")),
        volume=_text(_first(issue, "Volume")),
        issue=_text(_first(issue, "Issue")),
        dates=_article_dates(pubmed_data, cited, parts),
        is_retracted=shared.pop("is_retracted") or bool(retraction_notices),
        retraction_notices=retraction_notices,
        comments_corrections=_comments_corrections(comments),
        **shared,
    )


def _article_title(parts: dict) -> str:
    """ArticleTitle, or the VernacularTitle when PubMed has no English title (``_NO_TITLE``)."""
    title = _inline_html(_first(parts, "ArticleTitle"))
    if title in _NO_TITLE:
        return _inline_html(_first(parts, "VernacularTitle")) or title
    return title


def _book_record(element: etree._Element) -> PubmedRecord:
    """A PubmedBookArticle: a Bookshelf chapter (such as a GeneReviews entry) or a whole book."""
    pmid = _pmid(element.find("BookDocument/PMID"))
    document = element.find("BookDocument")
    book_title = _inline_html(document.find("Book/BookTitle"))
    shared = _shared_fields(
        _children([document]),
        ids=document.findall("ArticleIdList/ArticleId")
        + element.findall("PubmedBookData/ArticleIdList/ArticleId"),
        elocation_ids=document.findall("Book/ELocationID"),
        publication_types=document.findall("PublicationType"),
    )
    dates = _history_dates(element.find("PubmedBookData/History"))
    _add_date(dates, "revised_record", document.find("DateRevised"))
    return PubmedRecord(
        pmid=pmid,
        title=_inline_html(document.find("ArticleTitle")) or book_title,
        kind="book",
        journal_iso=inline_text(book_title),
        **_pub_date_fields(document.find("Book/PubDate")),
        volume=_text(document, "Book/Volume"),
        book_accession=shared.pop("book_accession"),
        dates=dates,
        **shared,
    )


def _children(elements) -> dict[str, list[etree._Element]]:
    """The children of these elements by tag, in document order: ``_children([a])["B"]`` is
    ``a.findall("B")``, ``_children(those["B"])["C"]`` is ``a.findall("B/C")``. One pass over the
    children serves every later look-up; lxml's ``find`` reads its path and walks again at each call
    (some 4 µs a call, once most of the time of reading an article)."""
    by_tag: dict[str, list[etree._Element]] = {}
    for element in elements:
        for child in element:
            if (found := by_tag.get(child.tag)) is None:
                by_tag[child.tag] = [child]
            else:
                found.append(child)
    return by_tag


def _first(by_tag: dict[str, list[etree._Element]], tag: str) -> etree._Element | None:
    found = by_tag.get(tag)
    return found[0] if found else None


def _shared_fields(parts: dict, *, ids, elocation_ids, publication_types) -> dict:
    """What articles and books give alike, read from the children (``_children``) of the element that
    holds them (Article, BookDocument)."""
    article_ids = _article_ids(ids)
    elocations = _elocation_ids(elocation_ids)
    types = [_text(pt) for pt in publication_types]
    return {
        "authors": _authors(parts.get("AuthorList", ())),
        "pages": _text(_first(_children(parts.get("Pagination", ())), "MedlinePgn")),
        "elocation_ids": elocations,
        "doi": article_ids.get("doi") or _first_doi(elocations),
        "pmcid": article_ids.get("pmc", ""),
        "book_accession": article_ids.get("bookaccession", ""),
        "abstract": _abstract(_first(parts, "Abstract")),
        "publication_types": types,
        "language": _text(_first(parts, "Language")),
        "is_retracted": "Retracted Publication" in types,
    }


def _pmid(element: etree._Element | None) -> int:
    text = _text(element)
    if not text:
        raise _ArticleProblem("no PMID")
    if not _DIGITS.fullmatch(text) or int(text) == 0:
        raise _ArticleProblem(f"PMID {text!r} is not a positive integer")
    return int(text)


def _authors(author_lists) -> list[Author]:
    """Authors from these author lists, leaving out editors' lists and ValidYN="N" entries."""
    authors = []
    for author_list in author_lists:
        if author_list.get("Type", "authors") != "authors":
            continue
        for element in author_list.iterchildren("Author"):
            parts = _first_children(element, _AUTHOR_PARTS)
            if element.get("ValidYN") != "N" and any(parts.values()):
                authors.append(
                    Author(
                        last_name=parts.get("LastName", ""),
                        fore_name=parts.get("ForeName", ""),
                        initials=parts.get("Initials", ""),
                        suffix=parts.get("Suffix", ""),
                        collective_name=parts.get("CollectiveName", ""),
                    )
                )
    return authors


def _abstract(abstract: etree._Element | None) -> list[AbstractSection]:
    if abstract is None:
        return []
    sections = []
    for element in abstract.iterchildren("AbstractText"):
        text = _inline_html(element)
        if text:
            label, category = element.get("Label", ""), element.get("NlmCategory", "")
            sections.append(AbstractSection(text=text, label=label, nlm_category=category))
    return sections


def _article_ids(elements: list[etree._Element]) -> dict[str, str]:
    """IdType -> first value; callers pass the article's own ArticleIdList, never its references'."""
    ids: dict[str, str] = {}
    for element in elements:
        if value := _text(element):
            ids.setdefault(element.get("IdType", ""), value)
    return ids


def _elocation_ids(elements: list[etree._Element]) -> list[tuple[str, str]]:
    valid = [element for element in elements if element.get("ValidYN") != "N"]
    return [(element.get("EIdType", ""), _text(element)) for element in valid if _text(element)]


def _first_doi(elocation_ids: list[tuple[str, str]]) -> str:
    return next((value for id_type, value in elocation_ids if id_type == "doi"), "")


def _retraction_notices(comments: list[etree._Element]) -> list[str]:
    """The retraction notices NLM links to this article (its CommentsCorrections), as
    "Nature. 2020;1:2 PMID: 123"."""
    notices = []
    for comment in comments:
        if comment.get("RefType") == "RetractionIn":
            found = _first_children(comment, _COMMENT_PARTS)
            source, pmid = found.get("RefSource", ""), found.get("PMID", "")
            notices.append(" ".join(filter(None, [source, f"PMID: {pmid}" if pmid else ""])))
    return notices


def _comments_corrections(comments: list[etree._Element]) -> list[dict]:
    """Every link NLM records between this article and another (errata, comments, updates, retractions...).

    "Cites" is left out: it is the article's reference list (hundreds of entries), not a notice about it.
    """
    links = []
    for comment in comments:
        ref_type = comment.get("RefType", "")
        if not ref_type or ref_type == "Cites":
            continue
        found = _first_children(comment, _COMMENT_PARTS)
        pmid = found.get("PMID", "")
        links.append(
            {
                "type": ref_type,
                "pmid": int(pmid) if _DIGITS.fullmatch(pmid) and int(pmid) else None,
                "source": found.get("RefSource", ""),
            }
        )
    return links


# Dates


def _pub_date_fields(pub_date: etree._Element | None) -> dict[str, str]:
    """The issue date as PubMed gives it, except that a numeric month is spelled "Jun" like the others."""
    parts = _first_children(pub_date, _PUB_DATE_PARTS) if pub_date is not None else {}
    medline_date = parts.get("MedlineDate", "")
    year_in_medline_date = _YEAR.search(medline_date)
    month = parts.get("Month", "")
    month_number = _month_number(month)
    return {
        "pub_year": parts.get("Year") or (year_in_medline_date.group() if year_in_medline_date else ""),
        "pub_month": _MONTHS[month_number - 1] if month_number else month,
        "pub_day": parts.get("Day", ""),
        "pub_season": parts.get("Season", ""),
        "medline_date": medline_date,
    }


def _article_dates(pubmed_data: dict, cited: dict, parts: dict) -> dict[str, str]:
    """History dates by PubStatus, plus the record's completed/revised dates and the e-publication date
    (from the children, ``_children``, of PubmedData, MedlineCitation and Article)."""
    dates = _history_dates(_first(pubmed_data, "History"))
    _add_date(dates, "completed", _first(cited, "DateCompleted"))
    _add_date(dates, "revised_record", _first(cited, "DateRevised"))
    for article_date in parts.get("ArticleDate", ()):
        if article_date.get("DateType", "Electronic") == "Electronic":
            _add_date(dates, "electronic", article_date)
    return dates


def _history_dates(history: etree._Element | None) -> dict[str, str]:
    dates: dict[str, str] = {}
    if history is not None:
        for element in history.iterchildren("PubMedPubDate"):
            _add_date(dates, element.get("PubStatus", ""), element)
    return dates


def _add_date(dates: dict[str, str], key: str, element: etree._Element | None) -> None:
    """Add the element's date as ISO under key, unless the key is taken or the date is not a real date."""
    if key and key not in dates and element is not None:
        parts = _first_children(element, _DATE_PARTS)
        if date := _iso_date(parts.get("Year", ""), parts.get("Month", ""), parts.get("Day", "")):
            dates[key] = date


@functools.lru_cache(maxsize=4096)  # an article has some seven dates, most of them shared with others
def _iso_date(year: str, month: str, day: str) -> str:
    """ "2019-06-03" for a real date, "" for anything else."""
    month_number = _month_number(month)
    if not (_DIGITS.fullmatch(year) and _DIGITS.fullmatch(day) and month_number):
        return ""
    try:
        return datetime.date(int(year), month_number, int(day)).isoformat()
    except ValueError:
        return ""


def _month_number(month: str) -> int | None:
    """1-12 for "6", "06" or "Jun"; None for anything else (including "")."""
    if _DIGITS.fullmatch(month):
        return int(month) if 1 <= int(month) <= 12 else None
    abbreviation = month[:3].title()
    return _MONTHS.index(abbreviation) + 1 if abbreviation in _MONTHS else None


# Text


def _text(element: etree._Element | None, path: str = "") -> str:
    """Plain text of an element (or of its first match for path), whitespace runs collapsed; "" if missing."""
    if element is not None and path:
        element = element.find(path)
    if element is None:
        return ""
    # Most elements hold only text: skip itertext's walk (this runs some 75 times per article).
    return _collapse_space(element.text or "" if not len(element) else "".join(element.itertext()))


def _first_children(element: etree._Element, tags: tuple[str, ...]) -> dict[str, str]:
    """The text of the first child with each of these tags, in one pass (an author or a date has a few)."""
    found: dict[str, str] = {}
    for child in element:  # a plain loop: iterchildren(*tags) builds a tag matcher at each call
        tag = child.tag
        if tag in tags and tag not in found:
            found[tag] = _collapse_space(child.text or "" if not len(child) else "".join(child.itertext()))
    return found


def _collapse_space(text: str) -> str:
    if "\n" in text or "\t" in text or "\r" in text or "  " in text:
        text = _XML_SPACE.sub(" ", text)
    return text.strip()


def _inline_html(element: etree._Element | None) -> str:
    """An element's content as cleaned inline HTML: i, b, sup, sub, u kept, other elements reduced to text."""
    if element is None:
        return ""
    parts: list[str] = []
    _append_inline(element, parts)
    return _collapse_space(clean_inline("".join(parts)))


def _append_inline(element: etree._Element, parts: list[str]) -> None:
    # PubMed pretty-prints MathML; the blank text between its elements is layout, not content.
    # Tags read as strings, "{namespace}name" or "name": an etree.QName per element took most of the time
    # of an abstract with MathML.
    keep_blank = not element.tag.startswith(_MATHML_PREFIX)
    text = element.text
    if element.tag == _MATHML_TEXT and text and not text.strip():
        # The formula's own space ("Xe<mtext> </mtext>MRI"), often a no-break one: a word break.
        text, keep_blank = " ", True
    _append_text(text, parts, keep_blank)
    for child in element:
        name = child.tag.rpartition("}")[2]
        if name in INLINE_TAGS:
            parts.append(f"<{name}>")
            _append_inline(child, parts)
            parts.append(f"</{name}>")
        elif child.tag in _MATHML_SCRIPTS and len(child):
            _append_scripts(child, parts)
        elif name not in CONTENT_DROPPED_TAGS:
            _append_inline(child, parts)
        _append_text(child.tail, parts, keep_blank)


def _append_scripts(element: etree._Element, parts: list[str]) -> None:
    """A MathML base with its scripts as sub and sup: "x<sup>2</sup>", "<sup>3</sup>He" (prescripts
    first), "V̇O<sub>2max</sub>"; read as text they said "x2" and "He3"."""
    base, *scripts = element
    tags = _MATHML_SCRIPTS[element.tag]
    prescripts = next((i for i, script in enumerate(scripts) if script.tag == _MATHML_PRESCRIPTS), None)
    if prescripts is not None:
        _append_script_list(scripts[prescripts + 1 :], tags, parts)
        scripts = scripts[:prescripts]
    _append_inline(base, parts)
    _append_script_list(scripts, tags, parts)


def _append_script_list(scripts: list[etree._Element], tags: tuple[str, ...], parts: list[str]) -> None:
    for index, script in enumerate(scripts):
        inner: list[str] = []
        _append_inline(script, inner)
        if "".join(inner).strip():  # <none/> holds a place, and nothing else
            tag = tags[index % len(tags)]
            parts.extend([f"<{tag}>", *inner, f"</{tag}>"])


def _append_text(text: str | None, parts: list[str], keep_blank: bool) -> None:
    if text and (keep_blank or text.strip()):
        parts.append(html.escape(text, quote=False))
