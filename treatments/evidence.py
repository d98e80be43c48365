"""A page's research list at a glance: its filters (``?only=``) and its publications per year.

Both come from the rows the list's one query already reads: no query of their own, whatever the filter.
"""

from __future__ import annotations

import datetime
import functools
import json
from dataclasses import dataclass, field

from publications.citation import FILTER_KINDS, evidence_keys

# ``?only=`` values, as the page's filter links name them; any other value shows the whole list.
FILTERS = {"reviews": "Reviews", "trials": "Trials", "free": "Free full text"}
# The chart: the last CHART_YEARS years that have entries at most (older ones counted as "earlier").
CHART_YEARS = 20
CHART_HEIGHT = 60
BAR_WIDTH = 14
BAR_GAP = 4
LABEL_SPACE = 14


@dataclass(frozen=True)
class Row:
    """One listed entry as the list query reads it."""

    pk: int
    html: str
    release: datetime.date | None
    book: str
    in_pmc: bool
    types: tuple[str, ...]
    year: str

    def free(self, as_of: datetime.date) -> bool:
        """Free full text on the day: on Bookshelf, or on PMC and out of embargo."""
        return bool(self.book) or (self.in_pmc and (self.release is None or self.release <= as_of))

    def kept_by(self, only: str, as_of: datetime.date) -> bool:
        if only == "free":
            return self.free(as_of)
        return bool(evidence_keys(self.types) & FILTER_KINDS[only])  # worked out once per list of types


@functools.lru_cache(maxsize=1024)
def publication_types(stored: str | None) -> tuple[str, ...]:
    """A record's publication types from their stored JSON text; () if that is not a list of strings (a
    hand-edited row). Read once per distinct text: most entries share one of a few lists, and decoding
    each row's JSON was a tenth of building the list."""
    try:
        value = json.loads(stored) if stored else []
    except ValueError:
        return ()
    return tuple(value) if isinstance(value, list) and all(isinstance(name, str) for name in value) else ()


def chosen_filter(value) -> str:
    """The ``only`` parameter if it names a filter, else "" (the whole list): never an error."""
    return value if isinstance(value, str) and value in FILTERS else ""


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    x: int
    y: int
    height: int


@dataclass
class Listed:
    """What the list section shows: the entries' HTML, how many, the filters and the chart."""

    html: str = ""
    shown: int = 0
    total: int = 0
    only: str = ""
    filters: list[dict] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    chart_width: int = 0
    chart_height: int = CHART_HEIGHT + LABEL_SPACE
    # Every listed entry, unfiltered (the JSON-LD cites the whole list, as the chart counts it).
    citations: list[str] = field(default_factory=list)  # each entry's ScholarlyArticle JSON (its JSON-LD)

    @property
    def only_label(self) -> str:
        return FILTERS.get(self.only, "")


def filters(rows: list[Row], only: str, as_of: datetime.date) -> list[dict]:
    """The filter links: each with its count, the current one marked; "All" first."""
    links = [{"value": "", "label": "All", "count": len(rows), "current": not only}]
    for value, label in FILTERS.items():
        count = sum(1 for row in rows if row.kept_by(value, as_of))
        links.append({"value": value, "label": label, "count": count, "current": value == only})
    return links


def year_bars(years: list[str]) -> list[Bar]:
    """Bars of the entries per year, every year from the oldest to the newest (gaps are bars of 0).

    Past CHART_YEARS years, the older entries make one "earlier" bar. Entries with no year are left out.
    """
    counts: dict[int, int] = {}
    for year in years:
        if year.isdigit():
            counts[int(year)] = counts.get(int(year), 0) + 1
    if not counts:
        return []
    newest = max(counts)
    oldest = max(min(counts), newest - CHART_YEARS + 1)
    columns = [(str(year), counts.get(year, 0)) for year in range(oldest, newest + 1)]
    earlier = sum(count for year, count in counts.items() if year < oldest)
    if earlier:
        columns.insert(0, ("earlier", earlier))
    top = max(count for _, count in columns)
    bars = []
    for index, (label, count) in enumerate(columns):
        height = round(CHART_HEIGHT * count / top)
        bars.append(Bar(label, count, index * (BAR_WIDTH + BAR_GAP), CHART_HEIGHT - height, height))
    return bars


def listed(rows: list[Row], html: str, *, only: str, as_of: datetime.date) -> Listed:
    bars = year_bars([row.year for row in rows])
    return Listed(
        html=html,
        shown=sum(1 for row in rows if not only or row.kept_by(only, as_of)),
        total=len(rows),
        only=only,
        filters=filters(rows, only, as_of),
        bars=bars,
        chart_width=len(bars) * (BAR_WIDTH + BAR_GAP),
    )
