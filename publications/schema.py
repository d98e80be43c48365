"""A publication as schema.org's ScholarlyArticle: the JSON-LD a page embeds for each entry it lists.

Built from the record alone, like the entry's HTML (``citation.entry_html``), so it can be built when
the record changes and stored with it (``Publication.rendered_citation``), not on every page view.
The JSON is compact and safe inside ``<script>`` as it is (``script_safe_json``).
"""

import json

from django.core.serializers.json import DjangoJSONEncoder

from . import citation

DOI_URL = "https://doi.org/{doi}"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
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
    """One listed entry: its title as text, authors, date, journal, and its PMID and DOI."""
    title = publication.title_text
    data = {"@type": "ScholarlyArticle", "headline": title, "name": title}
    if authors := [author for author in map(_author, publication.authors) if author["name"]]:
        data["author"] = authors
    if published := date_published(publication.pub_year, publication.pub_month):
        data["datePublished"] = published
    if journal := publication.journal_title or publication.journal:
        data["isPartOf"] = {"@type": "Periodical", "name": journal}
    if publication.pages:
        data["pagination"] = publication.pages
    identifiers = []
    if publication.pmid:
        identifiers.append(_identifier("PMID", str(publication.pmid)))
    if publication.doi:
        identifiers.append(_identifier("DOI", publication.doi))
        data["sameAs"] = DOI_URL.format(doi=publication.doi)
    if identifiers:
        data["identifier"] = identifiers
    data["url"] = (
        publication.pubmed_url
        if publication.pmid or not publication.doi
        else DOI_URL.format(doi=publication.doi)
    )
    return data


def date_published(year: str, month: str = "") -> str | None:
    """ISO 8601 as far as it is known: "2019-06", "2019", or None."""
    if not (len(year) == 4 and year.isdigit()):
        return None
    if month in _MONTHS:
        return f"{year}-{_MONTHS.index(month) + 1:02d}"
    if month.isdigit() and 1 <= int(month) <= 12:
        return f"{year}-{int(month):02d}"
    return year


def _author(author: dict) -> dict:
    kind = "Organization" if author.get("collective_name") else "Person"
    return {"@type": kind, "name": citation.author_name(author)}


def _identifier(kind: str, value: str) -> dict:
    return {"@type": "PropertyValue", "propertyID": kind, "value": value}
