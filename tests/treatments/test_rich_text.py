"""Descriptions and intros are edited in a rich-text editor served from our own static files; what it
sends is cleaned on the way in, plain text gets paragraphs, and an empty editor counts as empty."""

import io
import json
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.admin.widgets import AdminTextareaWidget
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.db import models
from django_prose_editor.config import allowlist_from_extensions
from django_prose_editor.widgets import AdminProseEditorWidget

from treatments.forms import RICH_TEXT_EXTENSIONS, RichTextFormField, rich_text_widget
from treatments.models import Section, TreatmentPage
from treatments.sanitize import ALLOWED_ATTRIBUTES, ALLOWED_TAGS, clean_rich_text, is_blank_rich_text

# What the editor (django-prose-editor 0.28.0 with RICH_TEXT_EXTENSIONS) wrote in Chromium, typed
# by hand: paragraphs, marks, a heading, lists, a quote, an empty paragraph, a hard break, links.
EDITOR_OUTPUT = [
    "<p>Start</p><p>Second paragraph <strong>bold</strong> and <em>italic</em><sup>sup</sup></p>"
    "<h2>Heading two</h2><ul><li><p>item one</p></li><li><p>item two</p></li></ul>"
    "<blockquote><p>quoted</p></blockquote><p></p><p>line<br>break</p>",
    '<p>A <a href="https://example.org/a?b=1&amp;c=2">plain</a> and <a href="https://example.org/" '
    'title="T">titled</a> link, x<sub>2</sub> <u>u</u> <strong>b</strong> <em>i</em></p>'
    '<ol data-type="decimal" start="3"><li><p>three</p></li></ol><ol data-type="decimal"><li><p>one</p>'
    "</li></ol><h3>h3</h3><h4>h4</h4><p>a&nbsp;b &lt;5 end</p>",
    '<p>Mail <a href="mailto:editors@example.org">us</a>, IL-2<sup>+</sup> CD4<sub>low</sub></p>',
]
DEMO_PAGES = Path(django_settings.BASE_DIR) / "treatments" / "demo" / "pages.json"


@pytest.mark.parametrize("html", EDITOR_OUTPUT)
def test_what_the_editor_writes_survives_cleaning_unchanged(html):
    assert clean_rich_text(html) == html


@pytest.mark.parametrize(
    ("dirty", "gone", "kept"),
    [
        ('<p onclick="steal()">Hi</p>', "onclick", "<p>Hi</p>"),
        ("<p>Hi<script>steal()</script></p>", "script", "<p>Hi</p>"),
        ('<p><a href="javascript:steal()">x</a></p>', "javascript:", "<p><a>x</a></p>"),
        ('<p style="position:fixed">Hi</p>', "style", "<p>Hi</p>"),
        ('<p><iframe src="https://evil.example"></iframe>Hi</p>', "iframe", "<p>Hi</p>"),
        ('<p><img src="x" onerror="steal()">Hi</p>', "onerror", "<p>Hi</p>"),
        (
            '<p><a href="https://x.example" target="_blank">x</a></p>',
            "target",
            '<p><a href="https://x.example">x</a></p>',
        ),
        ("Plain <script>steal()</script>text\n\nmore", "steal", "<p>Plain text</p><p>more</p>"),
    ],
)
def test_dangerous_input_is_still_removed(dirty, gone, kept):
    assert clean_rich_text(dirty) == kept
    assert gone not in kept


def test_blank_lines_become_paragraphs_and_single_newlines_line_breaks():
    text = "Interleukin 2 is a cytokine.\nIt is made by T cells.\n\n  \nAldesleukin is made in the lab."
    assert clean_rich_text(text) == (
        "<p>Interleukin 2 is a cytokine.<br>It is made by T cells.</p><p>Aldesleukin is made in the lab.</p>"
    )


def test_plain_text_from_a_browser_textarea_or_windows_file_gets_paragraphs_too():
    assert clean_rich_text("One\r\n\r\nTwo\r\nlines") == "<p>One</p><p>Two<br>lines</p>"
    assert clean_rich_text("A single line, p < 0.05") == "<p>A single line, p &lt; 0.05</p>"


def test_inline_markup_in_plain_text_is_kept_inside_the_paragraphs():
    text = 'IL-2<sup>+</sup> cells\n\nSee <a href="https://example.org/" title="two\n\nlines">this</a>'
    assert clean_rich_text(text) == (
        '<p>IL-2<sup>+</sup> cells</p><p>See <a href="https://example.org/" title="two\n\nlines">this</a></p>'
    )


def test_text_that_already_has_block_tags_is_left_as_it_is():
    html = "<h2>Uses</h2>\n\nMelanoma\n\n<p>Kidney cancer</p>"
    assert clean_rich_text(html) == html


@pytest.mark.parametrize("text", ["", "   ", "Two\n\nparas", "<b>a\n\nb</b>", EDITOR_OUTPUT[0]])
def test_cleaning_twice_changes_nothing_more(text):
    once = clean_rich_text(text)
    assert clean_rich_text(once) == once


def test_the_demo_description_is_unchanged():
    for page in json.loads(DEMO_PAGES.read_text())["pages"]:
        assert clean_rich_text(page["description"]) == page["description"]


@pytest.mark.parametrize(
    ("html", "blank"),
    [
        ("", True),
        (None, True),
        ("<p></p>", True),
        ("<p> &nbsp; </p>", True),
        ("<p><br></p>", True),
        ("<p></p><p>\n</p>", True),
        ("<p>x</p>", False),
        ("<p>&lt;</p>", False),
        ("<p>0</p>", False),
    ],
)
def test_is_blank_rich_text(html, blank):
    assert is_blank_rich_text(html) is blank


def test_the_editor_offers_only_what_the_sanitizer_keeps():
    allowed = allowlist_from_extensions(RICH_TEXT_EXTENSIONS)
    assert allowed["tags"] <= ALLOWED_TAGS
    assert {"h2", "h3", "h4", "strong", "em", "sup", "sub", "a", "ul", "ol", "li", "blockquote"} <= allowed[
        "tags"
    ]
    for tag, attributes in allowed["attributes"].items():
        assert attributes - {"rel"} <= ALLOWED_ATTRIBUTES.get(tag, set()), tag


def test_the_form_field_cleans_on_the_way_in_and_an_empty_editor_is_empty():
    field = RichTextFormField(required=False)
    assert field.clean('<p onclick="x()">Hi<script>bad()</script></p>') == "<p>Hi</p>"
    assert field.clean("<p></p>") == ""
    assert field.clean("Plain\n\ntext") == "<p>Plain</p><p>text</p>"
    with pytest.raises(Exception, match="required"):
        RichTextFormField(required=True).clean("<p></p>")


def test_opening_and_saving_unchanged_text_is_no_change():
    stored = clean_rich_text('<p><a href="https://example.org/">IL-2</a></p>')
    resent = '<p><a rel="noopener noreferrer" href="https://example.org/">IL-2</a></p>'  # an older entry
    assert not RichTextFormField().has_changed(stored, stored)
    assert not RichTextFormField().has_changed(stored, resent)


@pytest.mark.parametrize(("model", "name"), [(TreatmentPage, "description"), (Section, "intro")])
def test_the_admin_wiring_gives_the_editor_with_the_models_label_and_help(model, name):
    class Admin(admin.ModelAdmin):
        formfield_overrides = {models.TextField: {"form_class": RichTextFormField}}

    field = Admin(model, admin.site).formfield_for_dbfield(model._meta.get_field(name), request=None)
    assert isinstance(field, RichTextFormField)
    assert isinstance(field.widget, AdminProseEditorWidget)
    assert field.help_text == model._meta.get_field(name).help_text
    assert not field.required


def test_the_widget_alone_for_a_form():
    field = RichTextFormField(widget=AdminTextareaWidget)
    assert isinstance(field.widget, AdminProseEditorWidget)
    assert isinstance(rich_text_widget(), AdminProseEditorWidget)
    html = rich_text_widget().render("description", "<p>x</p>")
    assert "data-django-prose-editor-configurable" in html and '"levels":[2,3,4]' in html.replace(
        "&quot;", '"'
    )


def test_the_editor_is_served_from_our_static_files_with_no_cdn():
    media = str(rich_text_widget().media)
    urls = re.findall(r'(?:src|href)="([^"]+)"', media) + re.findall(r'"(/static/[^"]+)"', media)
    assert urls and all(url.startswith("/static/django_prose_editor/") for url in urls), urls
    for url in urls:
        assert finders.find(url.removeprefix("/static/")), url
    assert "http" not in media


def test_collectstatic_writes_the_editor_for_production(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0, stdout=io.StringIO())
    media = str(rich_text_widget().media)
    hashed = re.findall(r"/static/(django_prose_editor/[\w.-]+\.[0-9a-f]{12}\.(?:js|css))", media)
    assert len(hashed) >= 5, media
    for name in hashed:
        assert (tmp_path / name).is_file() and (tmp_path / f"{name}.gz").is_file(), name
    assert (tmp_path / "django_prose_editor" / "material-icons.woff2").is_file()
