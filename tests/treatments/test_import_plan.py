"""An import is planned before it is written: --check prints the plan, an import writes that same plan.

And an import joins the page's history: one revision named after the file, which editors can undo.
"""

import copy
import io
import re

import pytest
import reversion
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from reversion.models import Revision, Version

from treatments import importer, revisions, workflow
from treatments.models import PageRevision

from .test_import import DATA, IFN, IL2, db_state, get_page, write

NCI = "https://www.cancer.gov/about-cancer/treatment/drugs/aldesleukin"
EDITOR_LINK = "https://example.org/il2-trials"


@pytest.fixture
def data():
    return copy.deepcopy(DATA)


def run(*args):
    out = io.StringIO()
    call_command("import_pages", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue().splitlines()


def edit_as_an_editor(page):
    """What an editor does between two imports: retitle, reword, tag, add and annotate links."""
    page.title = "IL-2"
    page.description = page.description.replace("A ", "An old ", 1)
    page.save()
    page.tags.add("editor-tag")
    page.web_resources.create(title="Trials", url=EDITOR_LINK, position=9)
    page.web_resources.filter(url=NCI).update(note="NCI drug page")


def written_rows():
    """Everything an import or its revision can write, to prove that a check wrote nothing."""
    return {
        **db_state(),
        "revisions": Revision.objects.count(),
        "versions": Version.objects.count(),
        "page_revisions": PageRevision.objects.count(),
    }


@pytest.mark.django_db
def test_the_plan_says_what_changes_in_each_page(data):
    importer.apply(data)
    edit_as_an_editor(get_page(IL2))

    plan = importer.plan(data)

    il2, ifn = plan.pages
    assert (il2.path, il2.created, il2.changed, ifn.changed) == (IL2, False, True, False)
    assert [c.name for c in il2.changes] == ["title", "description"]
    assert (il2.changes[0].old, il2.changes[0].new) == ("IL-2", "Interleukin 2")
    assert (il2.tags_added, il2.tags_removed) == ([], ["editor-tag"])
    links = il2.resources
    assert [link.values["url"] for link in links.updated] == [NCI]
    assert [(link.values["url"], link.values["position"]) for link in links.kept] == [(EDITOR_LINK, 3)]
    assert (links.added, links.removed, links.reordered) == ([], [], False)
    assert str(plan.summary()) == (
        "sections: 0 created, 0 updated, 2 unchanged; pages: 0 created, 1 updated, 1 unchanged"
    )

    replacing = importer.plan(data, replace_links=True).pages[0].resources
    assert ([r.url for r in replacing.removed], replacing.kept) == ([EDITOR_LINK], [])


@pytest.mark.django_db
def test_check_names_each_page_it_would_change_and_what_would_change(tmp_path, data):
    importer.apply(data)
    edit_as_an_editor(get_page(IL2))
    data["pages"][0]["web_resources"].insert(0, {"title": "MedlinePlus", "url": "https://medlineplus.gov/"})
    data["pages"][0]["tags"].append("interleukin-2")
    data["sections"][0]["title"] = "Biological therapy"

    lines = run(write(tmp_path, data), "--check")

    assert lines == [
        "Web resources not in the file: kept, after the file's links (to remove them, pass --replace-links "
        'or set "replace_web_resources": true on the page).',
        "section treatments/biological-therapies: updated",
        '  title: "Biological Therapies" -> "Biological therapy"',
        f"page {IL2}: updated",
        '  title: "IL-2" -> "Interleukin 2"',
        "  description: changed (80 characters -> 75):",
        '    - <p>An old <a href="https://www.cancer.gov/">cytokine</a>.</p>',
        '    + <p>A <a href="https://www.cancer.gov/">cytokine</a>.</p>',
        "  tags added: interleukin-2",
        "  tags removed: editor-tag",
        "  web resources added:",
        '    + "MedlinePlus" <https://medlineplus.gov/>',
        "  web resources updated:",
        f'    ~ "NCI" <{NCI}>: note "NCI drug page" -> ""',
        "  web resources kept (not in the file; placed after the file's links):",
        f'    = "Trials" <{EDITOR_LINK}>',
        "If imported: sections: 0 created, 1 updated, 1 unchanged; pages: 0 created, 1 updated, 1 unchanged",
        f"{tmp_path / 'pages.json'}: valid; checked only, nothing was written.",
    ]
    assert not any(IFN in line for line in lines)  # unchanged: counted, not listed


@pytest.mark.django_db
def test_check_shows_the_links_a_replacing_import_would_remove(tmp_path, data):
    importer.apply(data)
    get_page(IL2).web_resources.create(title="Trials", url=EDITOR_LINK)
    data["pages"][0]["replace_web_resources"] = True

    lines = run(write(tmp_path, data), "--check")

    assert lines[0].endswith(f'except on the pages that set "replace_web_resources": true: {IL2}.')
    assert lines[lines.index(f"page {IL2}: updated") :][1:3] == [
        "  web resources removed (not in the file, which replaces the list):",
        f'    - "Trials" <{EDITOR_LINK}>',
    ]
    assert run(write(tmp_path, data), "--check", "--replace-links")[0] == (
        "Web resources not in the file: removed, on every page that lists web_resources (--replace-links)."
    )


@pytest.mark.django_db
def test_a_long_description_change_is_summarised_not_dumped(tmp_path, data):
    importer.apply(data)
    data["pages"][0]["description"] = "".join(f"<p>Sentence {i}. Another {i}.</p>" for i in range(10))

    lines = run(write(tmp_path, data), "--check")

    described = [line for line in lines if line.startswith("  description:")]
    assert re.fullmatch(r"  description: changed \(\d+ characters -> 290\)", described[0]), described
    assert lines[lines.index(described[0]) + 1].startswith("If imported")  # no diff lines after it


@pytest.mark.django_db
def test_check_writes_nothing_and_records_no_revision(tmp_path, data):
    importer.apply(data)
    edit_as_an_editor(get_page(IL2))
    data["pages"].append({"section": "treatments", "slug": "new-page", "title": "New"})
    data["sections"].append({"path": "treatments/new", "title": "New section"})
    before = written_rows()

    with CaptureQueriesContext(connection) as queries:
        run(write(tmp_path, data), "--check", "--replace-links")

    assert written_rows() == before
    assert not [
        q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]


@pytest.mark.django_db
def test_an_import_writes_the_plan_its_check_printed(tmp_path, data):
    importer.apply(data)
    edit_as_an_editor(get_page(IL2))
    path = write(tmp_path, data)

    checked, imported = run(path, "--check"), run(path)

    assert imported[:-1] == checked[:-2]  # the same report; only the closing lines differ
    assert imported[-1] == checked[-2].removeprefix("If imported: ")
    assert not importer.plan(data).changed  # what was planned is now what is stored
    assert run(path)[-1].endswith("pages: 0 created, 0 updated, 2 unchanged")


@pytest.mark.django_db
def test_an_import_is_one_revision_named_after_the_file(tmp_path, data):
    importer.apply(data)
    edit_as_an_editor(get_page(IL2))
    data["pages"][1]["title"] = "Interferon alfa-2b"
    revisions_before = Revision.objects.count()

    run(write(tmp_path, data, "monthly-update.json"))

    assert Revision.objects.count() == revisions_before + 1
    revision = Revision.objects.latest("pk")
    assert re.fullmatch(
        r"Imported from monthly-update\.json at \d{4}-\d{2}-\d{2} \d{2}:\d{2}", revision.comment
    )
    assert revision.user is None
    for path in (IL2, IFN):
        newest = Version.objects.get_for_object(get_page(path)).first()
        assert newest.revision == revision
    assert revisions.history(get_page(IL2).pk).first().revision == revision  # the editor's history view

    run(write(tmp_path, data, "monthly-update.json"))  # nothing changes: no empty revision either
    assert Revision.objects.count() == revisions_before + 1


@pytest.mark.django_db
def test_restoring_the_version_before_an_import_brings_the_old_description_back(tmp_path, data):
    importer.apply(data)
    page = get_page(IL2)
    editors_text = "<p>The editor's own words.</p>"
    page.description = editors_text
    page.save()

    run(write(tmp_path, data))  # the file's description overwrites the editor's
    page.refresh_from_db()
    assert page.description != editors_text
    newest, previous = Version.objects.get_for_object(page)[:2]
    assert "Imported from pages.json" in newest.revision.comment

    with reversion.create_revision():
        previous.revision.revert()
    page.refresh_from_db()
    assert page.description == editors_text


@pytest.mark.django_db
def test_an_editor_restores_what_the_import_replaced_from_the_pages_history(tmp_path, data):
    importer.apply(data)
    page = get_page(IL2)
    page.description = "<p>The editor's own words.</p>"
    page.save()
    run(write(tmp_path, data))

    imported, before_import = revisions.history(page.pk)[:2]
    assert imported.revision.comment.startswith("Imported from pages.json")
    assert "Description changed" in imported.changes

    page.refresh_from_db()
    revisions.restore(page, before_import)
    page.refresh_from_db()
    assert workflow.working_content(page)["description"] == "<p>The editor's own words.</p>"
