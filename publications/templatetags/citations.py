from django import template
from django.utils.safestring import mark_safe

from publications.markup import clean_inline

register = template.Library()


@register.simple_tag
def pmc_access(publication, as_of):
    """``{% pmc_access publication as_of as pmc %}``: free now, embargoed until a date, or None."""
    return publication.pmc_access(as_of)


@register.filter
def inline_markup(html):
    """Render stored inline markup (i, b, sup, sub, u); it is cleaned again here, never trusted."""
    return mark_safe(clean_inline(html or ""))  # noqa: S308 - clean_inline escapes everything else
