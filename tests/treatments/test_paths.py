"""treatments.paths: the one owner of URL path rules (building, finding, clashes, reserved names, moves)."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import include, path
from django.utils import timezone

from tests.factories import SectionFactory, TreatmentPageFactory
from treatments import paths
from treatments.models import Section, TreatmentPage

# A URLconf for the reserved-names test: the site's own, plus one more top-level view.
urlpatterns = [path("glossary/", include([])), path("", include("cancerindex.urls"))]


def test_building_and_splitting():
    assert paths.section_path(None, "treatments") == "treatments"
    assert paths.section_path("treatments", "biological-therapies") == "treatments/biological-therapies"
    assert paths.page_path("treatments/drugs", "interleukin-2") == "treatments/drugs/interleukin-2"
    assert paths.split("a/b/c") == ("a/b", "c")
    assert paths.split("a") == (None, "a")
    assert paths.ancestors("a/b/c") == ["a", "a/b", "a/b/c"]
    assert paths.is_within("a/b/c", "a/b") and paths.is_within("a/b", "a/b")
    assert not paths.is_within("a/bc", "a/b")


@pytest.mark.parametrize("name", ["admin", "about", "disclaimer", "feedback", "static", "media"])
def test_reserved_names_include_every_top_level_url_the_site_uses(name):
    assert name in paths.reserved_root_slugs()


def test_reserved_names_are_read_from_the_url_configuration(settings):
    assert not paths.is_reserved("glossary")
    settings.ROOT_URLCONF = __name__
    assert paths.is_reserved("glossary")
    assert "admin" in paths.reserved_root_slugs()  # an include at "" is looked into
    assert not paths.is_reserved("treatments") and not paths.is_reserved("glossary/x")


@pytest.mark.django_db
def test_a_new_top_level_url_is_reserved_for_sections(settings):
    settings.ROOT_URLCONF = __name__
    with pytest.raises(ValidationError, match="reserved"):
        Section(slug="glossary", title="Glossary").full_clean()


@pytest.mark.django_db
def test_pages_are_found_by_path_draft_or_not():
    page = TreatmentPageFactory(section=SectionFactory(slug="drugs"), slug="il-2", published=False)
    assert TreatmentPage.objects.get_by_path("drugs/il-2") == page
    assert list(TreatmentPage.objects.at_path("il-2")) == []  # a bare slug is not a path
    assert list(TreatmentPage.objects.named("/il-2/")) == [page]  # but an editor may name it so
    assert Section.objects.get_by_path("drugs") == page.section
    with pytest.raises(TreatmentPage.DoesNotExist):
        TreatmentPage.objects.get_by_path("drugs/other")


@pytest.mark.django_db
def test_find_is_what_a_reader_sees():
    section = SectionFactory(slug="drugs")
    page = TreatmentPageFactory(section=section, slug="il-2")
    TreatmentPageFactory(section=section, slug="draft", published=False)
    assert paths.find("drugs") == section
    assert paths.find("drugs/il-2") == page
    assert paths.find("drugs/draft") is None
    assert paths.find("drugs/../etc") is None


@pytest.mark.django_db
def test_find_reads_the_sections_and_the_page_in_one_query_as_the_orm_would(django_assert_num_queries):
    """The page's row comes back as JSON with its sections (``compiled.row_sets``): every field must be
    what the ORM gives, dates, times and booleans included."""
    top = SectionFactory(slug="treatments", title="Treatments")
    drugs = SectionFactory(parent=top, slug="drugs", title="Drugs")
    page = TreatmentPageFactory(
        section=drugs, slug="il-2", last_reviewed_at=datetime.date(2026, 2, 28),
        list_refreshed_at=timezone.now().replace(microsecond=654321),
    )  # fmt: skip
    TreatmentPageFactory(section=top, slug="drugs", title="A page with a section's name")

    with django_assert_num_queries(1):
        found = paths.find("treatments/drugs/il-2")
        trail = [(section.path, section.title) for section in found.trail]
        assert found.section.pk == drugs.pk

    assert trail == [("treatments", "Treatments"), ("treatments/drugs", "Drugs")]
    stored = TreatmentPage.objects.get(pk=page.pk)
    for field in TreatmentPage._meta.concrete_fields:
        if field.attname != "draft":  # readers never see it: not read
            assert getattr(found, field.attname) == getattr(stored, field.attname), field.attname
    assert paths.find("treatments/drugs") == drugs, "a section wins over a page of the same path"
    assert paths.find("treatments/il-2") is None, "a page answers in its own section only"


@pytest.mark.django_db
def test_taken_paths_are_told_apart_by_kind():
    page = TreatmentPageFactory(section=SectionFactory(slug="drugs"), slug="il-2")
    wanted = ["drugs", page.path, "drugs/none", "nowhere"]
    assert paths.sections_at(wanted) == {"drugs"}
    assert paths.pages_at(wanted) == {page.path}
    assert paths.pages_at([]) == set() and paths.sections_at([]) == set()


@pytest.mark.django_db
def test_a_section_cannot_move_below_its_own_descendant():
    top = Section.objects.create(slug="top", title="Top")
    child = Section.objects.create(parent=top, slug="child", title="Child")
    grandchild = Section.objects.create(parent=child, slug="grandchild", title="Grandchild")
    top.parent = grandchild
    with pytest.raises(ValidationError, match="inside itself"):
        top.full_clean()


def _tree():
    """Root "therapies" > 4 sections > 4 each (20 subsections in all), a page in each leaf."""
    root = Section.objects.create(slug="therapies", title="Therapies")
    leaves = []
    for i in range(4):
        middle = Section.objects.create(parent=root, slug=f"group-{i}", title=f"Group {i}")
        for j in range(4):
            leaf = Section.objects.create(parent=middle, slug=f"kind-{j}", title=f"Kind {j}")
            TreatmentPageFactory(section=leaf, slug=f"page-{i}-{j}")
            leaves.append(leaf)
    return root, leaves


@pytest.mark.django_db
def test_moving_a_subtree_is_one_bulk_update(django_assert_max_num_queries):
    home = Section.objects.create(slug="treatments", title="Treatments")
    root, _leaves = _tree()
    assert Section.objects.filter(path__startswith="therapies/").count() == 20

    with django_assert_max_num_queries(10):
        root.parent = home
        root.slug = "all-therapies"
        root.save()

    for section in Section.objects.select_related("parent"):
        parent_path = section.parent.path if section.parent else None
        assert section.path == paths.section_path(parent_path, section.slug)
    assert Section.objects.filter(path__startswith="treatments/all-therapies/").count() == 20
    page = TreatmentPage.objects.get(slug="page-2-3")
    assert page.get_absolute_url() == "/treatments/all-therapies/group-2/kind-3/page-2-3/"
    assert TreatmentPage.objects.get_by_path("treatments/all-therapies/group-2/kind-3/page-2-3") == page


@pytest.mark.django_db
def test_a_move_leaves_paths_that_only_look_alike():
    """ "drugs" moving must not touch "drugs-old/..." nor "Drugs/..." (SQLite's LIKE ignores case)."""
    drugs = Section.objects.create(slug="drugs", title="Drugs")
    Section.objects.create(parent=drugs, slug="child", title="Child")
    for slug in ("drugs-old", "Drugs"):
        Section.objects.create(parent=Section.objects.create(slug=slug, title=slug), slug="child", title="C")

    drugs.slug = "medicines"
    drugs.save()

    assert sorted(Section.objects.values_list("path", flat=True)) == [
        "Drugs",
        "Drugs/child",
        "drugs-old",
        "drugs-old/child",
        "medicines",
        "medicines/child",
    ]
