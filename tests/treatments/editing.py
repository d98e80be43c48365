"""What an editor does in the page admin, as the tests say it: the change form's data, a live page."""

from django.test import Client

from tests.factories import TreatmentPageFactory, WebResourceFactory
from treatments import workflow
from treatments.models import TreatmentPage


def change_url(page, view="change"):
    return f"/admin/treatments/treatmentpage/{page.pk}/{view}/"


def form_data(page, button="_save_draft", **changes):
    """The change form as the editor submits it, from what the form shows (the working copy)."""
    content = workflow.working_content(page)
    data = {
        "section": page.section_id, "slug": page.slug, "pubmed_query": page.pubmed_query,
        "publications_shown": page.publications_shown, "tags": ", ".join(content["tags"]),
        **{name: content[name] for name in workflow.CONTENT_FIELDS},
        "web_resources-TOTAL_FORMS": len(content["web_resources"]), "web_resources-INITIAL_FORMS": 0,
        "listings-TOTAL_FORMS": 0, "listings-INITIAL_FORMS": 0,
        button: "1",
    }  # fmt: skip
    for i, item in enumerate(content["web_resources"]):
        data |= {f"web_resources-{i}-{name}": value for name, value in item.items()}
        data[f"web_resources-{i}-position"] = i
    data.update(changes)
    return data


def live_page(**kwargs):
    page = TreatmentPageFactory(description="<p>The published text.</p>", **kwargs)
    WebResourceFactory(page=page, title="NCI", url="https://www.cancer.gov/il2", position=0)
    page.tags.set(["cytokine"])
    return TreatmentPage.objects.get(pk=page.pk)


def reader_sees(page):
    return Client().get(page.get_absolute_url()).content.decode()
