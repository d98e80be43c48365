"""Editor rich text is cleaned on save: what reaches a reader can never run script."""

import nh3

ALLOWED_TAGS = {
    "p", "br", "a", "strong", "em", "b", "i", "u", "sup", "sub", "ul", "ol", "li",
    "h2", "h3", "h4", "blockquote", "abbr", "cite", "q", "small",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


def clean_rich_text(html: str) -> str:
    """Keep formatting and links; drop script, event handlers, styles and javascript: URLs."""
    return nh3.clean(
        html or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
    ).strip()
