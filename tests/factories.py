"""Test data builders: tests say what matters about the data and nothing else."""

import factory
from factory.django import DjangoModelFactory

from publications.models import PageListing, Publication
from treatments.models import Section, TreatmentPage, WebResource


class SectionFactory(DjangoModelFactory):
    class Meta:
        model = Section
        django_get_or_create = ["path"]

    title = factory.Sequence(lambda n: f"Section {n}")
    slug = factory.Sequence(lambda n: f"section-{n}")
    path = factory.LazyAttribute(lambda o: f"{o.parent.path}/{o.slug}" if o.parent else o.slug)
    parent = None


class TreatmentPageFactory(DjangoModelFactory):
    class Meta:
        model = TreatmentPage

    section = factory.SubFactory(SectionFactory)
    title = factory.Sequence(lambda n: f"Treatment {n}")
    slug = factory.Sequence(lambda n: f"treatment-{n}")
    description = "<p>About this treatment.</p>"
    published = True


class WebResourceFactory(DjangoModelFactory):
    class Meta:
        model = WebResource

    page = factory.SubFactory(TreatmentPageFactory)
    title = factory.Sequence(lambda n: f"Resource {n}")
    url = factory.Sequence(lambda n: f"https://example.org/resource/{n}")
    position = factory.Sequence(int)


class PublicationFactory(DjangoModelFactory):
    class Meta:
        model = Publication

    pmid = factory.Sequence(lambda n: 30000000 + n)
    title = factory.Sequence(lambda n: f"A study of treatment {n}.")
    authors = factory.LazyFunction(lambda: [{"last_name": "Smith", "initials": "J"}])
    journal = "Cancer Res"
    pub_year = "2019"
    volume = "79"
    issue = "1"
    pages = "1-10"


class PageListingFactory(DjangoModelFactory):
    class Meta:
        model = PageListing

    page = factory.SubFactory(TreatmentPageFactory)
    publication = factory.SubFactory(PublicationFactory)
    position = factory.Sequence(int)


class FeedbackFactory(DjangoModelFactory):
    class Meta:
        model = "treatments.Feedback"

    page = factory.SubFactory(TreatmentPageFactory)
    visitor = factory.Sequence(lambda n: f"visitor-{n}")
    useful = True
