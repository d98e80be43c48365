"""The dashboard in Chromium: an editor on a phone (390 px wide) reads it without scrolling sideways."""

from datetime import timedelta

import pytest
import reversion
from django.utils import timezone
from playwright.sync_api import Page, expect

from publications.models import RefreshRun
from tests.factories import TreatmentPageFactory
from treatments import workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_phone_shows_what_needs_attention_and_recent_changes_without_sideways_scrolling(
    editor_page: Page,
    editor,
):
    page = TreatmentPageFactory(title="Interleukin 2", other_name="Aldesleukin", pubmed_query="IL-2")
    RefreshRun.objects.create(page=page, status="failed", started_at=timezone.now() - timedelta(hours=1))
    with reversion.create_revision():
        reversion.set_user(editor)
        workflow.save_draft(
            page, {**workflow.working_content(page), "title": "Interleukin 2, a title long " * 3}
        )

    tab = editor_page
    tab.set_viewport_size({"width": 390, "height": 844})
    tab.goto("/admin/")
    expect(tab.get_by_role("heading", name="Needs attention")).to_be_visible()
    expect(
        tab.get_by_role("table", name="The last 2 changes to pages, newest first, by everyone")
    ).to_be_visible()
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390

    tab.get_by_role("link", name="1 page whose last refresh failed").click()
    expect(tab).to_have_url("/admin/treatments/treatmentpage/?last_refresh=failed")
    expect(tab.locator("#result_list tbody tr")).to_have_count(1)
