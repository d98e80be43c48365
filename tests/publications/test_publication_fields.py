"""The PubMed record is the one list of a publication's fields: the model, admin and refresh follow it."""

import dataclasses
import datetime

import pytest

from publications.admin import READABLE_FIELDS, PublicationAdmin
from publications.models import RECORD_NOT_STORED, RECORD_RENAMES, SITE_ONLY_FIELDS, Publication
from publications.pubmed.records import AbstractSection, Author, PubmedRecord


def record(**values) -> PubmedRecord:
    return PubmedRecord(
        **{
            "pmid": 31000001,
            "title": "CD8<sup>+</sup> T cells",
            "authors": [Author(last_name="Smith", initials="J"), Author(collective_name="IL-2 Group")],
            "journal_iso": "J Immunol",
            "journal_title": "Journal of immunology",
            "pub_year": "2019",
            "pub_month": "Jun",
            "pub_day": "3",
            "volume": "202",
            "issue": "11",
            "pages": "3101-3110",
            "doi": "10.4049/jimmunol.1",
            "pmcid": "PMC6391543",
            "pmc_release_date": datetime.date(2020, 6, 3),
            "abstract": [AbstractSection(text="Background.", label="BACKGROUND", nlm_category="BACKGROUND")],
            "publication_types": ["Journal Article"],
            "dates": {"pubmed": "2019-06-03"},
            "language": "eng",
            "source_xml": "<PubmedArticle/>",
            **values,
        }
    )


def test_every_record_field_is_stored_renamed_or_said_to_be_left_out():
    record_names = {field.name for field in dataclasses.fields(PubmedRecord)}
    assert set(RECORD_RENAMES) | RECORD_NOT_STORED <= record_names
    assert set(Publication.record_fields()) | SITE_ONLY_FIELDS == set(Publication.source_fields())


def test_a_record_becomes_a_publication_with_the_models_names():
    publication = Publication.from_record(record())
    assert publication.journal == "J Immunol"
    assert publication.in_pmc is True
    assert publication.pmc_release_date == datetime.date(2020, 6, 3)
    assert publication.authors == [{"last_name": "Smith", "initials": "J"}, {"collective_name": "IL-2 Group"}]
    assert publication.abstract == [
        {"text": "Background.", "label": "BACKGROUND", "nlm_category": "BACKGROUND"}
    ]
    assert publication.citation_line == "J Immunol. 2019; 202(11):3101-3110"


def test_an_online_only_article_cites_its_publisher_id_as_pages():
    online = record(pages="", pmcid="", elocation_ids=[("doi", "10.1/x"), ("pii", "e12345")])
    publication = Publication.from_record(online)
    assert (publication.pages, publication.in_pmc) == ("e12345", False)


def test_a_refetch_rewrites_everything_pubmed_supplies_and_nothing_editors_set():
    refetched = set(Publication.refetched_fields())
    assert refetched == (set(Publication.source_fields()) - SITE_ONLY_FIELDS - {"pmid"}) | {
        "authors_text",
        "updated_at",
    }


@pytest.mark.django_db
def test_the_admin_shows_every_source_field_read_only(admin_client):
    publication = Publication.from_record(record(retraction_notices=["Notice 1"], is_retracted=True))
    publication.save()
    shown = {name for _, options in PublicationAdmin.fieldsets for name in options["fields"]}
    for name in Publication.source_fields():
        assert READABLE_FIELDS.get(name, name) in shown, name
    assert shown <= set(PublicationAdmin.readonly_fields)
    response = admin_client.get(f"/admin/publications/publication/{publication.pk}/change/")
    assert response.status_code == 200
    for seen in [
        "IL-2 Group",
        "PMC6391543",
        "BACKGROUND",
        "Journal Article",
        "2019-06-03",
        "Notice 1",
        "eng",
    ]:
        assert seen in response.text, seen
    assert "CD8<sup>+</sup> T cells" in response.text
    for json_mark in ['[{"', '{"', "[{&quot;", "{&quot;", "[&quot;"]:
        assert json_mark not in response.text, json_mark
    assert 'name="_save"' not in response.text
