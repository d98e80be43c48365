"""PubMed's XML without its articles' reference lists, cut out of the bytes before lxml reads them.

Why: an efetch article carries the list of works it cites (``<ReferenceList>`` in PubmedData and
BookDocument): two thirds of PubMed's bytes (68% of the fixtures'), which nothing here reads or shows.
Left in, lxml builds every one of those nodes, the parser serializes them again into ``source_xml``, and
PostgreSQL compresses and stores them: they were most of a record's ingest cost. Cut here, a new record
costs our process 3.9 million instructions instead of 6.4, and PostgreSQL a third less (README: Performance).

The cut is made by a scanner of the raw bytes, at C speed (``bytes.find`` and regular expressions):
- it knows what may hide a ``<ReferenceList>`` that is not an element (comments, CDATA sections,
  processing instructions), and steps over them whole;
- nested lists and ``<ReferenceList/>`` are cut whole, attributes and all;
- a stream is read in chunks (``TrimmedReader``): a tag split between two chunks is held back until the
  next one completes it.
What it cannot make sense of (an end tag with no start, a list never closed) is left for lxml to refuse,
so a malformed response is still a clear error (``MalformedResponse``), never a silently shorter record.
"""

from __future__ import annotations

import re

_TAG = "ReferenceList"
# What the scanner stops at: the start of a comment, CDATA section or processing instruction (stepped
# over whole), a start or empty-element tag of a reference list (attributes, quoted, may hold ">"), or
# its end tag. Linear: no two parts of the pattern can take the same bytes.
_INTERESTING = re.compile(
    rb"<(?:(?P<comment>!--)|(?P<cdata>!\[CDATA\[)|(?P<pi>\?)"
    rb"|(?P<open>" + _TAG.encode() + rb"(?:\s[^<>\"'/]*(?:(?:\"[^\"]*\"|'[^']*')[^<>\"'/]*)*)?(?P<empty>/)?>)"
    rb"|(?P<close>/" + _TAG.encode() + rb"\s*>))"
)
_ENDS = {"comment": b"-->", "cdata": b"]]>", "pi": b"?>"}
# A tag this long or longer is never held back whole: a reference list's start tag has no attributes in
# NCBI's DTD, so only an oddity (which lxml then reads, or refuses) is longer.
_LONGEST_TAG = 256


_MARKUP = re.compile(rb"<[!?]")  # one pass for both: two bytes.find of "<!" and "<?" took twice as long


class _Upcoming:
    """Where the next place the scanner stops at may begin: ``ReferenceList`` (with ``<`` or ``</`` before
    it, a tag) found with ``bytes.find``, and ``<!`` or ``<?`` (a comment, CDATA section, declaration or
    processing instruction) with ``_MARKUP``; each remembered until passed, so the document is read
    twice in all, however many stops. (A regular expression stopping at every ``<`` took twice as long.)
    """

    _NAME = _TAG.encode()

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._tag = self._markup = -2  # -2: not looked for yet; -1: none from here on

    def after(self, pos: int) -> int:
        """The first position at or after ``pos`` where a stop may begin, or -1."""
        if self._tag == -2 or -1 < self._tag < pos:
            self._tag = self._find_tag(pos)
        if self._markup == -2 or -1 < self._markup < pos:
            found = _MARKUP.search(self._data, pos)
            self._markup = found.start() if found else -1
        if self._tag < 0 or self._markup < 0:
            return max(self._tag, self._markup)
        return min(self._tag, self._markup)

    def _find_tag(self, pos: int) -> int:
        at = pos
        while (name := self._data.find(self._NAME, at)) >= 0:  # its "<" or "</" must be at pos or after
            if name - 1 >= pos and self._data[name - 1] == 0x3C:  # "<"
                return name - 1
            if name - 2 >= pos and self._data[name - 2 : name] == b"</":
                return name - 2
            at = name + 1  # the name as text ("ReferenceList" in an abstract), or its "<" before pos
        return -1


class ReferenceListTrimmer:
    """Feed it the document in chunks (``feed``), then ``feed(b"", final=True)``; what it returns, joined,
    is the document without its reference lists."""

    def __init__(self) -> None:
        self._depth = 0  # reference lists open around the current position: > 0 means cutting
        self._until: bytes | None = None  # inside a comment, CDATA section or PI: the bytes that end it
        self._held = b""

    def feed(self, chunk: bytes, *, final: bool = False) -> bytes:
        data = self._held + chunk if self._held else chunk
        self._held = b""
        kept: list[bytes] = []
        pos, end = 0, len(data)
        upcoming = _Upcoming(data)
        while pos < end:
            if self._until is not None:  # inside a comment, CDATA section or PI
                found = data.find(self._until, pos)
                if found < 0:
                    stop = end if final else max(pos, end - len(self._until) + 1)
                    self._keep(kept, data, pos, stop)
                    self._held, pos = data[stop:], end
                    break
                self._keep(kept, data, pos, found + len(self._until))
                pos, self._until = found + len(self._until), None
                continue
            start = upcoming.after(pos)
            match = _INTERESTING.match(data, start) if start >= 0 else None
            if match is None:
                if start >= 0 and (final or end - start > _LONGEST_TAG):  # "<ReferenceLists>", say: text
                    self._keep(kept, data, pos, start + 1)
                    pos = start + 1
                    continue
                stop = end if final else self._safe_end(data, pos)
                self._keep(kept, data, pos, stop)
                self._held = data[stop:]
                break
            after = match.end()
            if match["comment"] or match["cdata"] or match["pi"]:
                self._keep(kept, data, pos, after)
                self._until = _ENDS[match.lastgroup]
            elif match["open"]:
                self._keep(kept, data, pos, start)
                if not match["empty"]:
                    self._depth += 1
            elif self._depth:  # the end of a reference list: cut, and keep what follows the outermost
                self._depth -= 1
            else:  # an end tag with no start: left in, for lxml to refuse
                self._keep(kept, data, pos, after)
            pos = after
        return b"".join(kept)

    def _keep(self, kept: list[bytes], data: bytes, start: int, stop: int) -> None:
        if not self._depth and stop > start:
            kept.append(data[start:stop])

    @staticmethod
    def _safe_end(data: bytes, pos: int) -> int:
        """Where this chunk's bytes can be let go: before a ``<`` near its end, whose tag the next chunk
        may complete."""
        last = data.rfind(b"<", max(pos, len(data) - _LONGEST_TAG))
        return len(data) if last < 0 else last


def without_reference_lists(data: bytes) -> bytes:
    """A whole document without its reference lists."""
    return ReferenceListTrimmer().feed(data, final=True)


class TrimmedReader:
    """A binary file-like object (``read``) over ``source``, without its reference lists: for lxml's
    ``iterparse``, which then never sees them."""

    def __init__(self, source, chunk_size: int = 64 * 1024) -> None:
        self._source = source
        self._chunk_size = chunk_size
        self._trimmer = ReferenceListTrimmer()
        self._buffer = b""
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            chunk = self._source.read(self._chunk_size if size < 0 else max(size, self._chunk_size))
            self._done = not chunk
            self._buffer += self._trimmer.feed(chunk, final=self._done)
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out
