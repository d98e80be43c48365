"""What readers' templates (Jinja2, ``cancerindex.templating``) may call from this app: the head of
the page, its canonical URL, Open Graph and JSON-LD (``treatments.structured_data``).

They read the template's context (the page or section being shown, the request), so the views stay
as they are and every template that extends base.html gets them. Nothing here varies by reader: a
page stays the same bytes for everyone, as the page cache needs.
"""

from jinja2 import pass_context

from . import structured_data as sd
from .models import Section, TreatmentPage


def template_globals() -> dict:
    return {"reader_head": reader_head, "structured_data": structured_data}


@pass_context
def reader_head(context) -> dict | None:
    """The canonical URL and og: properties of the page being shown (base.html writes their tags);
    None without a request."""
    request = context.get("request")
    if request is None:
        return None
    page, section = _node(context)
    url = sd.canonical_url(request, context.get("pages"))
    if page is not None:
        og = sd.open_graph(
            title=page.display_title, description=sd.text_of(page.description), url=url, kind="article"
        )
    elif section is not None:
        description = sd.text_of(section.intro) or f"{section.title}: pages on CancerIndex."
        og = sd.open_graph(title=section.title, description=description, url=url)
    else:
        og = sd.open_graph(title=sd.SITE_NAME, description=sd.SITE_DESCRIPTION, url=url)
    return {"canonical": url, "og": og}


@pass_context
def structured_data(context):
    """The JSON-LD of a treatment page (with its listed entries, as the list read them) or a section."""
    request = context.get("request")
    if request is None:
        return ""
    page, section = _node(context)
    trail = context.get("ancestors", [])
    if page is not None:
        listed = context.get("listed")
        citations = listed.citations if listed is not None else ()
        return sd.json_ld(sd.medical_web_page(request, page, trail), citations=citations)
    if section is not None:
        return sd.json_ld(sd.section_page(request, section, trail))
    return ""


def _node(context) -> tuple[TreatmentPage | None, Section | None]:
    """The treatment page or section the tree's own view is showing (not a preview, nor another view's)."""
    match = getattr(context.get("request"), "resolver_match", None)
    if context.get("preview") or match is None or match.view_name != "treatments:node":
        return None, None
    page, section = context.get("page"), context.get("section")
    if isinstance(page, TreatmentPage):
        return page, None
    return None, section if isinstance(section, Section) else None
