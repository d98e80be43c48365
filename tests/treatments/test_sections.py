"""The section tree: URLs follow it, and no two things may claim one URL."""

import pytest
from django.core.exceptions import ValidationError

from tests.factories import SectionFactory, TreatmentPageFactory
from treatments.models import Section

pytestmark = pytest.mark.django_db


def test_paths_follow_the_tree_and_move_with_it():
    treatments = Section.objects.create(slug="treatments", title="Treatments")
    biological = Section.objects.create(parent=treatments, slug="biological-therapies", title="Biological")
    deeper = Section.objects.create(parent=biological, slug="cytokines", title="Cytokines")
    assert deeper.get_absolute_url() == "/treatments/biological-therapies/cytokines/"
    biological.slug = "biologicals"
    biological.save()
    deeper.refresh_from_db()
    assert deeper.path == "treatments/biologicals/cytokines"


def test_a_section_cannot_take_a_pages_url():
    page = TreatmentPageFactory(slug="interleukin-2")
    with pytest.raises(ValidationError, match="page in the parent section already uses this slug"):
        Section(parent=page.section, slug="interleukin-2", title="Clash").full_clean()


def test_a_page_cannot_take_a_sections_url():
    parent = SectionFactory()
    Section.objects.create(parent=parent, slug="cytokines", title="Cytokines")
    with pytest.raises(ValidationError, match="subsection of this section already uses this slug"):
        TreatmentPageFactory.build(section=parent, slug="cytokines").full_clean()


def test_a_section_cannot_be_inside_itself():
    top = Section.objects.create(slug="top", title="Top")
    child = Section.objects.create(parent=top, slug="child", title="Child")
    top.parent = child
    with pytest.raises(ValidationError, match="inside itself"):
        top.full_clean()


@pytest.mark.parametrize("slug", ["admin", "about", "feedback", "static"])
def test_top_level_urls_the_site_uses_are_reserved(slug):
    with pytest.raises(ValidationError, match="reserved"):
        Section(slug=slug, title="X").full_clean()


def chain(levels: int, letter: str, parent=None) -> list[Section]:
    """``levels`` nested sections with 99-character slugs."""
    made = []
    for level in range(levels):
        parent = Section.objects.create(
            parent=parent, slug=f"{letter}{level}".ljust(99, letter), title="Deep"
        )
        made.append(parent)
    return made


def test_a_section_path_longer_than_a_path_can_be_is_a_form_error_not_a_server_error(editor_client):
    deep = chain(5, "a")[-1]  # 5 x 99 + 4 separators: 499 characters
    form = {"parent": deep.pk, "slug": "b", "title": "Too deep", "position": 0, "intro": ""}
    response = editor_client.post("/admin/treatments/section/add/", form)
    assert response.status_code == 200
    assert "Its path must be at most 500 characters (it has 501)." in response.content.decode()
    assert not Section.objects.filter(title="Too deep").exists()


def test_moving_a_section_whose_subtree_would_grow_too_long_is_refused():
    top = chain(4, "a")[0]  # the deepest below it is 3 x 100 characters longer than it
    elsewhere = Section.objects.create(slug="x" * 99, title="Long root")
    top.parent = elsewhere  # top's path 199 characters: the deepest 499, fine
    top.full_clean()
    elsewhere_deeper = Section.objects.create(parent=elsewhere, slug="y" * 99, title="Longer")
    top.parent = elsewhere_deeper  # 299: the deepest 599
    with pytest.raises(ValidationError, match="deepest section below it must be at most 500"):
        top.full_clean()
