"""A publication as schema.org's ScholarlyArticle: the JSON-LD a page embeds for each entry it lists.

Built from the record alone, like the entry's HTML (``citation.entry_html``), so it can be built when
the record changes and stored with it (``Publication.rendered_citation``), not on every page view.
The JSON is compact and safe inside ``<script>`` as it is (``script_safe_json``).
"""

import json

from django.core.serializers.json import DjangoJSONEncoder

from . import citation, export

# As django.utils.html.json_script escapes: no "</script>", "<!--" or "&" can end or bend the element.
# (Three str.replace calls: str.translate with a dict looks up every character in Python, 10x slower.)
_SCRIPT_SAFE = (("<", "\\u003C"), (">", "\\u003E"), ("&", "\\u0026"))


def script_safe_json(data) -> str:
    """Compact JSON of ``data`` that can sit inside a ``<script>`` element whatever its strings hold."""
    text = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    for character, escaped in _SCRIPT_SAFE:
        text = text.replace(character, escaped)
    return text


def article_json(publication) -> str:
    """``scholarly_article`` as stored: compact, script-safe JSON."""
    return script_safe_json(scholarly_article(publication))


def scholarly_article(publication) -> dict:
    """One listed entry: its title as text, authors, date, journal (or book), and its PMID and DOI.

    A chapter (GeneReviews and the like) is part of its book; a whole book is a Book, part of nothing.
    """
    title = publication.title_text
    book = publication.kind == "book" and not export.is_chapter(publication)
    data = {"@type": "Book" if book else "ScholarlyArticle", "headline": title, "name": title}
    if authors := [author for author in map(_author, publication.authors) if author["name"]]:
        data["author"] = authors
    if published := export.iso_date(export.issued(publication)):
        data["datePublished"] = published
    if (journal := publication.journal_title or publication.journal) and not book:
        kind = "Book" if publication.kind == "book" else "Periodical"
        data["isPartOf"] = {"@type": kind, "name": journal}
    if publication.pages:
        data["pagination"] = publication.pages
    identifiers = []
    if publication.pmid:
        identifiers.append(_identifier("PMID", str(publication.pmid)))
    if publication.doi:
        identifiers.append(_identifier("DOI", publication.doi))
        data["sameAs"] = citation.doi_url(publication.doi)
    if identifiers:
        data["identifier"] = identifiers
    data["url"] = (
        publication.pubmed_url
        if publication.pmid or not publication.doi
        else citation.doi_url(publication.doi)
    )
    return data


def _author(author: dict) -> dict:
    kind = "Organization" if author.get("collective_name") else "Person"
    return {"@type": kind, "name": citation.author_name(author)}


def _identifier(kind: str, value: str) -> dict:
    return {"@type": "PropertyValue", "propertyID": kind, "value": value}
