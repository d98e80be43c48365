"""'Found this page useful?': a POST from the site's own pages that works without JavaScript, one vote a day.

The form is in a page cached for every reader, so it carries no CSRF token; a foreign Origin (or
Referer) is refused instead, and the thanks comes from the URL, not the session.
"""

import lxml.html
import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import TreatmentPageFactory
from treatments import views
from treatments.models import Feedback

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The vote limits live in the cache, which outlives a test: each test starts with full budgets."""
    cache.clear()
    yield
    cache.clear()


def vote(client, page, answer, data=None, **extra):
    return client.post(f"/feedback/{page.pk}/", {"useful": answer, **(data or {})}, **extra)


def thanks(client, url):
    """The status line beside the vote (not at the top of the page), and the "What was missing?" form."""
    doc = lxml.html.fromstring(client.get(url).content)
    messages = [message.text_content() for message in doc.cssselect("#feedback .message")]
    assert len(doc.cssselect(".message")) == len(messages)
    return messages, doc.cssselect("form.feedback-missing")


def test_a_vote_is_stored_and_the_reader_thanked():
    client, page = Client(), TreatmentPageFactory()
    response = vote(client, page, "yes")
    assert response.status_code == 303
    assert response["Location"] == page.get_absolute_url() + "?voted=yes#feedback"
    assert Feedback.objects.get(page=page).useful is True
    landed = client.get(response["Location"])
    assert "cookie" not in landed.get("Vary", "").lower()  # no session message: cacheable like any page
    assert thanks(client, response["Location"]) == (
        ["Thank you for your feedback. Your answer, Yes, is recorded."],
        [],
    )
    assert thanks(client, page.get_absolute_url()) == ([], [])


def test_a_changed_vote_says_so():
    client, page = Client(), TreatmentPageFactory()
    assert vote(client, page, "no")["Location"].endswith("?voted=no#feedback")
    changed = vote(client, page, "yes")["Location"]
    assert changed == page.get_absolute_url() + "?voted=changed-yes#feedback"
    assert thanks(client, changed) == (
        ["Thank you for your feedback. Your answer is changed from No to Yes: one answer a day counts."],
        [],
    )
    assert vote(client, page, "yes")["Location"].endswith("?voted=yes#feedback")  # the same again: recorded
    back = vote(client, page, "no")["Location"]
    assert back.endswith("?voted=changed-no#feedback")
    messages, missing_form = thanks(client, back)
    assert messages == [
        "Thank you for your feedback. Your answer is changed from Yes to No: one answer a day counts."
    ]
    assert missing_form
    assert Feedback.objects.get(page=page).useful is False


def test_a_no_may_say_what_was_missing_and_only_editors_read_it(editor_client):
    client, page = Client(enforce_csrf_checks=True), TreatmentPageFactory()
    landed = vote(client, page, "no", headers={"origin": "http://testserver"})["Location"]
    messages, (form,) = thanks(client, landed)
    assert messages == ["Thank you for your feedback. Your answer, No, is recorded."]
    assert not form.cssselect("input[type=hidden]")  # nothing per reader: cacheable
    (label,) = form.cssselect("label[for=feedback-missing-text]")
    assert label.text_content().startswith("What was missing?")
    assert int(form.cssselect("textarea")[0].get("maxlength")) == views.MISSING_MAX_LENGTH
    said = "Dosage for children <b>and</b> side effects"
    response = client.post(
        form.action, {"missing": f"  {said}\r\n", "useful": "no"}, headers={"origin": "http://testserver"}
    )
    assert response["Location"] == page.get_absolute_url() + "?voted=noted#feedback"
    assert Feedback.objects.get(page=page).missing == said
    assert Feedback.objects.get(page=page).useful is False
    assert thanks(client, response["Location"]) == (
        ["Thank you for your feedback. Our editors will read what was missing."],
        [],
    )
    for url in [page.get_absolute_url(), landed, response["Location"]]:
        assert "Dosage for children" not in client.get(url).content.decode()
    listing = editor_client.get("/admin/treatments/feedback/?q=children").content.decode()
    assert "Dosage for children &lt;b&gt;and&lt;/b&gt; side effects" in listing


def test_every_reader_gets_the_same_thanks_page():
    page = TreatmentPageFactory()
    first, second = Client(REMOTE_ADDR="203.0.113.30"), Client(REMOTE_ADDR="203.0.113.31")
    url = vote(first, page, "no")["Location"]
    vote(second, page, "no", data={"missing": "more trials"})
    assert first.get(url).content == second.get(url).content
    assert b"csrfmiddlewaretoken" not in first.get(url).content


def test_a_later_no_without_text_keeps_what_was_said_and_a_yes_clears_it():
    client, page = Client(), TreatmentPageFactory()
    client.post(f"/feedback/{page.pk}/", {"useful": "no", "missing": "costs"})
    assert vote(client, page, "no")["Location"].endswith("?voted=no#feedback")
    assert Feedback.objects.get(page=page).missing == "costs"
    vote(client, page, "yes")
    assert Feedback.objects.get(page=page).missing == ""


def test_text_with_a_yes_is_not_kept():
    client, page = Client(), TreatmentPageFactory()
    response = client.post(f"/feedback/{page.pk}/", {"useful": "yes", "missing": "nothing"})
    assert response["Location"].endswith("?voted=yes#feedback")
    assert Feedback.objects.get(page=page).missing == ""


def test_what_was_missing_is_at_most_500_characters():
    client, page = Client(), TreatmentPageFactory()
    too_long = client.post(f"/feedback/{page.pk}/", {"useful": "no", "missing": "x" * 501})
    assert too_long.status_code == 400
    assert "500 characters or fewer" in too_long.content.decode()
    assert not Feedback.objects.exists()
    assert client.post(f"/feedback/{page.pk}/", {"useful": "no", "missing": "x" * 500}).status_code == 303
    assert len(Feedback.objects.get(page=page).missing) == 500


def test_what_was_missing_from_another_site_or_a_flood_is_refused():
    page = TreatmentPageFactory()
    data = {"useful": "no", "missing": "spam"}
    foreign = Client().post(f"/feedback/{page.pk}/", data, headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403
    flood = [Client(REMOTE_ADDR="203.0.113.40").post(f"/feedback/{page.pk}/", data) for _ in range(15)]
    assert [response.status_code for response in flood].count(429) == 5
    assert Feedback.objects.filter(missing="spam").count() == 1


def test_an_unknown_outcome_in_the_url_shows_no_thanks():
    page = TreatmentPageFactory()
    assert thanks(Client(), page.get_absolute_url() + "?voted=<script>") == ([], [])


def test_one_vote_per_visitor_per_page_per_day_the_last_answer_counts():
    client, page = Client(), TreatmentPageFactory()
    vote(client, page, "yes")
    vote(client, page, "no")
    vote(client, page, "no")
    assert Feedback.objects.filter(page=page).count() == 1
    assert Feedback.objects.get(page=page).useful is False


def test_cookie_less_repeats_from_one_browser_count_once():
    page = TreatmentPageFactory()
    for _ in range(3):
        vote(Client(REMOTE_ADDR="203.0.113.9", headers={"user-agent": "Bot/1.0"}), page, "yes")
    assert Feedback.objects.filter(page=page).count() == 1


def test_different_visitors_each_count():
    page = TreatmentPageFactory()
    vote(Client(REMOTE_ADDR="203.0.113.1"), page, "yes")
    vote(Client(REMOTE_ADDR="203.0.113.2"), page, "no")
    assert Feedback.objects.filter(page=page).summary() == {"yes": 1, "no": 1}


def test_votes_are_per_page():
    client = Client()
    first, second = TreatmentPageFactory(), TreatmentPageFactory()
    vote(client, first, "yes")
    vote(client, second, "yes")
    assert Feedback.objects.count() == 2


@pytest.mark.parametrize(
    "header",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"referer": "https://evil.example/x"},
        {"origin": "http://["},  # not a URL at all: refused, not a server error
        {"referer": "http://[::1"},
    ],
)
def test_a_vote_sent_from_another_site_is_refused(header):
    page = TreatmentPageFactory()
    response = vote(Client(enforce_csrf_checks=True), page, "yes", headers=header)
    assert response.status_code == 403
    assert not Feedback.objects.exists()


@pytest.mark.parametrize("header", ["origin", "referer"])
def test_a_vote_from_the_sites_own_page_needs_no_token(header):
    page = TreatmentPageFactory()
    source = "http://testserver" + ("" if header == "origin" else page.get_absolute_url())
    response = vote(Client(enforce_csrf_checks=True), page, "yes", headers={header: source})
    assert response.status_code == 303
    assert Feedback.objects.get(page=page).useful is True


def test_a_trusted_origin_behind_a_proxy_may_vote(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://www.cancerindex.org"]
    page = TreatmentPageFactory()
    response = vote(Client(), page, "no", headers={"origin": "https://www.cancerindex.org"})
    assert response.status_code == 303


def test_the_pages_own_form_works_without_javascript():
    client, page = Client(enforce_csrf_checks=True), TreatmentPageFactory()
    form = lxml.html.fromstring(client.get(page.get_absolute_url()).content).cssselect("form.feedback")[0]
    assert not [field for field in form.inputs if field.type == "hidden"]  # no per-reader token
    response = client.post(form.action, {"useful": "no"}, headers={"origin": "http://testserver"})
    assert response.status_code == 303
    assert Feedback.objects.get(page=page).useful is False


@pytest.mark.parametrize("answer", ["", "maybe", "<script>"])
def test_anything_but_yes_or_no_is_a_clear_error(answer):
    page = TreatmentPageFactory()
    response = vote(Client(), page, answer)
    assert response.status_code == 400
    assert not Feedback.objects.exists()


def test_get_is_not_a_vote():
    page = TreatmentPageFactory()
    assert Client().get(f"/feedback/{page.pk}/").status_code == 405


def test_no_votes_on_drafts_or_missing_pages():
    draft = TreatmentPageFactory(published=False)
    assert vote(Client(), draft, "yes").status_code == 404
    assert Client().post("/feedback/999999/", {"useful": "yes"}).status_code == 404


def test_behind_our_proxy_readers_are_told_apart_by_the_address_it_saw(settings):
    settings.TRUST_X_FORWARDED_FOR = True
    page = TreatmentPageFactory()
    for reader in ["198.51.100.1", "198.51.100.2"]:
        vote(Client(REMOTE_ADDR="127.0.0.1", headers={"x-forwarded-for": f"10.9.9.9, {reader}"}), page, "yes")
    assert Feedback.objects.filter(page=page).count() == 2


def test_a_forged_forwarded_header_is_ignored_without_a_proxy():
    page = TreatmentPageFactory()
    for forged in ["198.51.100.1", "198.51.100.2"]:
        vote(Client(REMOTE_ADDR="203.0.113.5", headers={"x-forwarded-for": forged}), page, "yes")
    assert Feedback.objects.filter(page=page).count() == 1


def test_a_flood_with_changing_user_agents_and_no_cookie_moves_the_totals_by_a_handful():
    page = TreatmentPageFactory()
    for n in range(200):
        vote(Client(REMOTE_ADDR="203.0.113.7", headers={"user-agent": f"Bot/{n}"}), page, "yes")
    assert Feedback.objects.filter(page=page).count() <= 3


def test_a_flood_from_one_network_is_limited_and_told_why(settings):
    settings.TRUST_X_FORWARDED_FOR = True  # behind our proxy: the address it saw, many in one /24
    page = TreatmentPageFactory()
    statuses = []
    for n in range(200):
        reader = Client(REMOTE_ADDR="127.0.0.1", headers={"x-forwarded-for": f"198.51.100.{n % 250 + 1}"})
        statuses.append(vote(reader, page, "yes").status_code)
    assert Feedback.objects.filter(page=page).count() <= 30
    assert statuses.count(429) >= 170
    refused = vote(Client(REMOTE_ADDR="127.0.0.1", headers={"x-forwarded-for": "198.51.100.99"}), page, "no")
    assert refused.status_code == 429
    assert "try again in a few minutes" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    assert "no-store" in refused["Cache-Control"]
    elsewhere = Client(REMOTE_ADDR="127.0.0.1", headers={"x-forwarded-for": "192.0.2.10"})
    assert vote(elsewhere, page, "yes").status_code == 303  # another network still votes


def test_an_ipv6_flood_from_one_64_is_limited():
    page = TreatmentPageFactory()
    for n in range(100):
        vote(Client(REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}"), page, "yes")
    assert Feedback.objects.filter(page=page).count() <= 30


def test_one_address_is_limited_however_many_pages_it_votes_on():
    pages = TreatmentPageFactory.create_batch(15)
    statuses = [vote(Client(REMOTE_ADDR="203.0.113.8"), page, "yes").status_code for page in pages]
    assert statuses.count(303) == 10 and statuses.count(429) == 5


def test_a_normal_reader_can_still_vote_on_several_pages_and_change_their_mind():
    client, pages = Client(REMOTE_ADDR="203.0.113.20"), TreatmentPageFactory.create_batch(3)
    for page in pages:
        assert vote(client, page, "yes").status_code == 303
    assert vote(client, pages[0], "no").status_code == 303
    assert Feedback.objects.filter(useful=True).count() == 2
    assert Feedback.objects.filter(useful=False).count() == 1


def test_votes_go_through_when_the_cache_is_down(monkeypatch):
    from treatments import ratelimit

    def unreachable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(ratelimit.caches["default"], "add", unreachable)
    page = TreatmentPageFactory()
    assert vote(Client(), page, "yes").status_code == 303
