"""Consistency checks on a published index, shared by the lifecycle tests."""

from __future__ import annotations

from pathlib import Path

from newsearch.indexer import IndexLayout
from newsearch.indexer.docstore import Docstore
from newsearch.indexer.keyword import KeywordIndex
from newsearch.indexer.layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE
from newsearch.indexer.vectors import VectorIndex, paragraph_of


def check_consistent(index_dir: Path) -> tuple[set[str], set[int]]:
    """The three stores of the published generation hold exactly the same paragraphs and
    agree with its metadata; returns (article ids, paragraph ids)."""
    layout = IndexLayout(index_dir)
    gen = layout.current()
    meta = layout.read_meta(gen)
    docs = Docstore(gen / DOCSTORE_FILE)
    kw = KeywordIndex(gen / KEYWORD_DIR)
    vec = VectorIndex(gen / VECTORS_FILE, meta.model.dim)
    pids = set(docs.paragraph_ids())
    with kw._ix.searcher() as s:
        kw_pids = {int(f["pid"]) for f in s.all_stored_fields()}
    count = kw.doc_count()
    kw.close()
    assert kw_pids == pids == {paragraph_of(v) for v in vec.ids().tolist()}
    assert count == docs.count_paragraphs() == meta.paragraphs == len(pids)
    assert vec.ntotal == meta.vectors and docs.count_articles() == meta.articles
    articles = {r[0] for r in docs._conn().execute("SELECT id FROM articles")}
    return articles, pids
