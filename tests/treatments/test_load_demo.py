import io

import pytest
from django.core.management import call_command

from publications.models import PageListing, Publication
from treatments.models import Section, TreatmentPage, WebResource

pytestmark = pytest.mark.django_db


def snapshot():
    return {
        "sections": list(Section.objects.values()),
        "pages": list(TreatmentPage.objects.values()),
        "links": list(WebResource.objects.values()),
        "publications": list(Publication.objects.values()),
        "listings": list(PageListing.objects.values()),
    }


def test_load_demo_loads_the_interleukin_2_page():
    call_command("load_demo", stdout=io.StringIO())
    page = TreatmentPage.objects.get(section__path="treatments/biological-therapies", slug="interleukin-2")
    assert page.published and page.display_title == "Interleukin 2 (Aldesleukin)"
    assert page.web_resources.count() == 6
    assert PageListing.objects.filter(page=page).count() == 30
    assert not Publication.objects.filter(pmid__isnull=False).exists(), (
        "demo entries never get invented PMIDs"
    )


def test_running_it_twice_changes_nothing():
    call_command("load_demo", stdout=io.StringIO())
    before = snapshot()
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert snapshot() == before
    assert "already has a list" in out.getvalue()


def test_a_list_that_came_from_pubmed_is_left_alone():
    call_command("load_demo", stdout=io.StringIO())
    page = TreatmentPage.objects.get(slug="interleukin-2")
    PageListing.objects.filter(page=page).delete()
    real = Publication.objects.create(pmid=31171734, title="Back to the Future.")
    PageListing.objects.create(page=page, publication=real, position=0)
    call_command("load_demo", stdout=io.StringIO())
    assert list(PageListing.objects.filter(page=page).values_list("publication__pmid", flat=True)) == [
        31171734
    ]


def test_it_never_undoes_an_editors_work():
    call_command("load_demo", stdout=io.StringIO())
    page = TreatmentPage.objects.get(slug="interleukin-2")
    page.description = "<p>Rewritten by an editor.</p>"
    page.save()
    page.web_resources.all().delete()
    first = PageListing.objects.filter(page=page).order_by("position").first()
    first.hidden = True
    first.save()
    PageListing.objects.filter(page=page).exclude(pk=first.pk).order_by("position").first().delete()
    Section.objects.filter(path="treatments").update(title="Cancer treatments")
    before = snapshot()

    call_command("load_demo", stdout=io.StringIO())

    assert snapshot() == before
