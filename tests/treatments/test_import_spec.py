"""The import file's spec: one declaration per entry kind drives key checks, value checks and the importer."""

import json

import pytest
from django.core.exceptions import FieldDoesNotExist

from treatments import import_validation as spec
from treatments.import_validation import Entry, Key
from treatments.models import TreatmentPage


def test_the_importer_copies_the_plain_fields_the_spec_declares():
    assert spec.PAGE_FIELDS == [
        "title", "other_name", "label", "description", "pubmed_query", "publications_shown", "published",
    ]  # fmt: skip
    assert spec.SECTION_FIELDS == ["title", "position", "intro"]
    assert [key.name for key in spec.RESOURCE.keys if key.required] == ["title", "url"]
    # An instruction to the importer, not a stored field: checked by the spec, never copied onto a row.
    assert "replace_web_resources" in {key.name for key in spec.PAGE.keys}


def test_a_spec_that_disagrees_with_its_model_fails_at_once():
    with pytest.raises(FieldDoesNotExist):
        Entry(TreatmentPage, (Key("titel", required=True),))


def test_one_spec_drives_unknown_missing_and_value_errors():
    entry = Entry(TreatmentPage, (Key("title", required=True), Key("slug", check=lambda v, here: [here])))
    assert entry.errors({"slug": "x", "extra": 1}, "pages[0]") == [
        "pages[0].extra: unknown field",
        "pages[0].title: required field missing",
        "pages[0].slug",
    ]
    assert entry.errors({"title": 3}, "") == ["title: must be a string, not a number"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"sections": [{"path": 3, "title": "T"}]}, "sections[0].path: must be a string, not a number"),
        ({"sections": [{"path": "t", "title": "T", "intro": "\x00"}]}, "sections[0].intro: Null characters"),
        ({"sections": [{"path": "static", "title": "T"}]}, 'sections[0].path: "static" is reserved'),
        (
            {"pages": [{"section": "t", "slug": "p", "title": "T", "tags": ["ok", "bad\x00tag"]}]},
            "pages[0].tags[1]: Null characters are not allowed.",
        ),
        (
            {"pages": [{"section": "t", "slug": "p", "title": "T", "tags": "x"}]},
            "pages[0].tags: must be a list, not a string",
        ),
        (
            {"pages": [{"section": "t", "slug": "p", "title": "T", "web_resources": ["x"]}]},
            "pages[0].web_resources[0]: must be an object, not a string",
        ),
        (
            {"pages": [{"section": "t", "slug": "p", "title": "T", "web_resources": [{"url": 1}]}]},
            "pages[0].web_resources[0].url: must be a string, not a number",
        ),
        (
            {"pages": [{"section": "t", "slug": "p", "title": "T", "replace_web_resources": "yes"}]},
            "pages[0].replace_web_resources: must be true or false, not a string",
        ),
        (
            {"pages": [{"section": "t", "slug": "p", "title": "T", "replace_web_resources": True}]},
            "pages[0].replace_web_resources: needs web_resources (the links to replace them with)",
        ),
        (
            {"pages": [{"section": "t", "slug": "s" * 101, "title": "T"}]},
            "pages[0].slug: must be at most 100 characters (it has 101)",
        ),
    ],
)
def test_messages_and_locations(data, error):
    errors = spec.validate(data)
    assert any(e.startswith(error) for e in errors), errors


NUL_FREE_PAGE = {
    "section": "t", "slug": "p", "title": "T", "other_name": "O", "label": "L", "description": "<p>D</p>",
    "pubmed_query": "q", "tags": ["a"],
    "web_resources": [{"title": "W", "url": "https://example.org/", "note": "n"}],
}  # fmt: skip


def _with_nul(entry, path):
    """A copy of ``entry`` with a NUL character inside the string at ``path`` (keys and list indexes)."""
    copy = json.loads(json.dumps(entry))
    *parents, last = path
    target = copy
    for step in parents:
        target = target[step]
    target[last] = target[last][:1] + "\x00" + target[last][1:]
    return copy


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        *[(key,) for key, value in NUL_FREE_PAGE.items() if isinstance(value, str)],
        ("tags", 0),
        *[("web_resources", 0, key) for key in ("title", "url", "note")],
    ],
)
def test_check_refuses_a_nul_character_in_any_string_the_import_would_store(path):
    data = {"sections": [{"path": "t", "title": "T"}], "pages": [_with_nul(NUL_FREE_PAGE, path)]}
    assert spec.validate({"sections": data["sections"], "pages": [NUL_FREE_PAGE]}) == []
    assert spec.validate(data), f"a NUL in pages[0].{path} passed the check"
