"""What a reader's search finds: published pages, then the publications those pages list.

On PostgreSQL: full-text search in the 'english' configuration (stemmed, stop words dropped), ranked
by ``ts_rank`` (a title counts more than a description or an abstract), with snippets from
``ts_headline``. The documents below are exactly the expressions migration 0001 indexes with GIN, so
matching reads the indexes. Elsewhere (embedded mode, SQLite) a plain fallback: each word a
case-insensitive substring of the same fields, ranked simply (a title match first).

A page's text is spread over its own fields, its tags, its links' titles and its listed
publications. Every term of the query must be found somewhere in all that, not all in one place: so
"aldesleukin melanoma" finds the page named Aldesleukin whose publications are about melanoma. The
page's other name, label and tags are its synonyms, and a term written "IL-2" also matches "IL2" (and
the other way round). A publication must match the whole query itself.

A query is cleaned before anything reads it (control characters and NUL dropped, at most
``MAX_QUERY_LENGTH`` characters, at most ``MAX_TERMS`` terms) and goes to the database only as a
parameter of ``websearch_to_tsquery``, which accepts any text: no input makes a query fail.
"""

import html
import re
import unicodedata
from dataclasses import dataclass

from django.contrib.postgres.search import (
    SearchConfig,
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorField,
)
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    F,
    FloatField,
    Func,
    IntegerField,
    Prefetch,
    Q,
    TextField,
    Value,
    When,
)
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Cast
from django.db.models.lookups import Exact, IContains
from django.utils.html import escape, strip_tags
from django.utils.safestring import mark_safe

from publications.models import PageListing, Publication
from treatments.models import TreatmentPage, WebResource

CONFIG = "english"
MAX_QUERY_LENGTH = 200
MAX_TERMS = 8
# Where ts_headline marks a match; replaced by <mark> once everything else is escaped.
START, STOP = "\ue000", "\ue001"
SNIPPET_CHARACTERS = 220

_TOKEN = re.compile(r'(-?)("[^"]*"?|[^\s"]+)')
_WORD = re.compile(r"\w")
_LETTERS_DIGITS = re.compile(r"([^\W\d_]+)(-?)(\d+)")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
_TAGS = "<[^>]*>"


# --- Reading the query -----------------------------------------------------------------------------


def clean(raw) -> str:
    """The query as it is searched and shown: printable, single-spaced, at most MAX_QUERY_LENGTH."""
    text = unicodedata.normalize("NFKC", str(raw or "")[: MAX_QUERY_LENGTH * 4])
    text = _SPACES.sub(" ", _UNPRINTABLE.sub(" ", text)).strip()
    return text[:MAX_QUERY_LENGTH].strip()


@dataclass(frozen=True)
class Terms:
    """A query as groups of terms: every group must match, a group matches if any of its terms does.

    A term is a word or a "quoted phrase"; "or" between terms puts them in one group; "-term"
    excludes pages and publications that mention it (a page only by its own fields).
    """

    groups: tuple[tuple[str, ...], ...] = ()
    excluded: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.groups)

    @property
    def terms(self) -> list[str]:
        return [term for group in self.groups for term in group]

    @property
    def left_out(self) -> list[str]:
        """What the excluded terms leave out: each written both ways ("-IL2" leaves out "IL-2" too)."""
        return [spelling for term in self.excluded for spelling in spellings(term)]


def parse(query: str) -> Terms:
    groups: list[list[str]] = []
    excluded: list[str] = []
    join = False
    for sign, term in _TOKEN.findall(clean(query)):
        if sum(map(len, groups)) + len(excluded) >= MAX_TERMS:  # terms, however they are grouped
            break
        if not sign and term.lower() == "or":
            join = bool(groups)
            continue
        if not _WORD.search(term):
            continue
        if sign:
            excluded.append(term)
        elif join:
            groups[-1].append(term)
        else:
            groups.append([term])
        join = False
    return Terms(tuple(tuple(group) for group in groups), tuple(excluded))


def spellings(term: str) -> list[str]:
    """The term, and "IL2" for "IL-2" or "IL-2" for "IL2": the same name written both ways."""
    match = _LETTERS_DIGITS.fullmatch(term)
    if not match:
        return [term]
    letters, hyphen, digits = match.groups()
    return [term, f"{letters}{digits}" if hyphen else f"{letters}-{digits}"]


def plain(term: str) -> str:
    """A term as the fallback compares it: a phrase's words, without quotes."""
    return term.strip('"').strip()


def is_full_text() -> bool:
    return connection.vendor == "postgresql"


# --- Documents: the GIN indexes of migration 0001 are on exactly these expressions ------------------


class Matches(Func):
    """``document @@ query``, the operator PostgreSQL answers from a GIN index."""

    arg_joiner = " @@ "
    template = "(%(expressions)s)"
    output_field = BooleanField()


def _weighted_json(field: str, weight: str):
    """to_tsvector of a JSON column's string values (an abstract's sections)."""
    vector = Func(SearchConfig(CONFIG), F(field), function="to_tsvector", output_field=SearchVectorField())
    return Func(vector, Value(weight), function="setweight", output_field=SearchVectorField())


def page_document():
    return (
        SearchVector("title", config=CONFIG, weight="A")
        + SearchVector("other_name", "label", config=CONFIG, weight="B")
        + SearchVector("description", config=CONFIG, weight="C")
    )


def web_resource_document():
    return SearchVector("title", config=CONFIG)


def publication_document():
    words = SearchVector("title", config=CONFIG, weight="A") + SearchVector(
        "authors_text", "journal", config=CONFIG, weight="B"
    )
    return CombinedExpression(words, "||", _weighted_json("abstract", "C"), output_field=SearchVectorField())


def _term_query(term: str):
    query = None
    for spelling in spellings(term):
        one = SearchQuery(spelling, search_type="websearch", config=CONFIG)
        query = one if query is None else query | one
    return query


def _any_query(terms):
    query = None
    for term in terms:
        query = _term_query(term) if query is None else query | _term_query(term)
    return query


def _excluded_query(terms: Terms):
    query = None
    for term in terms.left_out:
        one = SearchQuery(term, search_type="websearch", config=CONFIG, invert=True)
        query = one if query is None else query & one
    return query


def _all_query(terms: Terms):
    """One tsquery for a single document (a publication): every group, and none of the excluded."""
    query = None
    for group in terms.groups:
        query = _any_query(group) if query is None else query & _any_query(group)
    excluded = _excluded_query(terms)
    return query if excluded is None else query & excluded


# --- Pages ---------------------------------------------------------------------------------------


def _listed_publications():
    """Listings readers see: not hidden, on a published page."""
    return PageListing.objects.visible().filter(page__published=True)


def _page_has(query) -> Q:
    """A page whose text (own fields, tags, links, listed publications) matches ``query`` anywhere.

    Each part, the page's own fields too, is an uncorrelated ``IN (...)``: PostgreSQL runs it once, from
    its GIN index, and hashes it; no document is built per page.
    A query of stop words only ("the") matches nothing, so it leaves the group out instead.
    """
    tagged = TreatmentPage.objects.filter(Matches(SearchVector("tags__name", config=CONFIG), query))
    linked = WebResource.objects.filter(Matches(web_resource_document(), query))
    listed = _listed_publications().filter(
        publication__in=Publication.objects.filter(Matches(publication_document(), query)).values("pk")
    )
    return (
        Q(Exact(Func(query, function="numnode", output_field=IntegerField()), 0))
        | Q(pk__in=TreatmentPage.objects.filter(Matches(page_document(), query)).values("pk"))
        | Q(pk__in=tagged.values("pk"))
        | Q(pk__in=linked.values("page_id"))
        | Q(pk__in=listed.values("page_id"))
    )


def _page_has_text(term: str) -> Q:
    """The fallback's ``_page_has``: the term, or its other spelling, as a substring of any part."""
    found = Q()
    for spelling in map(plain, spellings(term)):
        tagged = TreatmentPage.objects.filter(tags__name__icontains=spelling).values("pk")
        linked = WebResource.objects.filter(title__icontains=spelling).values("page_id")
        listed = _listed_publications().filter(
            publication__in=Publication.objects.filter(_publication_has_text(spelling)).values("pk")
        )
        found |= (
            _page_fields_have(spelling)
            | Q(pk__in=tagged)
            | Q(pk__in=linked)
            | Q(pk__in=listed.values("page_id"))
        )
    return found


def _page_fields_have(text: str) -> Q:
    fields = ("title", "other_name", "label", "description")
    found = Q()
    for field in fields:
        found |= Q(**{f"{field}__icontains": text})
    return found


def search_pages(q, full_text: bool | None = None):
    """Published pages matching the query, best first; each has ``title_html`` and ``snippet_html``
    once passed through ``finish_pages``. An empty query finds nothing.

    ``full_text``: PostgreSQL's full-text search, or the plain fallback (any database); by default the
    first where the database has it.
    """
    terms = parse(q)
    pages = TreatmentPage.objects.published().select_related("section")
    pages = pages.only("title", "other_name", "slug", "description", "section__path")
    if not terms:
        return pages.none()
    if not (is_full_text() if full_text is None else full_text):
        return _fallback_pages(pages, terms)
    return _full_text_pages(pages, terms)


def _full_text_pages(pages, terms: Terms):
    for group in terms.groups:
        pages = pages.filter(_page_has(_any_query(group)))
    if terms.excluded:
        pages = pages.exclude(Matches(page_document(), _any_query(terms.excluded)))
    wanted = _any_query(terms.terms)
    headline = {"config": CONFIG, "start_sel": START, "stop_sel": STOP}
    return pages.annotate(
        rank=SearchRank(page_document(), wanted),
        title_marked=SearchHeadline("title", wanted, highlight_all=True, **headline),
        snippet_marked=SearchHeadline(
            _without_tags(F("description"), " "), wanted, max_words=35, min_words=15, **headline
        ),
    ).order_by("-rank", "title", "pk")


def _fallback_pages(pages, terms: Terms):
    for group in terms.groups:
        found = Q()
        for term in group:
            found |= _page_has_text(term)
        pages = pages.filter(found)
    for term in terms.left_out:
        pages = pages.exclude(_page_fields_have(plain(term)))
    score = Value(0, output_field=IntegerField())
    for term in terms.terms:
        in_title = Q(title__icontains=plain(term))
        in_names = Q(other_name__icontains=plain(term)) | Q(label__icontains=plain(term))
        score = score + Case(When(in_title, then=Value(3)), When(in_names, then=Value(2)), default=Value(0))
    return pages.annotate(rank=Cast(score, FloatField())).order_by("-rank", "title", "pk")


def finish_pages(pages, q) -> list:
    """The fetched pages with their title and snippet as safe HTML: our <mark> and escaped text only."""
    units = [plain(s) for term in parse(q).terms for s in spellings(term)]
    for page in pages:
        if hasattr(page, "title_marked"):
            page.title_html = marked(page.title_marked)
            page.snippet_html = marked(page.snippet_marked)
        else:
            page.title_html = marked(_mark_text(page.title, units), decode=False)
            page.snippet_html = marked(_excerpt(_text_of_html(page.description), units), decode=False)
        if page.other_name:
            page.title_html = mark_safe(f"{page.title_html} ({escape(page.other_name)})")  # noqa: S308
    return pages


# --- Publications --------------------------------------------------------------------------------


def _publication_has_text(text: str) -> Q:
    return (
        Q(title__icontains=text)
        | Q(authors_text__icontains=text)
        | Q(journal__icontains=text)
        | Q(IContains(AbstractText(F("abstract")), text))
    )


def search_publications(q, full_text: bool | None = None):
    """Publications listed (not hidden) on published pages that match the whole query, best first.

    Each carries ``shown_on``: the listings that show it, with their pages, fetched in one query.
    """
    terms = parse(q)
    listed = _listed_publications().values("publication_id")
    publications = Publication.objects.filter(pk__in=listed).defer("source_xml", "rendered_entry")
    shown_on = Prefetch(
        "listings",
        queryset=_listed_publications()
        .select_related("page__section")
        .only("page__title", "page__other_name", "page__slug", "page__section__path", "publication_id")
        .order_by("page__title", "pk"),
        to_attr="shown_on",
    )
    publications = publications.prefetch_related(shown_on)
    if not terms:
        return publications.none()
    if not (is_full_text() if full_text is None else full_text):
        return _fallback_publications(publications, terms)
    return _full_text_publications(publications, terms)


def _full_text_publications(publications, terms: Terms):
    wanted = _all_query(terms)
    highlighted = _any_query(terms.terms)
    headline = {"config": CONFIG, "start_sel": START, "stop_sel": STOP}
    return (
        publications.filter(Matches(publication_document(), wanted))
        .annotate(
            rank=SearchRank(publication_document(), wanted),
            title_marked=SearchHeadline(
                _without_tags(F("title")), highlighted, highlight_all=True, **headline
            ),
            snippet_marked=SearchHeadline(
                _without_tags(AbstractText(F("abstract"))),
                highlighted,
                max_words=35,
                min_words=15,
                max_fragments=2,
                fragment_delimiter=" … ",
                **headline,
            ),
        )
        .order_by("-rank", "-pub_year", "-pk")
    )


def _fallback_publications(publications, terms: Terms):
    for group in terms.groups:
        found = Q()
        for term in group:
            for spelling in spellings(term):
                found |= _publication_has_text(plain(spelling))
        publications = publications.filter(found)
    for term in terms.left_out:
        publications = publications.exclude(_publication_has_text(plain(term)))
    score = Value(0, output_field=IntegerField())
    for term in terms.terms:
        score = score + Case(When(title__icontains=plain(term), then=Value(2)), default=Value(1))
    return publications.annotate(rank=Cast(score, FloatField())).order_by("-rank", "-pub_year", "-pk")


def finish_publications(publications, q) -> list:
    units = [plain(s) for term in parse(q).terms for s in spellings(term)]
    for publication in publications:
        if hasattr(publication, "title_marked"):
            publication.title_html = marked(publication.title_marked)
            publication.snippet_html = marked(publication.snippet_marked)
        else:
            publication.title_html = marked(_mark_text(publication.title_text, units), decode=False)
            text = " ".join(_text_of_html(section.get("text", "")) for section in publication.abstract)
            publication.snippet_html = marked(_excerpt(text, units), decode=False)
    return publications


# --- Snippets ------------------------------------------------------------------------------------


def _without_tags(expression, between: str = ""):
    """Stored markup without its tags (entities stay: ``marked`` decodes them). Inline markup's tags
    go without a trace ("CD69<sup>+</sup>": "CD69+"); a description's paragraphs need a space."""
    return Func(expression, Value(_TAGS), Value(between), Value("g"), function="regexp_replace",
                output_field=TextField())  # fmt: skip


class AbstractText(Func):
    """An abstract's section texts, as one text ("" for none, as on PostgreSQL): never the JSON they are
    stored as, whose keys ("label", "text") would match every abstract, and which SQLite writes with
    non-ASCII as \\u escapes."""

    template = "array_to_string(ARRAY(SELECT jsonb_array_elements(%(expressions)s) ->> 'text'), ' ')"
    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra_context):
        template = (
            "coalesce((SELECT group_concat(json_extract(value, '$.text'), ' ') "
            "FROM json_each(%(expressions)s)), '')"
        )
        return self.as_sql(compiler, connection, template=template, **extra_context)


def marked(text: str | None, decode: bool = True):
    """Safe HTML from marked text: the stored markup's entities decoded (``decode``), then everything
    escaped, and only then our markers turned into <mark>. Nothing of the text can become a tag."""
    text = text or ""
    parts, inside = [], False
    for part in re.split(f"([{START}{STOP}])", html.unescape(text) if decode else text):
        if part in (START, STOP):
            if inside != (part == STOP):
                continue
            parts.append("<mark>" if part == START else "</mark>")
            inside = not inside
        else:
            parts.append(escape(part))
    if inside:
        parts.append("</mark>")
    return mark_safe("".join(parts).strip())  # noqa: S308 - escaped above, our <mark> only


def _text_of_html(fragment: str) -> str:
    """Stored rich text or inline markup as plain text (entities decoded)."""
    return " ".join(html.unescape(strip_tags(fragment)).split())


def _mark_text(text: str, units) -> str:
    """The fallback's highlighting: every unit's occurrences between the markers."""
    units = [unit for unit in units if unit]
    if not units:
        return text
    pattern = re.compile("|".join(re.escape(unit) for unit in sorted(units, key=len, reverse=True)), re.I)
    return pattern.sub(lambda m: f"{START}{m.group(0)}{STOP}", text)


def _excerpt(text: str, units) -> str:
    """Some SNIPPET_CHARACTERS around the first unit found (or the start), with every unit marked."""
    lowered = text.lower()
    found = [i for i in (lowered.find(unit.lower()) for unit in units if unit) if i >= 0]
    start = max(0, min(found) - SNIPPET_CHARACTERS // 3) if found else 0
    excerpt = text[start : start + SNIPPET_CHARACTERS]
    if start > 0:
        excerpt = "… " + excerpt.split(" ", 1)[-1]
    if start + SNIPPET_CHARACTERS < len(text):
        excerpt = excerpt.rsplit(" ", 1)[0] + " …"
    return _mark_text(excerpt, units)
