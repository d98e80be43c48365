"""clean_inline is the one gate between PubMed text and HTML marked safe in templates."""

import pytest

from publications.markup import clean_inline, inline_text

SAMPLES = [
    "",
    "plain text",
    "p<sub>trend</sub>=0.048 and r<sup>2</sup>&lt;0.25",
    "<i>TERT</i> <b>bold</b> <u>under</u> <sup>+</sup> <sub>2</sub>",
    '<b onclick="x" title="t" lang="en" class="c" style="color:red">bold</b>',
    "<script>alert(1)</script>after",
    "<style>p { color: red }</style>after",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "a < b > c & d \" e ' f",
    "<i>unclosed <b>nesting</i> end",
    "<p>para</p><div>block</div><a href='javascript:alert(1)'>link</a>",
    "<img src=x onerror=alert(1)>image",
    "<!-- comment -->text",
    "no-break\xa0space &nbsp; &#174; &reg;",
    "<mml:math><mml:mi>x</mml:mi></mml:math>",
    "<textarea><i>x</i></textarea><title>t</title>",
    "<i/> self-closed",
    "&amp;lt;i&amp;gt; double-escaped",
]


@pytest.mark.parametrize("html", SAMPLES)
def test_clean_inline_is_idempotent(html):
    once = clean_inline(html)
    assert clean_inline(once) == once


@pytest.mark.parametrize("html", SAMPLES)
def test_inline_text_of_cleaned_markup_is_the_same_text(html):
    assert inline_text(clean_inline(html)) == inline_text(html)


def test_allowed_tags_are_kept():
    html = "<i>TERT</i> <b>b</b> <u>u</u> Na<sup>+</sup> CO<sub>2</sub>"
    assert clean_inline(html) == html


def test_uppercase_tags_are_normalised():
    assert clean_inline("<SUP>+</SUP><I>x</I>") == "<sup>+</sup><i>x</i>"


def test_all_attributes_are_dropped_including_lang_and_title():
    assert clean_inline('<b onclick="x" title="t" lang="en" style="s">bold</b>') == "<b>bold</b>"


def test_other_tags_are_dropped_and_their_text_kept():
    assert clean_inline("<p>one</p> <span>two</span> <a href='http://x'>three</a>") == "one two three"


def test_script_and_style_are_dropped_with_their_content():
    assert clean_inline("a<script>alert(1)</script>b<style>p{}</style>c") == "abc"


def test_escaped_markup_stays_escaped_text():
    assert clean_inline("&lt;script&gt;alert(1)&lt;/script&gt;") == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_text_is_escaped():
    assert clean_inline("p < 0.05 & q > 1") == "p &lt; 0.05 &amp; q &gt; 1"


def test_unclosed_tags_are_closed():
    assert clean_inline("<i>open") == "<i>open</i>"


def test_inline_text_removes_tags_and_unescapes():
    assert inline_text("Na<sup>+</sup> &amp; K<sup>+</sup> &lt; 5 GeneReviews<sup>&#xae;</sup>") == (
        "Na+ & K+ < 5 GeneReviews®"
    )


def test_inline_text_drops_script_content():
    assert inline_text("a<script>alert(1)</script>b") == "ab"
