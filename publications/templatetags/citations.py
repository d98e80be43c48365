from django import template
from django.utils.safestring import mark_safe

from publications.citation import entry_for_date, entry_html
from publications.markup import clean_inline

register = template.Library()


@register.simple_tag
def entry(publication, as_of):
    """``{% entry publication as_of %}``: one citation as on the page, built from the row as it is now.

    Pages use the HTML stored on the row; this is for views of one entry, such as the admin's preview.
    """
    html = entry_for_date(
        entry_html(publication),
        release_date=publication.pmc_release_date if publication.in_pmc else None,
        book_accession=publication.book_accession,
        as_of=as_of,
    )
    return mark_safe(html)  # noqa: S308 - entry_html cleans the markup and escapes every other value


@register.simple_tag
def pmc_access(publication, as_of):
    """``{% pmc_access publication as_of as pmc %}``: free now, embargoed until a date, or None."""
    return publication.pmc_access(as_of)


@register.filter
def inline_markup(html):
    """Render stored inline markup (i, b, sup, sub, u); it is cleaned again here, never trusted."""
    return mark_safe(clean_inline(html or ""))  # noqa: S308 - clean_inline escapes everything else
