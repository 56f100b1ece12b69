"""KeywordWriter writes what Whoosh's own SegmentWriter writes, read back through Whoosh."""

from pathlib import Path

import pytest
from conftest import DEMO, SHARED, require_shared
from whoosh import index as whoosh_index

from newsearch.indexer.corpus import read_articles
from newsearch.indexer.keyword import KeywordDoc, keyword_docs, make_schema
from newsearch.indexer.keyword_writer import KeywordWriter, _fast_analysis

EDGES = [
    KeywordDoc(1, "e", "", ""),
    KeywordDoc(2, "e", "The a an of: to be or not to be, that is it.", "A the"),
    KeywordDoc(3, "e", "Pi is 3.141, big-time under_score x y z ... U.S. GDP rose 1.5 pct", "U.S."),
    KeywordDoc(4, "e", "Zürich's café naïve ÉLAN über straße İstanbul ﬁnance ΣΊΣΥΦΟΣ 東京", "Ünï"),
    KeywordDoc(5, "f", "running runs ran runner RUNNING run* wild*card 'quoted' don't", "Runs"),
    KeywordDoc(6, "f", "the the the stop the words the the first word after stops", "the"),
]


def _write(directory: Path, docs: list[KeywordDoc], fast: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    ix = whoosh_index.create_in(str(directory), make_schema())
    writer = KeywordWriter(ix) if fast else ix.writer(procs=1)
    for d in docs:
        writer.add_document(pid=str(d.pid), article=d.article_id, text=d.text, title=d.title)
    writer.commit()


def _contents(directory: Path) -> dict:
    """Everything a reader sees: terms, postings (ids, weights, encoded positions), term
    statistics (incl. the min/max lengths written from the field lengths), lengths, stored
    fields."""
    ix = whoosh_index.open_dir(str(directory))
    out: dict = {}
    with ix.reader() as r:
        n = r.doc_count_all()
        for field in ("pid", "article", "text", "title"):
            for term in r.lexicon(field):
                info = r.term_info(field, term)
                m = r.postings(field, term)
                postings = []
                while m.is_active():
                    postings.append((m.id(), m.weight(), m.value()))
                    m.next()
                stats = (info.weight(), info.doc_frequency(), info.min_length(), info.max_length())
                out[(field, term)] = (stats, info.max_weight(), postings)
            out[("length", field)] = (
                r.field_length(field),
                [r.doc_field_length(d, field) for d in range(n)],
            )
        out["stored"] = [r.stored_fields(d) for d in range(n)]
    return out


def _compare(tmp_path: Path, docs: list[KeywordDoc]) -> None:
    _write(tmp_path / "whoosh", docs, fast=False)
    _write(tmp_path / "fast", docs, fast=True)
    whoosh, fast = _contents(tmp_path / "whoosh"), _contents(tmp_path / "fast")
    assert whoosh.keys() == fast.keys()
    for key in whoosh:
        assert whoosh[key] == fast[key], key


def test_the_one_pass_analysis_applies_to_the_text_fields_only():
    schema = make_schema()
    assert _fast_analysis(schema["text"]) is not None
    assert _fast_analysis(schema["title"]) is not None
    assert _fast_analysis(schema["pid"]) is None  # an ID field: Whoosh's own path


def test_edge_cases_are_written_as_whoosh_writes_them(tmp_path):
    _compare(tmp_path, EDGES)


def test_news_paragraphs_are_written_as_whoosh_writes_them(tmp_path):
    read = read_articles([DEMO, require_shared(SHARED / "data" / "bbc" / "business")])
    rows = [(a, i) for a in read.articles[:200] for i in range(len(a.paragraphs))]
    docs = list(keyword_docs(list(range(1, len(rows) + 1)), rows))
    assert len(docs) > 500
    _compare(tmp_path, docs)


@pytest.mark.parametrize("name", ["reut2-000.sgm"])
def test_reuters_is_written_as_whoosh_writes_it(tmp_path, name):
    path = require_shared(SHARED / "data" / "news-large" / "reuters21578" / name)
    read = read_articles([path])
    rows = [(a, i) for a in read.articles[:400] for i in range(len(a.paragraphs))]
    docs = list(keyword_docs(list(range(1, len(rows) + 1)), rows))
    _compare(tmp_path, docs)
