"""cancerindex.compiled: a hot query built once, run with each call's values, exactly as the ORM runs it."""

import datetime

import pytest
from django.utils import timezone

from cancerindex import compiled
from tests.factories import SectionFactory, TreatmentPageFactory
from treatments.models import TreatmentPage

pytestmark = pytest.mark.django_db


def _pages_in(limit, *, section_id, slug):
    pages = TreatmentPage.objects.filter(section_id=section_id).exclude(slug=slug).order_by("title")
    return pages.values_list("title", "content_changed_at")[:limit]


def test_each_call_gets_its_own_values_and_the_orms_conversions():
    one, two = SectionFactory(slug="one"), SectionFactory(slug="two")
    when = timezone.now().replace(microsecond=0) - datetime.timedelta(days=3)
    for title in ("Alpha", "Beta", "Gamma"):
        TreatmentPageFactory(section=one, title=title, slug=title.lower(), content_changed_at=when)
    TreatmentPageFactory(section=two, title="Delta", slug="delta")

    rows = compiled.rows(_pages_in, 5, model=TreatmentPage, section_id=one.pk, slug="beta")
    assert [title for title, _ in rows] == ["Alpha", "Gamma"]
    assert rows[0][1] == when  # a datetime, as the ORM gives it, on SQLite's text as on PostgreSQL's
    assert compiled.rows(_pages_in, 5, model=TreatmentPage, section_id=two.pk, slug="x")[0][0] == "Delta"
    assert compiled.rows(_pages_in, 1, model=TreatmentPage, section_id=one.pk, slug="gamma") == [
        ("Alpha", when)
    ]  # another shape (LIMIT 1): its own statement
    expected = list(_pages_in(5, section_id=one.pk, slug="alpha"))
    assert compiled.rows(_pages_in, 5, model=TreatmentPage, section_id=one.pk, slug="alpha") == expected


def _rewritten(*, prefix):
    return TreatmentPage.objects.filter(title__startswith=prefix).values_list("title")


def test_a_value_the_orm_rewrites_cannot_be_swapped_in_and_says_so():
    with pytest.raises(ValueError, match="prefix"):
        compiled.rows(_rewritten, model=TreatmentPage, prefix="Al")


def test_only_plain_values_can_be_swapped_in():
    with pytest.raises(TypeError, match="section_id"):
        compiled.rows(_pages_in, 5, model=TreatmentPage, section_id=1.5, slug="x")


def _tagged_alike(*, page_id):
    """A constant list parameter (unhashable) beside a swapped-in value."""
    pages = TreatmentPage.objects.filter(pk=page_id, other_name__in=["", "Aldesleukin"])
    return pages.extra(where=["%s IS NOT NULL"], params=[bytearray(b"unhashable")]).values_list("title")


def test_constant_parameters_of_any_kind_are_kept_as_compiled():
    page = TreatmentPageFactory(title="Interleukin 2", other_name="Aldesleukin")
    assert compiled.rows(_tagged_alike, model=TreatmentPage, page_id=page.pk) == [("Interleukin 2",)]


# --- Several statements in one round trip (``row_sets``) -------------------------------------------


def _titles_in(limit, *, section_id, slug):
    pages = TreatmentPage.objects.filter(section_id=section_id).exclude(slug=slug).order_by("-title", "pk")
    return pages.values_list("pk", "title", "slug")[:limit]


def _counted(*, section_id, slug):
    from django.db.models import Count

    pages = TreatmentPage.objects.filter(section_id=section_id).exclude(slug=slug).values("section_id")
    return pages.annotate(n=Count("pk")).order_by().values_list("section_id", "n")


def test_several_statements_come_back_in_one_query_each_in_its_own_order(django_assert_num_queries):
    one, two = SectionFactory(slug="one"), SectionFactory(slug="two")
    for title in ("Alpha", "Gamma", "Beta", "Delta"):
        TreatmentPageFactory(section=one, title=title, slug=title.lower())
    values = {"section_id": one.pk, "slug": "beta"}
    statements = ((_titles_in, 2), (_titles_in, 10), (_counted,))

    with django_assert_num_queries(1):
        newest_two, every, counts = compiled.row_sets(*statements, model=TreatmentPage, **values)

    assert [title for _, title, _ in newest_two] == ["Gamma", "Delta"]
    assert every == [tuple(row) for row in _titles_in(10, **values)]
    assert [title for _, title, _ in every] == ["Gamma", "Delta", "Alpha"]  # by title, descending
    assert counts == [(one.pk, 3)] and isinstance(counts[0][1], int)
    nothing = compiled.row_sets(*statements, model=TreatmentPage, section_id=two.pk, slug="beta")
    assert nothing == [[], [], []]


def _all_titles(*, section_id, slug):
    pages = TreatmentPage.objects.filter(section_id=section_id).exclude(slug=slug).order_by("-title", "pk")
    return pages.values_list("title")


def test_a_statement_without_a_limit_keeps_its_order_too():
    """No LIMIT to force the sort inside the subquery: rows written in the opposite order still come
    back in the statement's."""
    section = SectionFactory(slug="one")
    titles = [f"Page {number:03}" for number in range(60)]
    for title in titles:  # ascending, the opposite of the statement's order
        TreatmentPageFactory(section=section, title=title, slug=title.lower().replace(" ", "-"))
    (rows,) = compiled.row_sets((_all_titles,), model=TreatmentPage, section_id=section.pk, slug="none")
    assert rows == [(title,) for title in reversed(titles)]
    assert rows == compiled.rows(_all_titles, model=TreatmentPage, section_id=section.pk, slug="none")


def _typed(*, section_id, slug):
    pages = TreatmentPage.objects.filter(section_id=section_id).exclude(slug=slug).order_by("title")
    return pages.values_list(
        "section_id", "title", "published", "content_changed_at", "last_reviewed_at", "publish_at"
    )


def test_dates_times_booleans_and_keys_come_back_as_the_orm_gives_them():
    section = SectionFactory(slug="one")
    when = timezone.now().replace(microsecond=123456) - datetime.timedelta(days=3)
    reviewed = datetime.date(2026, 2, 28)
    TreatmentPageFactory(
        section=section, title="Alpha", slug="alpha", published=True, content_changed_at=when,
        last_reviewed_at=reviewed,
    )  # fmt: skip
    TreatmentPageFactory(section=section, title="Beta", slug="beta", published=False, last_reviewed_at=None)
    values = {"section_id": section.pk, "slug": "none"}

    (rows,) = compiled.row_sets((_typed,), model=TreatmentPage, **values)

    assert rows == list(_typed(**values)), "every value equal to the ORM's, None included"
    alpha, beta = rows
    assert alpha[2] is True and beta[2] is False
    assert alpha[3] == when and alpha[3].utcoffset() == datetime.timedelta(0)  # aware, to the microsecond
    assert alpha[4] == reviewed and beta[4] is None and alpha[5] is None


def _drafts(*, section_id, slug):
    return TreatmentPage.objects.filter(section_id=section_id).exclude(slug=slug).values_list("pk", "draft")


def test_columns_json_would_change_are_refused_when_compiled():
    with pytest.raises(TypeError, match="draft"):
        compiled.row_sets((_drafts,), model=TreatmentPage, section_id=1, slug="x")


def _section_titles(*, section_id, **_others):
    return TreatmentPage.objects.filter(section_id=section_id).order_by("title").values_list("title")


def _with_slug(*, slug, **_others):
    return TreatmentPage.objects.filter(slug=slug).values_list("title")


def test_in_one_round_trip_each_value_need_reach_only_one_statement_but_one_it_must():
    section = SectionFactory(slug="one")
    TreatmentPageFactory(section=section, title="Alpha", slug="alpha")
    titles, found = compiled.row_sets(
        (_section_titles,), (_with_slug,), model=TreatmentPage, section_id=section.pk, slug="alpha"
    )
    assert titles == [("Alpha",)] and found == [("Alpha",)]
    with pytest.raises(ValueError, match="slug"):
        compiled.row_sets((_section_titles,), model=TreatmentPage, section_id=section.pk, slug="alpha")
    with pytest.raises(ValueError, match="prefix"):  # rewritten by the ORM: never silently a constant
        compiled.row_sets((_section_titles,), (_prefixed,), model=TreatmentPage, section_id=1, prefix="Al")


def _prefixed(*, prefix, **_others):
    return _rewritten(prefix=prefix)
