"""Malformed files that are valid JSON to a parser but not to Python or a database: one clear error each.

A lone surrogate ("\\ud800" with no low half), a number longer than Python converts, and lists nested
deeper than the parser recurses used to end in a traceback; each is now a CommandError naming the
problem (and, for a string, where it is), and nothing is written.
"""

import copy
import io

import pytest
from django.core.management import CommandError, call_command

from treatments import importer
from treatments.import_validation import validate
from treatments.models import Section, TreatmentPage

from .test_import import DATA, IL2, db_state, get_page, write

SECTION, _, SLUG = IL2.rpartition("/")
LONE_SURROGATE = "not valid Unicode text (a lone surrogate, \\ud800, at character 2)"


@pytest.fixture
def existing():
    """Two sections and two pages already in the database (IL2 titled "Interleukin 2"), as plain rows."""
    importer.apply(copy.deepcopy(DATA))
    return db_state()


def assert_nothing_written(before):
    assert db_state() == before
    assert (Section.objects.count(), TreatmentPage.objects.count()) == (2, 2)
    assert get_page(IL2).title == "Interleukin 2"


def page_text(**values):
    """A file retitling IL2 (and setting ``values``), each value given as the JSON text to put there."""
    keys = {"section": f'"{SECTION}"', "slug": f'"{SLUG}"', "title": '"Changed"', **values}
    return '{"pages": [{' + ", ".join(f'"{key}": {value}' for key, value in keys.items()) + "}]}"


def run(path, *args):
    """The command as a terminal runs it: stdout refuses what UTF-8 cannot encode, stderr escapes it.

    Returns stderr's lines and the CommandError raised (the test fails if there is none).
    """
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    with pytest.raises(CommandError) as exc:
        call_command("import_pages", str(path), *args, stdout=out, stderr=err)
    err.seek(0)
    return err.read().splitlines(), str(exc.value)


@pytest.mark.django_db
@pytest.mark.parametrize("check", [False, True], ids=["import", "check"])
@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"title": '"A\\ud800"'}, f"pages[0].title: {LONE_SURROGATE}"),
        ({"tags": '["cytokine", "A\\ud800"]'}, f"pages[0].tags[1]: {LONE_SURROGATE}"),
        (
            {"web_resources": '[{"title": "NCI", "url": "https://www.cancer.gov/", "note": "A\\udfff"}]'},
            "pages[0].web_resources[0].note: "
            "not valid Unicode text (a lone surrogate, \\udfff, at character 2)",
        ),
    ],
    ids=["title", "tag", "link-note"],
)
def test_a_lone_surrogate_is_refused_with_where_it_is(tmp_path, existing, values, error, check):
    path = write(tmp_path, page_text(**values))
    errors, message = run(path, *(["--check"] if check else []))
    assert errors == [error]
    assert message == f"{path}: 1 error(s), nothing imported"
    assert_nothing_written(existing)


@pytest.mark.django_db
def test_a_lone_surrogate_in_a_section_is_refused_too(existing):
    data = {"sections": [{"path": SECTION, "title": "Changed", "intro": "<p>A\ud800</p>"}]}
    assert validate(data) == [
        "sections[0].intro: not valid Unicode text (a lone surrogate, \\ud800, at character 5)"
    ]
    with pytest.raises(importer.InvalidImport):
        importer.apply(data)
    assert_nothing_written(existing)


@pytest.mark.django_db
@pytest.mark.parametrize("check", [False, True], ids=["import", "check"])
def test_a_number_too_long_for_python_is_one_clear_error(tmp_path, existing, check):
    path = write(tmp_path, page_text(publications_shown="1" * 5000))
    errors, message = run(path, *(["--check"] if check else []))
    assert message == (
        f"{path}: not a valid import file: "
        "Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits"
    )
    assert errors == []
    assert_nothing_written(existing)


@pytest.mark.django_db
@pytest.mark.parametrize("check", [False, True], ids=["import", "check"])
def test_lists_nested_too_deep_for_the_parser_are_one_clear_error(tmp_path, existing, check):
    depth = 100_000
    path = write(tmp_path, page_text(tags="[" * depth + "]" * depth))
    errors, message = run(path, *(["--check"] if check else []))
    assert message == f"{path}: not a valid import file: lists or objects nested too deeply"
    assert errors == []
    assert_nothing_written(existing)
