"""The search page: published treatment pages first, then the publications they list, 20 at a time."""

from functools import cached_property

from django.shortcuts import render

from treatments import cache

from . import query

RESULTS_PER_PAGE = 20


class Grouped:
    """Two ranked querysets read as one list, pages before publications, for the Paginator.

    Counting is one query each; a slice reads only the rows it shows, from one or both: the page
    costs the same number of queries however many results there are.
    """

    def __init__(self, pages, publications):
        self.pages, self.publications = pages, publications

    @cached_property
    def page_count(self) -> int:
        return self.pages.count()

    @cached_property
    def publication_count(self) -> int:
        return self.publications.count()

    def count(self) -> int:
        return self.page_count + self.publication_count

    def __getitem__(self, window: slice) -> list:
        start, stop = window.start or 0, window.stop
        pages = list(self.pages[start:stop]) if start < self.page_count else []
        first = max(0, start - self.page_count)
        last = max(0, stop - self.page_count)
        publications = list(self.publications[first:last]) if last > first else []
        return [("page", page) for page in pages] + [("publication", p) for p in publications]


@cache.reader_page
def search(request):
    """The same for every reader, so public; but ``q`` is not one of the page cache's
    ``QUERY_VALUES``: a search is rendered each time, never stored (only the empty form is).
    At the edge, every page change bans /search/ with all its query strings (``cache.urls_for``).

    Any input gets a page: the query is cleaned and capped before it is read (``search.query``).
    """
    q = query.clean(request.GET.get("q", ""))
    grouped = Grouped(query.search_pages(q), query.search_publications(q))
    results = cache.paginate(request, grouped, RESULTS_PER_PAGE) if q else None
    pages, publications = [], []
    if results is not None:
        pages = query.finish_pages([row for kind, row in results.object_list if kind == "page"], q)
        publications = [row for kind, row in results.object_list if kind == "publication"]
        publications = query.finish_publications(publications, q)
    context = {
        "q": q,
        "searched": bool(q),
        "results": results,
        "total": grouped.count() if q else 0,
        "page_count": grouped.page_count if q else 0,
        "publication_count": grouped.publication_count if q else 0,
        "pages": pages,
        "publications": publications,
        "max_length": query.MAX_QUERY_LENGTH,
    }
    return render(request, "search/results.html", context)
