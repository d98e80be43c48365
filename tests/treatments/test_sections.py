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
