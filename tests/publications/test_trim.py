"""Reference lists cut out of PubMed's bytes before lxml reads them (``publications.pubmed.trim``).

What must hold: a record is the same with or without its reference list (the list is all that goes);
the cut is the same whatever the chunks a stream arrives in; nothing that only looks like a reference
list (in a comment, a CDATA section, a processing instruction, an abstract's text) is cut; and a
document the cut cannot make sense of is still refused, never read as a shorter record.
"""

import dataclasses
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from publications.pubmed import MalformedResponse, iter_efetch, parse_efetch
from publications.pubmed.trim import ReferenceListTrimmer, TrimmedReader, without_reference_lists
from tests.publications.test_parser import EFETCH_FILES, article, article_set

WITH_REFERENCES = [path for path in EFETCH_FILES if b"<ReferenceList" in path.read_bytes()]

REFERENCES = (
    "<ReferenceList><Title>References</Title>"
    "<Reference><Citation>Smith J. A cited work. 2001.</Citation>"
    '<ArticleIdList><ArticleId IdType="pubmed">11111111</ArticleId></ArticleIdList></Reference>'
    "</ReferenceList>"
)


def with_in_pubmed_data(item: str, inserted: str) -> str:
    """An article with ``inserted`` where NCBI puts reference lists: last in PubmedData."""
    return item.replace("</PubmedData>", inserted + "</PubmedData>")


def removed_by_lxml(data: bytes) -> str:
    """The oracle: the document parsed whole by lxml, its ReferenceList elements removed, canonicalized."""
    root = etree.fromstring(data, etree.XMLParser(load_dtd=False, no_network=True, remove_comments=True))
    for element in list(root.iter("ReferenceList")):
        parent, previous = element.getparent(), element.getprevious()
        if element.tail:  # lxml's remove takes the text after the element too; the cut keeps it
            if previous is not None:
                previous.tail = (previous.tail or "") + element.tail
            else:
                parent.text = (parent.text or "") + element.tail
        parent.remove(element)
    return canonical(etree.tostring(root))


def canonical(data: bytes) -> str:
    return etree.canonicalize(
        etree.tostring(
            etree.fromstring(data, etree.XMLParser(load_dtd=False, remove_comments=True)), encoding="unicode"
        ),
        strip_text=True,
    )


def fields(record) -> dict:
    found = dataclasses.asdict(record)
    found.pop("source_xml")
    return found


def test_the_fixtures_hold_reference_lists():
    assert len(WITH_REFERENCES) >= 10  # so the tests below cut real ones


@pytest.mark.parametrize("path", WITH_REFERENCES, ids=lambda path: path.name)
def test_a_fixture_loses_its_reference_lists_and_nothing_else(path):
    data = path.read_bytes()
    trimmed = without_reference_lists(data)
    assert b"<ReferenceList" not in trimmed
    assert len(trimmed) < len(data)
    assert canonical(trimmed) == removed_by_lxml(data)


@pytest.mark.parametrize("path", WITH_REFERENCES, ids=lambda path: path.name)
def test_a_fixtures_records_are_those_of_the_whole_document(path):
    """Every field is what the whole document gives; the stored source has no reference list."""
    data = path.read_bytes()
    whole = etree.fromstring(data, etree.XMLParser(load_dtd=False, no_network=True))
    records = parse_efetch(data).records
    streamed = list(iter_efetch(io.BytesIO(data)))
    assert [fields(r) for r in streamed] == [fields(r) for r in records]
    for record, streamed_record in zip(records, streamed, strict=True):
        assert "ReferenceList" not in record.source_xml
        assert record.source_xml == streamed_record.source_xml
    # and the fields equal those read from the article with its references (the source re-parsed)
    originals = [etree.tostring(a) for a in whole if a.tag in ("PubmedArticle", "PubmedBookArticle")]
    assert any(b"<ReferenceList" in original for original in originals)
    assert [fields(r) for r in parse_efetch(article_set(*(o.decode() for o in originals))).records] == [
        fields(r) for r in records
    ]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13, 16, 100, 4096])
def test_a_stream_is_cut_alike_whatever_its_chunks(size):
    data = b"".join(path.read_bytes() for path in WITH_REFERENCES[:6])
    reader = TrimmedReader(io.BytesIO(data), chunk_size=size)
    chunks = iter(lambda: reader.read(size), b"")
    assert b"".join(chunks) == without_reference_lists(data)


@pytest.mark.parametrize("size", [1, 2, 5, 11])
def test_a_tricky_document_is_cut_alike_whatever_its_chunks(size):
    data = article_set(
        with_in_pubmed_data(
            article(),
            "<!-- a <ReferenceList> in a comment --><?pi <ReferenceList>?>"
            '<ReferenceList  Type="x/y>"><![CDATA[ </ReferenceList> ]]><ReferenceList/>'
            "<ReferenceList><Reference>x</Reference></ReferenceList></ReferenceList >",
        )
    )
    trimmer = ReferenceListTrimmer()
    pieces = [trimmer.feed(data[at : at + size]) for at in range(0, len(data), size)]
    assert b"".join([*pieces, trimmer.feed(b"", final=True)]) == without_reference_lists(data)
    assert b"Reference>x" not in without_reference_lists(data)


def test_nested_and_empty_lists_are_cut_whole_attributes_and_all():
    data = article_set(
        with_in_pubmed_data(
            article(),
            REFERENCES.replace("</ReferenceList>", REFERENCES + "</ReferenceList>")
            + '<ReferenceList/><ReferenceList Note="a > b / c" />'
            + REFERENCES.replace("<ReferenceList>", "<ReferenceList\n Type='cites'>"),
        )
    )
    trimmed = without_reference_lists(data)
    assert b"ReferenceList" not in trimmed
    assert canonical(trimmed) == removed_by_lxml(data)
    [record] = parse_efetch(data).records
    assert fields(record) == fields(parse_efetch(article_set(article())).records[0])


def test_what_only_looks_like_a_reference_list_is_kept():
    """The name as text, a longer tag name, and tags inside a comment, CDATA section or processing
    instruction: none of it is an element to cut."""
    item = article(title="On the <i>ReferenceList</i> of ReferenceList &lt;ReferenceList&gt;")
    item = with_in_pubmed_data(item, "<ReferenceLists><Reference>kept</Reference></ReferenceLists>")
    item = item.replace(
        "<Language>",
        "<!-- <ReferenceList> --><?note <ReferenceList>?><Language>",
    )
    abstract = "<Abstract><AbstractText><![CDATA[a <ReferenceList> b]]> after</AbstractText></Abstract>"
    item = item.replace("<AuthorList", abstract + "<AuthorList")
    data = article_set(item)
    assert without_reference_lists(data) == data
    [record] = parse_efetch(data).records
    assert record.title == "On the <i>ReferenceList</i> of ReferenceList &lt;ReferenceList&gt;"
    assert record.abstract[0].text == "a &lt;ReferenceList&gt; b after"
    assert "<ReferenceLists>" in record.source_xml


def test_a_list_hidden_in_a_comment_cannot_hide_the_article_after_it():
    """A comment opening a list and another closing it: cutting between them would lose the abstract."""
    item = article(abstract="<Abstract><AbstractText>Kept.</AbstractText></Abstract>")
    item = item.replace("<Abstract>", "<!-- <ReferenceList> --><Abstract>")
    item = item.replace("<AuthorList", "<!-- </ReferenceList> --><AuthorList")
    [record] = parse_efetch(article_set(item)).records
    assert record.abstract[0].text == "Kept."


@pytest.mark.parametrize(
    "inserted",
    [
        "<ReferenceList><Reference>never closed</Reference>",  # the rest of the document goes with it
        "</ReferenceList>",  # an end tag with no start
        "<ReferenceList><!-- </ReferenceList> never closed --><Reference>x</Reference>",
    ],
)
def test_a_list_the_cut_cannot_make_sense_of_is_refused_not_read_short(inserted):
    data = article_set(with_in_pubmed_data(article(), inserted), article("31000002"))
    with pytest.raises(MalformedResponse):
        parse_efetch(data)
    with pytest.raises(MalformedResponse):
        list(iter_efetch(io.BytesIO(data)))


def test_a_stored_record_keeps_no_reference_list(db):
    from publications.models import Publication

    data = article_set(with_in_pubmed_data(article(), REFERENCES))
    Publication.objects.store_records(iter_efetch(io.BytesIO(data)))
    stored = Publication.objects.get(pmid=31000001)
    assert "ReferenceList" not in stored.source_xml
    assert "11111111" not in stored.source_xml
    assert "<PubmedData>" in stored.source_xml


def test_a_list_after_the_name_as_text_is_still_cut():
    data = article_set(with_in_pubmed_data(article(title="Its ReferenceList, as text."), REFERENCES))
    trimmed = without_reference_lists(data)
    assert b"Its ReferenceList, as text." in trimmed
    assert b"<ReferenceList" not in trimmed
    assert b"11111111" not in trimmed


# Any document built from the pieces that could fool the cut, in chunks of any size

TRICKY_TEXT = st.sampled_from(
    ["x", " ", "ReferenceList", "<ReferenceList>", "</ReferenceList >", "<ReferenceList/>", "<", ">", "/"]
)
_piece_text = st.lists(TRICKY_TEXT, max_size=4).map("".join)


def _list_of(children):
    start = st.sampled_from(["<ReferenceList>", '<ReferenceList Type="a>b/">', "<ReferenceList\n>"])
    full = st.tuples(start, st.lists(children, max_size=3)).map(
        lambda parts: parts[0] + "".join(parts[1]) + "</ReferenceList>"
    )
    return st.one_of(full, st.just("<ReferenceList />"))


_leaf = st.one_of(
    st.sampled_from(["plain text", "ReferenceList as text", "&lt;ReferenceList&gt;", "<Kept>k</Kept>"]),
    _piece_text.map(lambda text: f"<!--{text}-->"),
    _piece_text.map(lambda text: f"<![CDATA[{text}]]>"),
    _piece_text.map(lambda text: f"<?note {text}?>"),
)
_item = st.recursive(_leaf, lambda children: st.one_of(_list_of(children), children), max_leaves=12)
documents = st.lists(_item, max_size=8).map(lambda items: f"<Root>{''.join(items)}</Root>".encode())


@settings(max_examples=300, deadline=None)
@given(document=documents, size=st.integers(min_value=1, max_value=40))
def test_any_document_is_cut_as_lxml_would_remove_its_lists_whatever_the_chunks(document, size):
    whole = without_reference_lists(document)
    reader = TrimmedReader(io.BytesIO(document), chunk_size=size)
    assert b"".join(iter(lambda: reader.read(size), b"")) == whole
    assert canonical(whole) == removed_by_lxml(document)
