"""Curating a page's list (``publications.curation``): pins in order, hidden entries, PMIDs excluded for
good, publications added by hand; what refreshes must respect; every step in the page's history.

PubMed is the fake E-utilities server (``ncbi``), reached through the site's own client.
"""

import importlib

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from publications import curation, refresh
from publications.models import Exclusion, PageListing, Publication
from publications.refresh import refresh_page
from tests.factories import PageListingFactory, PublicationFactory, TreatmentPageFactory
from treatments import workflow
from treatments.changes import page_changed
from treatments.models import PageRevision

pytestmark = pytest.mark.django_db

# Fixture articles the fake server knows: title markup, a DOI, free on PMC.
TERT = 27797938  # "Leucocyte telomere length, genetic variants at the <i>TERT</i> ..."
TERT_DOI = "10.1136/gutjnl-2016-312510"
TDXD = 32306807  # "Pharmacokinetics of trastuzumab deruxtecan (T-DXd) ..."
FATTY = 35649368
DELETED = 39999999
DELETE_CITATION = f'<DeleteCitation><PMID Version="1">{DELETED}</PMID></DeleteCitation>'


@pytest.fixture
def page():
    return TreatmentPageFactory(pubmed_query="interleukin-2", publications_shown=10)


def listed(page, count):
    return [PageListingFactory(page=page, position=n) for n in range(count)]


def reading_order(page):
    """The publications readers see, top to bottom."""
    return [listing.publication_id for listing in PageListing.objects.for_page(page)]


def history(page):
    """Every line of the page's history, newest revision first, with who made it."""
    return [
        (revision.revision.user and revision.revision.user.username, line)
        for revision in PageRevision.objects.filter(page_pk=page.pk).select_related("revision__user")
        for line in revision.changes
    ]


# --- Pins: an order of their own, kept by refreshes ----------------------------------------------------


def test_pins_come_first_in_the_order_they_were_pinned_and_move_up_and_down(page, editor):
    first, second, third, fourth = listed(page, 4)
    curation.pin(page, [fourth], user=editor)
    curation.pin(page, [second], user=editor)
    assert reading_order(page) == [fourth.publication_id, second.publication_id, first.publication_id,
                                   third.publication_id]  # fmt: skip

    outcome = curation.move_pin(page, second, "up", user=editor)
    assert outcome.done == [f"Pins reordered: {second.publication.title_text} (PMID "
                            f"{second.publication.pmid}) moved up to position 1"]  # fmt: skip
    assert reading_order(page)[:2] == [second.publication_id, fourth.publication_id]

    curation.move_pin(page, second, "down", user=editor)
    assert reading_order(page)[:2] == [fourth.publication_id, second.publication_id]


def test_a_pin_cannot_move_past_either_end_and_only_pins_move(page, editor):
    first, second, loose = listed(page, 3)
    curation.pin(page, [first, second], user=editor)
    assert curation.move_pin(page, first, "up", user=editor).refused == [
        f"{first.publication.title_text} (PMID {first.publication.pmid}) is already the first pin."
    ]
    assert (
        curation.move_pin(page, second, "down", user=editor).refused[0].endswith("is already the last pin.")
    )
    with pytest.raises(curation.CurationError, match="not pinned"):
        curation.move_pin(page, loose, "up", user=editor)
    with pytest.raises(curation.CurationError, match="up or down"):
        curation.move_pin(page, first, "sideways", user=editor)
    assert [row.pin_position for row in PageListing.objects.pins(page)] == [1, 2]


def test_unpinning_closes_up_the_other_pins(page, editor):
    first, second, third = listed(page, 3)
    curation.pin(page, [first, second, third], user=editor)
    assert curation.unpin(page, [first], user=editor).done == [
        f"Unpinned: {first.publication.title_text} (PMID {first.publication.pmid})"
    ]
    assert [(row.pk, row.pin_position) for row in PageListing.objects.pins(page)] == [
        (second.pk, 1),
        (third.pk, 2),
    ]
    assert PageListing.objects.get(pk=first.pk).pin_position is None
    assert curation.unpin(page, [first], user=editor).done == []  # nothing to do, nothing recorded


def test_a_refresh_keeps_the_pins_and_their_order(page, editor, ncbi):
    old, other = listed(page, 2)
    stored = Publication.objects.filter(pmid__in=[TERT, TDXD])
    assert not stored.exists()
    curation.pin(page, [other], user=editor)
    curation.pin(page, [old], user=editor)
    ncbi.set_search(page.pubmed_query, [TERT, TDXD])
    run = refresh_page(page)
    assert run.status == "ok", run.error
    order = reading_order(page)
    assert order[:2] == [other.publication_id, old.publication_id]
    assert {Publication.objects.get(pk=pk).pmid for pk in order[2:]} == {TERT, TDXD}


def test_the_page_form_pins_after_the_others_and_an_unpinned_row_has_no_pin_place(page):
    first, second = listed(page, 2)
    first.pinned = True
    first.save()
    second.pinned = True
    second.save(update_fields=["pinned"])
    assert (
        PageListing.objects.get(pk=first.pk).pin_position,
        PageListing.objects.get(pk=second.pk).pin_position,
    ) == (1, 2)
    first.pinned = False
    first.save(update_fields=["pinned"])
    assert PageListing.objects.get(pk=first.pk).pin_position is None


# --- Pinned or hidden, never both -----------------------------------------------------------------------


def test_the_database_refuses_an_entry_both_pinned_and_hidden(page):
    (listing,) = listed(page, 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        PageListing.objects.filter(pk=listing.pk).update(pinned=True, hidden=True)


def test_validation_refuses_an_entry_both_pinned_and_hidden(page):
    (listing,) = listed(page, 1)
    listing.pinned = listing.hidden = True
    with pytest.raises(ValidationError, match="pinned or hidden, not both"):
        listing.full_clean()
    listing.full_clean(exclude=["hidden"])  # a form without the field says nothing about it


def test_a_hidden_entry_is_not_pinned_and_a_pinned_one_not_hidden(page, editor):
    pinned, hidden = listed(page, 2)
    curation.pin(page, [pinned], user=editor)
    curation.hide(page, [hidden], user=editor)
    assert (
        curation.pin(page, [hidden], user=editor).refused[0].endswith("is hidden: show it before pinning it.")
    )
    assert (
        curation.hide(page, [pinned], user=editor)
        .refused[0]
        .endswith("is pinned: unpin it before hiding it.")
    )
    assert (
        curation.pin(page, [pinned], user=editor).done
        == curation.hide(page, [hidden], user=editor).done
        == []
    )
    pinned.refresh_from_db()
    hidden.refresh_from_db()
    assert (pinned.pinned, pinned.hidden, hidden.pinned, hidden.hidden) == (True, False, False, True)


def test_hidden_entries_are_not_shown_until_shown_again(page, editor):
    first, second = listed(page, 2)
    curation.hide(page, [first], user=editor)
    assert reading_order(page) == [second.publication_id]
    assert curation.show(page, [first], user=editor).done == [
        f"Shown again: {first.publication.title_text} (PMID {first.publication.pmid})"
    ]
    assert reading_order(page) == [first.publication_id, second.publication_id]
    assert curation.show(page, [first], user=editor).done == []


def test_a_step_acts_on_this_pages_entries_only(page, editor):
    other = PageListingFactory()
    assert curation.pin(page, [other], user=editor).done == []
    assert not PageListing.objects.get(pk=other.pk).pinned


# --- Exclusions: off the page for good, until removed ---------------------------------------------------


def test_excluding_takes_the_entry_off_at_once_and_no_refresh_brings_it_back(page, editor, ncbi):
    ncbi.set_search(page.pubmed_query, [TERT, TDXD])
    assert refresh_page(page).status == "ok"
    tert = PageListing.objects.get(page=page, publication__pmid=TERT)
    curation.pin(page, [tert], user=editor)

    outcome = curation.exclude(page, str(TERT), "  Off   topic: about the gut ", user=editor)
    title = tert.publication.title_text[:80]
    assert outcome.done == [f"Excluded: PMID {TERT}: Off topic: about the gut (taken off the list: {title})"]
    assert not PageListing.objects.filter(page=page, publication__pmid=TERT).exists()
    exclusion = Exclusion.objects.get(page=page)
    assert (exclusion.pmid, exclusion.reason, exclusion.created_by) == (
        TERT,
        "Off topic: about the gut",
        editor,
    )

    for _ in range(2):
        assert refresh_page(page).status == "ok"
        assert list(PageListing.objects.filter(page=page).values_list("publication__pmid", flat=True)) == [
            TDXD
        ]


def test_removing_an_exclusion_lets_the_next_refresh_list_it_again(page, editor, ncbi):
    ncbi.set_search(page.pubmed_query, [TERT, TDXD])
    curation.exclude(page, TERT, "off topic", user=editor)
    refresh_page(page)
    exclusion = Exclusion.objects.get(page=page)
    assert curation.unexclude(page, exclusion.pk, user=editor).done == [
        f"Exclusion removed: PMID {TERT} (the next refresh may list it again)"
    ]
    assert not Exclusion.objects.exists()
    refresh_page(page)
    assert set(PageListing.objects.filter(page=page).values_list("publication__pmid", flat=True)) == {
        TERT,
        TDXD,
    }
    with pytest.raises(curation.CurationError, match="removed already"):
        curation.unexclude(page, exclusion.pk, user=editor)


def test_an_exclusion_is_of_one_page_only(page, editor):
    other = TreatmentPageFactory()
    listing = PageListingFactory(page=other)
    curation.exclude(page, listing.publication.pmid, "not for this page", user=editor)
    assert PageListing.objects.filter(pk=listing.pk).exists()
    PageListing.objects.replace_for_page(other, [listing.publication_id])
    assert PageListing.objects.filter(pk=listing.pk).exists()


@pytest.mark.parametrize(
    ("pmid", "reason", "message"),
    [
        ("12ab", "off topic", "is not a PMID"),
        ("0", "off topic", "is not a PMID"),
        (str(2**63), "off topic", "is not a PMID"),
        ("123", "   ", "Say why"),
        ("123", "x" * 501, "under 500 characters"),
    ],
)
def test_an_exclusion_needs_a_pmid_and_a_reason(page, editor, pmid, reason, message):
    with pytest.raises(curation.CurationError, match=message):
        curation.exclude(page, pmid, reason, user=editor)
    assert not Exclusion.objects.exists()


def test_a_pmid_is_excluded_once(page, editor):
    curation.exclude(page, 123, "off topic", user=editor)
    with pytest.raises(curation.CurationError, match="already excluded"):
        curation.exclude(page, 123, "again", user=editor)
    assert Exclusion.objects.get().reason == "off topic"


def test_excluding_a_pinned_entry_closes_up_the_pins(page, editor):
    first, second = listed(page, 2)
    curation.pin(page, [first, second], user=editor)
    curation.exclude(page, first.publication.pmid, "duplicate", user=editor)
    assert [(row.pk, row.pin_position) for row in PageListing.objects.pins(page)] == [(second.pk, 1)]


# --- What a refresh keeps -------------------------------------------------------------------------------


def test_a_refresh_keeps_hand_added_pinned_and_hidden_entries_and_drops_the_rest(page):
    by_hand, pinned, hidden, dropped, kept = listed(page, 5)
    PageListing.objects.filter(pk=by_hand.pk).update(added_by_hand=True)
    PageListing.objects.filter(pk=pinned.pk).update(pinned=True, pin_position=1)
    PageListing.objects.filter(pk=hidden.pk).update(hidden=True)
    PageListing.objects.replace_for_page(page, [kept.publication_id])
    assert set(PageListing.objects.filter(page=page).values_list("pk", flat=True)) == {
        by_hand.pk, pinned.pk, hidden.pk, kept.pk
    }  # fmt: skip
    assert not PageListing.objects.filter(pk=dropped.pk).exists()


def test_a_refresh_never_lists_an_excluded_pmid_even_one_that_was_kept(page):
    kept, searched = listed(page, 2)
    PageListing.objects.filter(pk=kept.pk).update(added_by_hand=True)
    Exclusion.objects.create(page=page, pmid=kept.publication.pmid, reason="off topic")
    Exclusion.objects.create(page=page, pmid=searched.publication.pmid, reason="off topic")
    newcomer = PublicationFactory()
    PageListing.objects.replace_for_page(page, [searched.publication_id, newcomer.pk, kept.publication_id])
    assert list(PageListing.objects.filter(page=page).values_list("publication_id", flat=True)) == [
        newcomer.pk
    ]


# --- Adding by PMID or DOI ------------------------------------------------------------------------------


def test_a_lookup_fetches_pmids_given_with_commas_and_spaces_and_stores_nothing(page, ncbi):
    lookup = curation.lookup_for_adding(page, f" {TERT}, {TDXD}  {TERT};{FATTY}")
    assert lookup.errors == []
    assert lookup.pmids == [TERT, TDXD, FATTY]
    assert not Publication.objects.exists()
    entry = lookup.found[0].publication.rendered_entry
    assert "<i>TERT</i>" in entry and 'class="authors"' in entry and "Free Access to Full Article" in entry
    assert [request.endpoint for request in ncbi.requests] == ["efetch"]  # one request for all three


def test_a_doi_is_resolved_through_pubmeds_search(page, ncbi):
    for typed in (TERT_DOI, f"doi:{TERT_DOI}", f"https://doi.org/{TERT_DOI}"):
        lookup = curation.lookup_for_adding(page, typed)
        assert (lookup.pmids, lookup.errors) == ([TERT], [])
        assert lookup.found[0].asked == TERT_DOI
    searches = ncbi.requests_to("esearch")
    assert searches[-1].params["term"] == f"{TERT_DOI}[doi]"


def test_an_unknown_doi_says_so(page, ncbi):
    lookup = curation.lookup_for_adding(page, "10.9999/no-such-article")
    assert lookup.found == []
    assert lookup.errors == ["PubMed has no article with the DOI 10.9999/no-such-article."]


def test_unknown_deleted_and_malformed_ids_each_get_a_clear_sentence(page, ncbi):
    ncbi.add_article(DELETE_CITATION)
    lookup = curation.lookup_for_adding(page, f"{TERT} 99999998 {DELETED} pmid:12 10.12/x")
    assert lookup.pmids == [TERT]
    assert lookup.errors == [
        "“pmid:12” is neither a PMID (a number) nor a DOI (10.xxxx/...).",
        "“10.12/x” is neither a PMID (a number) nor a DOI (10.xxxx/...).",
        "PMID 99999998: PubMed has no article with this PMID.",
        f"PMID {DELETED}: PubMed has deleted this citation.",
    ]


def test_a_lookup_refuses_what_is_listed_or_excluded_here(page, editor, ncbi):
    listing = PageListingFactory(page=page, publication=PublicationFactory(pmid=TDXD))
    curation.exclude(page, TERT, "off topic", user=editor)
    lookup = curation.lookup_for_adding(page, f"{TERT} {TDXD} {FATTY}")
    assert lookup.pmids == [FATTY]
    assert lookup.errors == [
        f"PMID {TERT} is excluded from this page (off topic): remove the exclusion first.",
        f"PMID {TDXD} is on this page's list already.",
    ]
    assert listing.publication.pmid == TDXD


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("", "Give one or more PMIDs or DOIs"),
        (" ".join(str(n) for n in range(1, 22)), "At most 20 at a time"),
        ("0", "is not a PMID"),
    ],
)
def test_a_lookup_of_nothing_or_too_much_asks_pubmed_nothing(page, ncbi, typed, error):
    lookup = curation.lookup_for_adding(page, typed)
    assert lookup.found == [] and error in lookup.errors[0]
    assert ncbi.requests == []


def test_pubmed_down_is_said_in_words(page, ncbi):
    ncbi.inject("500", times=10)
    lookup = curation.lookup_for_adding(page, str(TERT))
    assert lookup.found == []
    assert (
        lookup.errors[0].startswith("PubMed could not be asked just now (")
        and "Try again later" in lookup.errors[0]
    )


def test_a_record_the_database_would_refuse_is_not_offered(page, ncbi):
    ncbi.extra_articles[TERT] = ncbi_article(ncbi, TERT).replace(TERT_DOI, "10.1/" + "x" * 400)
    lookup = curation.lookup_for_adding(page, str(TERT))
    assert lookup.found == [] and "PubMed's record cannot be stored" in lookup.errors[0]


def ncbi_article(ncbi, pmid):
    from tests.fakes.eutils import fixture_articles

    return fixture_articles()[pmid]


def test_added_by_hand_is_stored_as_a_refresh_stores_it_and_kept_by_refreshes(page, editor, ncbi):
    lookup = curation.lookup_for_adding(page, f"{TERT} {TDXD}")
    outcome = curation.add(page, [item.record for item in lookup.found], user=editor)
    assert [line.split(" (PMID")[0] for line in outcome.done] == [
        f"Added by hand: {item.publication.title_text[:80]}" for item in lookup.found
    ]
    added = PageListing.objects.filter(page=page).select_related("publication")
    assert {(row.publication.pmid, row.added_by_hand, row.added_by, row.pinned) for row in added} == {
        (TERT, True, editor, False), (TDXD, True, editor, False)
    }  # fmt: skip

    # Stored exactly as a refresh stores the same record on another page.
    stored = {row.pmid: row for row in Publication.objects.all()}
    snapshot = {
        pmid: {name: getattr(row, name) for name in Publication.source_fields()}
        for pmid, row in stored.items()
    }
    other = TreatmentPageFactory(pubmed_query="tert")
    ncbi.set_search("tert", [TERT, TDXD])
    Publication.objects.update(updated_at="2000-01-01T00:00:00Z")  # due for a fresh look: fetched again
    assert refresh_page(other).status == "ok"
    for pmid, row in Publication.objects.in_bulk(field_name="pmid").items():
        assert {name: getattr(row, name) for name in Publication.source_fields()} == snapshot[pmid]

    ncbi.set_search(page.pubmed_query, [FATTY])
    assert refresh_page(page).status == "ok"
    assert set(PageListing.objects.filter(page=page).values_list("publication__pmid", flat=True)) == {
        TERT,
        TDXD,
        FATTY,
    }


def test_added_and_pinned_goes_after_the_pins(page, editor, ncbi):
    (pinned,) = listed(page, 1)
    curation.pin(page, [pinned], user=editor)
    lookup = curation.lookup_for_adding(page, str(TERT))
    outcome = curation.add(page, [lookup.found[0].record], user=editor, pin_them=True)
    assert outcome.done[0].endswith(f"(PMID {TERT}), pinned at position 2")
    assert [row.publication.pmid for row in PageListing.objects.pins(page)] == [pinned.publication.pmid, TERT]


def test_adding_refuses_what_was_listed_or_excluded_meanwhile(page, editor, ncbi):
    lookup = curation.lookup_for_adding(page, f"{TERT} {TDXD}")
    curation.exclude(page, TERT, "off topic", user=editor)
    PageListingFactory(page=page, publication=PublicationFactory(pmid=TDXD))
    outcome = curation.add(page, [item.record for item in lookup.found], user=editor)
    assert outcome.done == []
    assert outcome.refused == [
        f"PMID {TERT} is excluded from this page.",
        f"PMID {TDXD} is on this page's list already.",
    ]
    assert not PageListing.objects.filter(page=page, publication__pmid=TERT).exists()


# --- Every step is in the page's history, touches no draft, and reaches readers at once -----------------


def test_every_step_is_in_the_pages_history_with_who_did_it(page, editor, ncbi):
    first, second = listed(page, 2)
    curation.pin(page, [first, second], user=editor)
    curation.move_pin(page, second, "up", user=editor)
    curation.unpin(page, [first], user=editor)
    curation.hide(page, [first], user=editor)
    curation.show(page, [first], user=editor)
    curation.exclude(page, 777, "off topic", user=editor)
    curation.unexclude(page, Exclusion.objects.get().pk, user=editor)
    lookup = curation.lookup_for_adding(page, str(TERT))
    curation.add(page, [lookup.found[0].record], user=editor)

    lines = history(page)
    said = [line for user, line in lines if user == "editor"]
    assert [line for user, line in lines if user != "editor"] == ["Created and published"]  # the factory
    first_named = f"{first.publication.title_text} (PMID {first.publication.pmid})"
    second_named = f"{second.publication.title_text} (PMID {second.publication.pmid})"
    for expected in [
        f"Pinned: {first_named}, position 1",
        f"Pinned: {second_named}, position 2",
        f"Pins reordered: {second_named} moved up to position 1",
        f"Unpinned: {first_named}",
        f"Hidden: {first_named}",
        f"Shown again: {first_named}",
        "Excluded: PMID 777: off topic",
        "Exclusion removed: PMID 777 (the next refresh may list it again)",
    ]:
        assert expected in said
    assert any(line.startswith("Added by hand: ") and f"(PMID {TERT})" in line for line in said)
    # The step's own line, never treatments.diff's vaguer one about the same entry as well.
    assert f"Pinned: {first.publication.title_text}" not in said


def test_a_step_touches_no_draft_and_purges_the_readers_copy(page, editor):
    workflow.save_draft(page, {**workflow.working_content(page), "title": "A draft title"})
    page.refresh_from_db()
    draft, changed_at = page.draft, page.content_changed_at
    (listing,) = listed(page, 1)
    purged = []

    def listener(sender, page, reason, **kwargs):
        purged.append((page.pk, reason))

    page_changed.connect(listener)
    try:
        curation.pin(page, [listing], user=editor)
    finally:
        page_changed.disconnect(listener)
    page.refresh_from_db()
    assert page.draft == draft and page.title != "A draft title"
    assert purged == [(page.pk, "content")]
    assert page.content_changed_at > changed_at


def test_a_step_on_a_page_readers_cannot_see_purges_nothing(editor):
    page = TreatmentPageFactory(published=False)
    (listing,) = listed(page, 1)
    purged = []

    def listener(sender, page, reason, **kwargs):
        purged.append(page.pk)

    page_changed.connect(listener)
    try:
        curation.hide(page, [listing], user=editor)
    finally:
        page_changed.disconnect(listener)
    assert purged == []
    assert PageListing.objects.get(pk=listing.pk).hidden


def test_a_refused_step_is_not_recorded(page, editor):
    (listing,) = listed(page, 1)
    curation.hide(page, [listing], user=editor)
    before = PageRevision.objects.filter(page_pk=page.pk).count()
    curation.pin(page, [listing], user=editor)
    with pytest.raises(curation.CurationError):
        curation.exclude(page, "x", "off topic", user=editor)
    assert PageRevision.objects.filter(page_pk=page.pk).count() == before


def test_an_entry_reads_as_its_pmid_and_title():
    listing = PageListingFactory(publication=PublicationFactory(pmid=123, title="A <i>study</i>."))
    assert str(listing) == "PMID 123: A study."
    assert str(PageListingFactory(publication=PublicationFactory(pmid=None, title="Old"))) == "no PMID: Old"
    assert str(Exclusion(pmid=5, reason="off topic")) == "PMID 5: off topic"


def test_a_lookup_uses_the_callers_client_and_keeps_only_what_it_asked_for(page, ncbi):
    ncbi.inject("unasked", endpoint="efetch")  # efetch sends every article it knows
    with refresh.make_client() as client:
        lookup = curation.lookup_for_adding(page, str(TERT), client=client)
    assert (lookup.pmids, lookup.errors) == ([TERT], [])


def test_a_doi_pubmed_finds_twice_is_added_by_pmid_instead(page, ncbi):
    ncbi.set_search(f"{TERT_DOI}[doi]", [TERT, TDXD])
    lookup = curation.lookup_for_adding(page, TERT_DOI)
    assert lookup.found == []
    assert lookup.errors == [f"The DOI {TERT_DOI} matches several PubMed records: add it by PMID instead."]


def test_the_migration_numbers_the_pins_pages_had_in_their_reading_order():
    migration = importlib.import_module("publications.migrations.0007_curation")
    one, two = TreatmentPageFactory(), TreatmentPageFactory()
    rows = [PageListingFactory(page=page, position=position) for page in (one, two) for position in (5, 2, 9)]
    PageListing.objects.filter(pk__in=[row.pk for row in rows if row.position != 9]).update(pinned=True)
    migration.number_pins(django_apps, None)
    numbered = PageListing.objects.order_by("page_id", "position").values_list(
        "page_id", "position", "pin_position"
    )
    assert list(numbered) == [
        (one.pk, 2, 1), (one.pk, 5, 2), (one.pk, 9, None), (two.pk, 2, 1), (two.pk, 5, 2), (two.pk, 9, None)
    ]  # fmt: skip
