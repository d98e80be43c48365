"""The citation rules, shape by shape, as the seed page shows them."""

import datetime

import pytest

from publications.citation import author_line, citation_line, pmc_access, pubmed_url, related_url


def people(*names):
    return [{"last_name": n.rsplit(" ", 1)[0], "initials": n.rsplit(" ", 1)[1]} for n in names]


class TestAuthorLine:
    def test_one_author(self):
        assert author_line(people("Sullivan RJ")) == "Sullivan RJ"

    def test_four_authors_in_full(self):
        authors = people("León K", "García-Martínez K", "Carmenate T", "Rojas G")
        assert author_line(authors) == "León K, García-Martínez K, Carmenate T, Rojas G"

    def test_five_or_more_first_three_and_et_al(self):
        authors = people("Nguyen LT", "Saibil SD", "Sotov V", "Le MX", "Khoja L")
        assert author_line(authors) == "Nguyen LT, Saibil SD, Sotov V, et al."

    def test_stored_list_known_to_go_on(self):
        assert author_line(people("Nakase K", "Kita K"), more=True) == "Nakase K, Kita K, et al."

    def test_collective_name_as_given(self):
        authors = [{"collective_name": "Cancer Genome Atlas Research Network"}]
        assert author_line(authors) == "Cancer Genome Atlas Research Network"

    def test_collective_name_among_people(self):
        authors = [*people("Smith J"), {"collective_name": "PROCLAIM Investigators"}]
        assert author_line(authors) == "Smith J, PROCLAIM Investigators"

    def test_non_ascii_names_kept(self):
        assert author_line(people("Pötschger U")) == "Pötschger U"

    def test_no_authors(self):
        assert author_line([]) == ""


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (dict(journal="Cancer Discov", year="2019", volume="9", issue="6", pages="694-695"),
         "Cancer Discov. 2019; 9(6):694-695"),
        (dict(journal="Arq Gastroenterol", year="2018", season="Oct-Dec", volume="55", issue="4",
              pages="385-389"),
         "Arq Gastroenterol. 2018 Oct-Dec; 55(4):385-389"),
        (dict(journal="Arq Gastroenterol", year="2018", medline_date="2018 Oct-Dec", volume="55", issue="4",
              pages="385-389"),
         "Arq Gastroenterol. 2018 Oct-Dec; 55(4):385-389"),
        (dict(journal="Swiss Med Wkly", year="2019", volume="149", pages="w14697"),
         "Swiss Med Wkly. 2019; 149:w14697"),
        (dict(journal="Semin Oncol", year="2018", volume="45", issue="1-2", pages="95-104"),
         "Semin Oncol. 2018; 45(1-2):95-104"),
        (dict(journal="Biomed Res Int", year="2018", volume="2018", pages="9056173"),
         "Biomed Res Int. 2018; 2018:9056173"),
        (dict(journal="Pediatr Blood Cancer", year="2018", volume="65", issue="6", pages="e26967"),
         "Pediatr Blood Cancer. 2018; 65(6):e26967"),
        (dict(journal="Proc Natl Acad Sci U S A", year="2019", volume="116", issue="8", pages="3100-3105"),
         "Proc Natl Acad Sci U S A. 2019; 116(8):3100-3105"),
        # Shapes the seed does not show, but PubMed sends: ahead of print, no pages, a dotted abbreviation.
        (dict(journal="Nat Med", year="2024"), "Nat Med. 2024"),
        (dict(journal="Nat Med", year="2024", volume="30"), "Nat Med. 2024; 30"),
        (dict(journal="J. Immunol.", year="2018", volume="200", issue="10", pages="3475-3484"),
         "J. Immunol. 2018; 200(10):3475-3484"),
    ],
)  # fmt: skip
def test_citation_line(fields, expected):
    assert citation_line(**fields) == expected


class TestLinks:
    def test_pubmed_link_by_pmid(self):
        assert pubmed_url(31171734, "Back to the Future.") == "https://pubmed.ncbi.nlm.nih.gov/31171734/"

    def test_without_pmid_a_search_for_the_exact_title(self):
        url = pubmed_url(None, "Prospects of IL-2 in Cancer Immunotherapy.")
        assert url == (
            "https://pubmed.ncbi.nlm.nih.gov/?term=%22Prospects+of+IL-2+in+Cancer+Immunotherapy.%22%5BTitle%5D"
        )

    def test_related_publications_only_with_a_pmid(self):
        assert (
            related_url(31171734)
            == "https://pubmed.ncbi.nlm.nih.gov/?linkname=pubmed_pubmed&from_uid=31171734"
        )
        assert related_url(None) is None


class TestPmcAccess:
    today = datetime.date(2019, 9, 2)

    def access(self, **kwargs):
        defaults = dict(in_pmc=True, pmcid="PMC6391543", release_date=None, title_text="T", as_of=self.today)
        return pmc_access(**{**defaults, **kwargs})

    def test_not_in_pmc(self):
        assert self.access(in_pmc=False, pmcid="") is None

    def test_free_now(self):
        access = self.access()
        assert access.is_free
        assert access.url == "https://pmc.ncbi.nlm.nih.gov/articles/PMC6391543/"

    def test_free_once_the_release_date_has_passed(self):
        assert self.access(release_date=datetime.date(2019, 9, 2)).is_free

    def test_under_embargo_until_the_release_date(self):
        access = self.access(release_date=datetime.date(2019, 10, 1))
        assert not access.is_free
        assert access.free_after == datetime.date(2019, 10, 1)

    def test_without_pmcid_a_pmc_search_for_the_title(self):
        access = self.access(pmcid="", title_text="Prospects of IL-2 in Cancer Immunotherapy.")
        assert access.url.startswith("https://pmc.ncbi.nlm.nih.gov/search/?term=%22Prospects+of+IL-2")

    def test_a_book_chapter_is_free_on_ncbi_bookshelf(self):
        access = self.access(in_pmc=False, pmcid="", book_accession="NBK1403")
        assert access.is_free
        assert access.url == "https://www.ncbi.nlm.nih.gov/books/NBK1403/"
