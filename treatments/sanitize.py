"""Editor rich text is cleaned on save: what reaches a reader can never run script.

The admin's rich-text editor (``treatments.forms``) produces only what is allowed here, so its
output passes through unchanged; plain text (an import, an old entry) is given paragraphs.
"""

import html
import re

import nh3
from django.utils.html import strip_tags

ALLOWED_TAGS = {
    "p", "br", "a", "strong", "em", "b", "i", "u", "sup", "sub", "ul", "ol", "li",
    "h2", "h3", "h4", "blockquote", "abbr", "cite", "q", "small",
}  # fmt: skip
# The editor writes <ol data-type="decimal" start="3">: list numbering, never script.
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start", "type", "data-type"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}

# Allowed tags that make blocks; text with none of them has no paragraphs yet.
BLOCK_TAG = re.compile(r"<(p|h[2-4]|ul|ol|li|blockquote)[\s>]", re.IGNORECASE)
BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")
# A serialized tag: attribute values are double-quoted and may hold ">" or newlines.
TAG = re.compile(r'<[^>"]*(?:"[^"]*"[^>"]*)*>')


def _clean(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel=None,  # no target is kept, so no opener to cut; Referrer-Policy hides the referrer
    ).strip()


def paragraphs(text: str) -> str:
    """Blank lines become paragraphs and single newlines line breaks: plain text read as its author meant."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = TAG.sub(lambda tag: tag.group().replace("\n", "&#10;"), text)  # only text lines count
    blocks = [block.strip() for block in BLANK_LINES.split(text)]
    return "".join(f"<p>{'<br>'.join(map(str.strip, block.splitlines()))}</p>" for block in blocks if block)


def clean_rich_text(html_fragment: str) -> str:
    """Keep formatting and links; drop script, event handlers, styles and javascript: URLs.

    Text with no block tags gets paragraphs; cleaning again then mends any inline tag a blank line
    split. Idempotent: the output has block tags, so a second pass leaves it as it is.
    """
    cleaned = _clean(html_fragment or "")
    if not cleaned or BLOCK_TAG.search(cleaned):
        return cleaned
    return _clean(paragraphs(cleaned))


def is_blank_rich_text(html_fragment: str) -> bool:
    """True when a reader would see nothing: the editor's empty "<p></p>", spaces, &nbsp; or <br>."""
    return not html.unescape(strip_tags(html_fragment or "")).strip()
