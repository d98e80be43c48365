"""The only inline markup the site stores and renders from PubMed text.

PubMed titles and abstracts carry a little typographic markup (<i>TERT</i>, p<sub>trend</sub>,
r<sup>2</sup>) that changes meaning when lost, so it is kept; everything else is reduced to its
text. The output of ``clean_inline`` is safe to mark as safe in a template.
"""

import html

import nh3

INLINE_TAGS = frozenset({"i", "b", "sup", "sub", "u"})
# Elements whose text is code or styling, never prose: dropped with their content.
CONTENT_DROPPED_TAGS = frozenset({"script", "style"})

# attributes={"*": set()} also clears nh3's default generic attributes (lang, title), which
# attributes={} would keep.
_INLINE_CLEANER = nh3.Cleaner(
    tags=set(INLINE_TAGS),
    clean_content_tags=set(CONTENT_DROPPED_TAGS),
    attributes={"*": set()},
    link_rel=None,
    strip_comments=True,
)
_TEXT_CLEANER = nh3.Cleaner(
    tags=set(),
    clean_content_tags=set(CONTENT_DROPPED_TAGS),
    attributes={"*": set()},
    link_rel=None,
    strip_comments=True,
)


# Fragments clean_inline returned lately. Cleaning one again changes nothing (idempotent), so it is not
# run through the cleaner again: the parser cleans each title and abstract, and storing cleans them again.
# A dict (insertion-ordered, safe across threads) emptied when full: memory stays bounded.
_RECENTLY_CLEANED: dict[str, None] = {}
_RECENTLY_CLEANED_MAX = 2048


def clean_inline(html_fragment: str) -> str:
    """Keep i, b, sup, sub, u without attributes; escape all text.

    Other tags are dropped but their text is kept (except script and style, whose content goes
    too; MathML and SVG are foreign content to the HTML parser and are dropped whole, so reduce
    them to text before calling this). Idempotent: cleaning the output again changes nothing.
    """
    if type(html_fragment) is str and html_fragment in _RECENTLY_CLEANED:
        return html_fragment
    cleaned = _INLINE_CLEANER.clean(html_fragment)
    if len(_RECENTLY_CLEANED) >= _RECENTLY_CLEANED_MAX:
        _RECENTLY_CLEANED.clear()
    _RECENTLY_CLEANED[cleaned] = None
    return cleaned


def inline_text(html_fragment: str) -> str:
    """Plain text of an inline HTML fragment (tags removed, entities unescaped), for search and sorting."""
    return html.unescape(_TEXT_CLEANER.clean(html_fragment))
