"""Links never break: a renamed or moved page or section answers 301 at every old URL, in one hop."""

import pytest
from django.test import Client

from tests.factories import TreatmentPageFactory
from treatments.models import PathRedirect, Section

pytestmark = pytest.mark.django_db


def section(path, title=None):
    """The section at ``path``, creating it (and its parents) as the tree requires."""
    parent = None
    for slug in path.split("/"):
        parent, _ = Section.objects.get_or_create(parent=parent, slug=slug, defaults={"title": title or slug})
    return parent


def assert_moved(client, old, new, query=""):
    """``old`` answers 301 straight to ``new`` (query string kept), and ``new`` answers 200."""
    response = client.get(f"/{old}/{query}")
    assert response.status_code == 301, old
    assert response["Location"] == f"/{new}/{query}"
    assert client.get(f"/{new}/").status_code == 200, new


@pytest.fixture
def tree():
    """treatments > biological-therapies > cytokines > interleukins > the Interleukin 2 page."""
    biological = section("treatments/biological-therapies")
    interleukins = section("treatments/biological-therapies/cytokines/interleukins")
    page = TreatmentPageFactory(section=interleukins, slug="interleukin-2")
    return biological, page


def test_a_three_level_move_answers_every_old_url_with_one_301(client, tree):
    biological, _ = tree
    biological.parent, biological.slug = section("therapies/immunotherapy"), "biologicals"
    biological.save()

    old, new = "treatments/biological-therapies", "therapies/immunotherapy/biologicals"
    for below in ["", "/cytokines", "/cytokines/interleukins", "/cytokines/interleukins/interleukin-2"]:
        assert_moved(client, old + below, new + below, query="?utm_source=news&page=2")
    assert PathRedirect.objects.count() == 1  # one row serves the whole subtree
    assert client.get("/treatments/").status_code == 200  # the old parent stays where it was


def test_a_renamed_page_redirects_from_its_old_slug(client, tree):
    _, page = tree
    page.slug = "aldesleukin"
    page.save()
    assert_moved(
        client,
        "treatments/biological-therapies/cytokines/interleukins/interleukin-2",
        "treatments/biological-therapies/cytokines/interleukins/aldesleukin",
    )


def test_a_page_moved_to_another_section_redirects(client, tree):
    _, page = tree
    page.section = section("treatments/immunotherapy")
    page.save()
    assert_moved(
        client,
        "treatments/biological-therapies/cytokines/interleukins/interleukin-2",
        "treatments/immunotherapy/interleukin-2",
        query="?q=1",
    )


def test_a_chain_of_moves_answers_in_one_hop(client, tree):
    biological, page = tree
    for slug in ["biologicals", "biological-agents"]:
        biological.slug = slug
        biological.save()
    page.slug = "aldesleukin"
    page.save()
    for old in ["treatments/biological-therapies", "treatments/biologicals"]:
        assert_moved(client, old, "treatments/biological-agents")
        response = client.get(f"/{old}/cytokines/interleukins/interleukin-2/", follow=True)
        assert response.status_code == 200
        assert response.redirect_chain == [
            ("/treatments/biological-agents/cytokines/interleukins/aldesleukin/", 301)
        ]


def test_moving_back_makes_the_live_node_answer(client, tree):
    biological, _ = tree
    for slug in ["biologicals", "biological-therapies"]:
        biological.slug = slug
        biological.save()
    page_url = "/treatments/biological-therapies/cytokines/interleukins/interleukin-2/"
    assert client.get("/treatments/biological-therapies/").status_code == 200
    assert client.get(page_url).status_code == 200
    assert_moved(client, "treatments/biologicals/cytokines", "treatments/biological-therapies/cytokines")
    assert list(PathRedirect.objects.values_list("old_path", "new_path")) == [
        ("treatments/biologicals", "treatments/biological-therapies")
    ]


def test_a_page_renamed_back_answers_200_and_never_points_to_itself(client, tree):
    _, page = tree
    for slug in ["aldesleukin", "interleukin-2"]:
        page.slug = slug
        page.save()
    assert client.get(page.get_absolute_url()).status_code == 200
    assert not any(row.old_path == row.new_path for row in PathRedirect.objects.all())


def test_a_new_section_at_an_old_path_wins_over_the_redirect(client, tree):
    biological, _ = tree
    biological.slug = "biologicals"
    biological.save()
    section("treatments/biological-therapies", title="Something new")
    response = client.get("/treatments/biological-therapies/")
    assert response.status_code == 200 and "Something new" in response.content.decode()
    # What is not there in the new section still reaches what used to be there.
    assert_moved(client, "treatments/biological-therapies/cytokines", "treatments/biologicals/cytokines")


def test_a_redirect_to_an_unpublished_page_is_a_404_that_never_names_the_drafts_path(client, tree):
    """A 301 to a draft would only lead to a 404, and would tell readers the draft's new slug."""
    _, page = tree
    page.slug, page.published = "aldesleukin", False
    page.save()
    old = "/treatments/biological-therapies/cytokines/interleukins/interleukin-2/"
    response = client.get(old)
    assert response.status_code == 404
    assert "Location" not in response and b"aldesleukin" not in response.content
    page.published = True  # published again: the old URL reaches it
    page.save()
    assert_moved(client, "treatments/biological-therapies/cytokines/interleukins/interleukin-2",
                 "treatments/biological-therapies/cytokines/interleukins/aldesleukin")  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "/treatments/biological-therapies/bad%20slug/",
        "/treatments/biological-therapies/caf%C3%A9/",
        "/treatments//biological-therapies/",
        "/treatments/biological-therapies/" + "x" * 700 + "/",
    ],
)
def test_malformed_paths_under_an_old_path_still_404(client, tree, url):
    biological, _ = tree
    biological.slug = "biologicals"
    biological.save()
    assert client.get(url).status_code == 404


def test_a_path_with_no_redirect_404s(client, tree, django_assert_max_num_queries):
    biological, _ = tree
    biological.slug = "biologicals"
    biological.save()
    for url in [
        "/treatments/never-was/",
        "/elsewhere/biological-therapies/",
        "/treatments/biological-therapies-2/",
    ]:
        with django_assert_max_num_queries(3):  # sections, the page if its section is there, a redirect
            assert client.get(url).status_code == 404


def test_a_redirect_costs_one_query_for_the_old_path_and_one_for_its_target(
    client, tree, django_assert_num_queries
):
    biological, _ = tree
    biological.slug = "biologicals"
    biological.save()
    with django_assert_num_queries(3):  # the sections on the path, then the redirect and its target
        assert client.get("/treatments/biological-therapies/cytokines/").status_code == 301


def test_editors_see_and_delete_redirects_but_do_not_type_them(editor_client, tree):
    biological, _ = tree
    biological.slug = "biologicals"
    biological.save()
    redirect = PathRedirect.objects.get()
    changelist = editor_client.get("/admin/treatments/pathredirect/").content.decode()
    assert "/treatments/biological-therapies/" in changelist and "/treatments/biologicals/" in changelist
    assert editor_client.get("/admin/treatments/pathredirect/add/").status_code == 403
    response = editor_client.post(f"/admin/treatments/pathredirect/{redirect.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not PathRedirect.objects.exists()
    assert Client().get("/treatments/biological-therapies/").status_code == 404
