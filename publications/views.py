"""Citation downloads: one entry, or the whole list a page shows, as RIS, MEDLINE, BibTeX or CSL-JSON.

Only what readers can see is exported: an entry that a published page shows (not hidden, within the
page's limit), a published page's list as it shows it. Built from the stored columns in one or two
queries, whatever the size (``publications.export``), never from the record's XML nor a call to NCBI.
Both are readers' pages, cached whole; a page's change purges its list's downloads
(``treatments.cache.urls_for``); a single entry's download is at most ``PAGE_CACHE_SECONDS`` behind.
"""

from django.http import Http404, HttpResponse

from treatments import cache
from treatments.models import TreatmentPage

from . import export
from .models import PageListing, Publication


def _download(fmt: str, publications, name: str) -> HttpResponse:
    chosen = export.FORMATS[fmt]
    response = HttpResponse(chosen.build(publications), content_type=f"{chosen.content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="cancerindex-{name}.{chosen.extension}"'
    return response


def _format(fmt: str) -> str:
    if fmt not in export.FORMATS:
        raise Http404("No such citation format.")
    return fmt


def shown_publication(pmid: int):
    """The publication with this PMID if a published page shows it (not hidden, within the page's
    limit), else None: one query, ranking the lists of the pages that have it, as the page does."""
    pages = (
        PageListing.objects.visible().filter(publication__pmid=pmid, page__published=True).values("page_id")
    )
    shown = PageListing.objects.filter(page_id__in=pages).shown_on_their_pages().values("publication_id")
    return Publication.objects.only(*export.EXPORT_FIELDS).filter(pmid=pmid, pk__in=shown).first()


def cite(request, pmid, fmt):
    """One entry, as a file named by its PMID.

    Not kept by the caches: whether any page shows the entry can change on any page (a hide, a refresh
    that drops it), and no purge names every PMID a change touched. It is one indexed query.
    """
    fmt = _format(fmt)
    publication = shown_publication(pmid)
    if publication is None:
        raise Http404("No page shows this publication.")
    return _download(fmt, [publication], str(pmid))


@cache.reader_page
def cite_page(request, page_id, fmt):
    """A published page's list as the page shows it (pinned first, hidden never), named by its slug."""
    fmt = _format(fmt)
    page = TreatmentPage.objects.published().only("slug", "publications_shown").filter(pk=page_id).first()
    if page is None:
        raise Http404("No such page.")
    fields = (f"publication__{name}" for name in export.EXPORT_FIELDS)
    listings = PageListing.objects.for_page(page).only("publication", *fields)
    return _download(fmt, [listing.publication for listing in listings], page.slug)
