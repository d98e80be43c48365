"""The admin's rich-text editor for descriptions and section intros (django-prose-editor).

The editor's scripts and styles ship in the package's static files, so it works offline and needs
no CDN. Its buttons make only what ``treatments.sanitize`` keeps, and what it sends back is cleaned
with the same rules before anything else sees it: a draft is as safe as a saved page.
"""

import copy

from django_prose_editor.fields import ProseEditorFormField
from django_prose_editor.widgets import AdminProseEditorWidget

from .sanitize import clean_rich_text, is_blank_rich_text

# One button per tag that sanitize.ALLOWED_TAGS keeps (b, i, abbr, cite, q and small are kept
# from imported text but get no button: strong and em say the same). No target on links: the
# sanitizer would drop it.
RICH_TEXT_EXTENSIONS = {
    "Heading": {"levels": [2, 3, 4]},
    "Bold": True,
    "Italic": True,
    "Underline": True,
    "Superscript": True,
    "Subscript": True,
    "BulletList": True,
    "OrderedList": True,
    "ListItem": True,
    "Blockquote": True,
    "HardBreak": True,
    "Link": {"enableTarget": False},
}


def rich_text_config() -> dict:
    """A fresh config: django-prose-editor writes into the dict it is given."""
    return {"extensions": copy.deepcopy(RICH_TEXT_EXTENSIONS)}


def rich_text_widget(**kwargs) -> AdminProseEditorWidget:
    """The editor as a widget alone, e.g. for a ModelForm's Meta.widgets."""
    return AdminProseEditorWidget(config=rich_text_config(), preset="configurable", **kwargs)


class RichTextFormField(ProseEditorFormField):
    """Rich text edited in the prose editor, cleaned as the model cleans it; an empty editor is ""."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("config", rich_text_config())
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        """Clean here, not only in clean(): has_changed() compares this with the stored text too.

        The editor never sends nothing ("<p></p>" at least): an empty one counts as empty.
        """
        value = clean_rich_text(super().to_python(value))
        return "" if is_blank_rich_text(value) else value
