"""The JSON import: validates a whole file first, writes only what differs, and says what it did."""

import copy
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from taggit.models import Tag

from treatments import importer
from treatments.changes import page_changed
from treatments.models import Section, TreatmentPage, WebResource

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pages.json"
IL2 = "treatments/biological-therapies/interleukin-2"
IFN = "treatments/biological-therapies/interferon-alfa"

DATA = {
    # Child before parent on purpose: order in the file must not matter.
    "sections": [
        {"path": "treatments/biological-therapies", "title": "Biological Therapies", "position": 2},
        {"path": "treatments", "title": "Treatments", "intro": "<p>All treatments.</p>"},
    ],
    "pages": [
        {
            "section": "treatments/biological-therapies",
            "slug": "interleukin-2",
            "title": "Interleukin 2",
            "other_name": "Aldesleukin",
            "label": "IL2",
            "description": (
                '<p>A <a href="https://www.cancer.gov/">cytokine</a>.</p><script>alert("x")</script>'
                '<p><a href="javascript:alert(1)">click</a></p>'
            ),
            "tags": ["cytokine", "immunotherapy"],
            "pubmed_query": "interleukin-2[tiab] AND neoplasms[mh]",
            "publications_shown": 25,
            "published": True,
            "web_resources": [
                {"title": "NCI", "url": "https://www.cancer.gov/about-cancer/treatment/drugs/aldesleukin"},
                {"title": "CRUK", "url": "https://www.cancerresearchuk.org/", "note": "UK charity"},
                {"title": "Wikipedia", "url": "https://en.wikipedia.org/wiki/Interleukin_2"},
            ],
        },
        {"section": "treatments/biological-therapies", "slug": "interferon-alfa", "title": "Interferon alfa"},
    ],
}


@pytest.fixture
def data():
    return copy.deepcopy(DATA)


@pytest.fixture
def changes():
    """Every page_changed signal sent during the test, as (page path, reason)."""
    seen = []

    def receiver(sender, page, reason, **kwargs):
        seen.append((page.path, reason))

    page_changed.connect(receiver, weak=False)
    yield seen
    page_changed.disconnect(receiver)


def write(tmp_path, content, name="pages.json"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2), encoding="utf-8")
    return path


def run_command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_pages", *map(str, args), stdout=out, stderr=err)
    return out.getvalue()


def get_page(path):
    section_path, _, slug = path.rpartition("/")
    return TreatmentPage.objects.get(section__path=section_path, slug=slug)


def db_state():
    """Everything an import can write, as plain values, to prove a run wrote nothing."""
    return {
        "sections": list(Section.objects.order_by("path").values()),
        "pages": list(TreatmentPage.objects.order_by("pk").values()),
        "resources": list(WebResource.objects.order_by("pk").values()),
        "tags": sorted(TreatmentPage.tags.through.objects.values_list("object_id", "tag__name")),
        "tag_rows": Tag.objects.count(),
    }


@pytest.mark.django_db
def test_valid_file_imports_tree_pages_links_and_tags(tmp_path, data, changes):
    output = run_command(write(tmp_path, data))

    assert "sections: 2 created, 0 updated, 0 unchanged; pages: 2 created, 0 updated, 0 unchanged" in output
    root = Section.objects.get(path="treatments")
    child = Section.objects.get(path="treatments/biological-therapies")
    assert (root.parent, root.slug, root.intro) == (None, "treatments", "<p>All treatments.</p>")
    assert (child.parent, child.slug, child.title, child.position) == (
        root,
        "biological-therapies",
        "Biological Therapies",
        2,
    )

    page = get_page(IL2)
    assert (page.title, page.other_name, page.label) == ("Interleukin 2", "Aldesleukin", "IL2")
    assert (page.pubmed_query, page.publications_shown, page.published) == (
        "interleukin-2[tiab] AND neoplasms[mh]",
        25,
        True,
    )
    assert [(r.title, r.note, r.position) for r in page.web_resources.all()] == [
        ("NCI", "", 0),
        ("CRUK", "UK charity", 1),
        ("Wikipedia", "", 2),
    ]
    assert set(page.tags.names()) == {"cytokine", "immunotherapy"}
    assert "<script" not in page.description and "alert" not in page.description
    assert "javascript:" not in page.description
    assert 'href="https://www.cancer.gov/"' in page.description

    defaults = get_page(IFN)  # only the required keys: the rest are model defaults
    assert (defaults.other_name, defaults.publications_shown, defaults.published) == ("", 30, False)
    assert not defaults.web_resources.exists() and not defaults.tags.exists()
    assert sorted(changes) == [(IFN, "content"), (IL2, "content")]


@pytest.mark.django_db
def test_second_run_changes_nothing(tmp_path, data, changes):
    path = write(tmp_path, data)
    run_command(path)
    before = db_state()
    changes.clear()

    with CaptureQueriesContext(connection) as queries:
        output = run_command(path)

    assert "sections: 0 created, 0 updated, 2 unchanged; pages: 0 created, 0 updated, 2 unchanged" in output
    assert db_state() == before  # same rows, same content_changed_at
    assert changes == []
    writes = [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []


def new_resource_list(data):
    """The Interleukin 2 links reordered, one note changed, one link added and Wikipedia left out."""
    nci, cruk, _wikipedia = data["pages"][0]["web_resources"]
    cruk["note"] = "Cancer Research UK"
    data["pages"][0]["web_resources"] = [
        cruk,
        {"title": "MedlinePlus", "url": "https://medlineplus.gov/"},
        nci,
    ]
    return data


@pytest.mark.django_db
def test_new_resource_list_reorders_updates_and_removes_when_the_page_says_replace(data, changes):
    importer.apply(data)
    page = get_page(IL2)
    ids = {r.url: r.pk for r in page.web_resources.all()}
    stamped = page.content_changed_at
    changes.clear()

    new_resource_list(data)["pages"][0]["replace_web_resources"] = True
    summary = importer.apply(data)

    page.refresh_from_db()
    assert [(r.title, r.note, r.position) for r in page.web_resources.all()] == [
        ("CRUK", "Cancer Research UK", 0),
        ("MedlinePlus", "", 1),
        ("NCI", "", 2),
    ]
    nci_url = "https://www.cancer.gov/about-cancer/treatment/drugs/aldesleukin"
    assert page.web_resources.get(url=nci_url).pk == ids[nci_url]  # kept links keep their rows
    assert not WebResource.objects.filter(url="https://en.wikipedia.org/wiki/Interleukin_2").exists()
    assert (summary.pages_updated, summary.pages_unchanged) == (1, 1)
    assert changes == [(IL2, "content")]  # the other page did not change, so it is not announced
    assert page.content_changed_at > stamped


@pytest.mark.django_db
def test_links_not_in_the_file_are_kept_after_the_files_links(data, changes):
    importer.apply(data)
    page = get_page(IL2)
    wikipedia = page.web_resources.get(title="Wikipedia")
    changes.clear()

    summary = importer.apply(new_resource_list(data))

    assert [(r.title, r.note, r.position) for r in page.web_resources.all()] == [
        ("CRUK", "Cancer Research UK", 0),
        ("MedlinePlus", "", 1),
        ("NCI", "", 2),
        ("Wikipedia", "", 3),  # not in the file: kept, same row, after the file's links
    ]
    assert page.web_resources.get(title="Wikipedia").pk == wikipedia.pk
    assert summary.pages_updated == 1 and changes == [(IL2, "content")]
    assert not importer.apply(data).changed  # stable: the kept link stays where it was put


@pytest.mark.django_db
def test_a_link_an_editor_added_survives_an_import_unless_links_are_replaced(tmp_path, data):
    importer.apply(data)
    page = get_page(IL2)
    page.web_resources.create(title="Editor's link", url="https://example.org/il2")
    path = write(tmp_path, data)

    run_command(path)
    assert page.web_resources.filter(url="https://example.org/il2").exists()
    assert page.web_resources.last().title == "Editor's link"  # moved after the file's links

    run_command(path, "--replace-links")
    assert not page.web_resources.filter(url="https://example.org/il2").exists()
    assert page.web_resources.count() == 3


@pytest.mark.django_db
def test_an_empty_list_removes_links_only_when_replacing(data):
    importer.apply(data)
    data["pages"][0]["web_resources"] = []

    assert not importer.apply(data).changed
    assert get_page(IL2).web_resources.count() == 3

    data["pages"][0]["replace_web_resources"] = True
    assert importer.apply(data).pages_updated == 1
    assert not get_page(IL2).web_resources.exists()


@pytest.mark.django_db
def test_tags_and_fields_update_and_omitted_keys_are_kept(data, changes):
    importer.apply(data)
    changes.clear()

    data["pages"][0] = {
        "section": "treatments/biological-therapies",
        "slug": "interleukin-2",
        "title": "IL-2",
    }
    data["pages"][1]["tags"] = ["interferon"]
    summary = importer.apply(data)

    il2, ifn = get_page(IL2), get_page(IFN)
    assert il2.title == "IL-2" and il2.other_name == "Aldesleukin"  # omitted keys keep their values
    assert il2.web_resources.count() == 3 and set(il2.tags.names()) == {"cytokine", "immunotherapy"}
    assert list(ifn.tags.names()) == ["interferon"]
    assert (
        str(summary)
        == "sections: 0 created, 0 updated, 2 unchanged; pages: 0 created, 2 updated, 0 unchanged"
    )
    assert sorted(changes) == [(IFN, "content"), (IL2, "content")]


@pytest.mark.django_db
def test_section_update_is_counted_and_pages_left_alone(data, changes):
    importer.apply(data)
    changes.clear()

    data["sections"][0]["title"] = "Biological therapy"
    summary = importer.apply(data)

    assert Section.objects.get(path="treatments/biological-therapies").title == "Biological therapy"
    assert (summary.sections_updated, summary.sections_unchanged, summary.pages_unchanged) == (1, 1, 2)
    assert changes == []


INVALID = {
    "sections": [
        {"path": "treatments", "title": "Treatments"},
        {"path": "Treatments", "title": "Upper case"},
        {"path": "admin", "title": "Clashes with the admin URL"},
        {"path": "treatments/drugs", "title": "Drugs", "position": -1},
        {"path": "treatments", "title": "Again"},
        {"path": "treatments/drugs/interleukin-2", "title": ""},
    ],
    "pages": [
        {
            "section": "treatments/x",
            "slug": "interleukin-2",
            "title": "Interleukin 2",
            "publications_shown": 500,
            "titel": "typo",
        },
        {"section": "treatments/drugs", "slug": "Interleukin 2", "title": "x" * 201, "published": "yes"},
        {"section": "treatments/x", "slug": "interleukin-2", "title": "Again"},
        {
            "section": "treatments/drugs",
            "slug": "aldesleukin",
            "title": "Aldesleukin",
            "tags": ["ok", 3, ""],
            "web_resources": [
                {"title": "Fine", "url": "https://www.cancer.gov/"},
                {"title": "Bad", "url": "javascript:alert(1)"},
                {"url": "https://www.cancer.gov/", "tilte": "typo"},
            ],
        },
        {"section": "treatments/drugs", "slug": "interleukin-2", "title": "Clashes with a subsection"},
        "not an object",
    ],
    "extra": 1,
}

EXPECTED_ERRORS = [
    "extra: unknown field",
    "pages[5]: must be an object, not a string",
    'sections[1].path: "Treatments" is not a valid slug path',
    'sections[2].path: "admin" is reserved for the site itself',
    "sections[3].position: must be an integer from 0 to {position_max}",  # the database's own limit
    "sections[4]: duplicate section treatments (also sections[0])",
    "sections[5].title: must not be empty",
    "pages[0].titel: unknown field",
    "pages[0].publications_shown: must be an integer from 1 to 200",
    'pages[0].section: no section "treatments/x" in the database or the file',
    'pages[1].slug: "Interleukin 2" is not a valid slug',
    "pages[1].title: Ensure this value has at most 200 characters (it has 201).",
    "pages[1].published: must be true or false, not a string",
    "pages[2]: duplicate page treatments/x/interleukin-2 (also pages[0])",
    "pages[3].tags[1]: must be a string, not a number",
    "pages[3].tags[2]: must not be empty",
    "pages[3].web_resources[1].url: not a valid URL",
    "pages[3].web_resources[2].tilte: unknown field",
    "pages[3].web_resources[2].title: required field missing",
    "pages[3].web_resources[2].url: duplicate of web_resources[0]",
    "pages[4].slug: clashes with the subsection treatments/drugs/interleukin-2 (same URL)",
]


@pytest.mark.django_db
def test_invalid_file_reports_every_error_and_imports_nothing(tmp_path, changes):
    Section.objects.create(slug="existing", title="Existing")
    before = db_state()

    position_max = next(
        v.limit_value for v in Section._meta.get_field("position").validators if v.code == "max_value"
    )
    expected = sorted(error.format(position_max=position_max) for error in EXPECTED_ERRORS)
    assert sorted(importer.validate(INVALID)) == expected

    err = io.StringIO()
    with pytest.raises(CommandError, match=f"{len(EXPECTED_ERRORS)} error"):
        call_command("import_pages", str(write(tmp_path, INVALID)), stdout=io.StringIO(), stderr=err)
    assert sorted(err.getvalue().splitlines()) == expected
    with pytest.raises(importer.InvalidImport):
        importer.apply(INVALID)
    assert db_state() == before
    assert changes == []


@pytest.mark.django_db
def test_page_and_section_urls_clash_with_the_database(data):
    importer.apply(data)
    clash = {
        "sections": [{"path": IL2, "title": "A section where a page is"}],
        "pages": [
            {"section": "treatments", "slug": "biological-therapies", "title": "A page where a section is"}
        ],
    }
    assert importer.validate(clash) == [
        f"sections[0].path: clashes with the existing page {IL2} (same URL)",
        "pages[0].slug: clashes with the subsection treatments/biological-therapies (same URL)",
    ]


@pytest.mark.django_db
def test_missing_parent_is_reported():
    assert importer.validate({"sections": [{"path": "a/b", "title": "B"}]}) == [
        'sections[0].path: parent section "a" is not in the database or the file'
    ]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ([], "top level: must be an object"),
        ({"sections": {}}, "sections: must be a list, not an object"),
        ({"pages": [{"section": 1}]}, "pages[0].section: must be a string, not a number"),
        ({"pages": [{}]}, "pages[0].slug: required field missing"),
    ],
)
@pytest.mark.django_db
def test_wrong_shapes_are_reported(data, error):
    assert any(e.startswith(error) for e in importer.validate(data)), importer.validate(data)


def test_bad_json_reports_line_and_column(tmp_path):
    path = write(tmp_path, '{\n  "sections": [\n    {"path": "treatments",}\n  ]\n}\n')
    with pytest.raises(importer.ImportFileError, match=r"invalid JSON at line 3, column 27"):
        importer.load(path)
    with pytest.raises(CommandError, match=r"line 3, column 27"):
        run_command(path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="file not found"):
        run_command(tmp_path / "nope.json")


@pytest.mark.django_db
def test_check_option_validates_without_writing(tmp_path, data):
    output = run_command(write(tmp_path, data), "--check")
    assert "valid; checked only, nothing was written" in output
    assert f"page {IL2}: created (published, 2 tags, 3 web resources)" in output
    assert "If imported: sections: 2 created, 0 updated, 0 unchanged; pages: 2 created" in output
    assert not Section.objects.exists()
    with pytest.raises(CommandError):
        run_command(write(tmp_path, INVALID, "bad.json"), "--check")


@pytest.mark.django_db
def test_example_file_imports_cleanly_and_is_stable(changes):
    data = importer.load(EXAMPLE)
    assert importer.validate(data) == []

    assert "pages: 3 created" in run_command(EXAMPLE)
    assert (
        get_page(IL2).web_resources.first().url
        == "https://www.cancer.gov/about-cancer/treatment/drugs/aldesleukin"
    )
    changes.clear()
    assert "pages: 0 created, 0 updated, 3 unchanged" in run_command(EXAMPLE)
    assert changes == []
