"""Building: the three stores agree, each text is embedded once, bad corpora are clear errors."""

from __future__ import annotations

import shutil

import pytest
from conftest import DEMO, write

from newsearch.indexer import BuildOptions, IndexLayout, build_index
from newsearch.indexer.docstore import Docstore
from newsearch.indexer.errors import EmptyCorpusError, LockedError, ModelError
from newsearch.indexer.keyword import KeywordIndex
from newsearch.indexer.layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE
from newsearch.indexer.vectors import VectorIndex, paragraph_of


def open_stores(index_dir):
    layout = IndexLayout(index_dir)
    gen = layout.current()
    meta = layout.read_meta(gen)
    return (
        meta,
        Docstore(gen / DOCSTORE_FILE),
        KeywordIndex(gen / KEYWORD_DIR),
        VectorIndex(gen / VECTORS_FILE, meta.model.dim),
    )


def test_stores_describe_the_same_paragraphs(demo_index):
    meta, docs, kw, vec = open_stores(demo_index)
    pids = set(docs.paragraph_ids())
    assert len(pids) == meta.paragraphs == kw.doc_count() == docs.count_paragraphs()
    assert {paragraph_of(v) for v in vec.ids().tolist()} == pids
    assert meta.articles == docs.count_articles() == 32


def test_syndicated_and_repeated_texts_are_embedded_once(tmp_path, embedder):
    story = (
        "Headline A\n\nThe council approved the new budget on Tuesday evening.\n\n"
        "It passes next week.\n"
    )
    write(tmp_path / "corpus" / "outlet1.txt", story)
    write(tmp_path / "corpus" / "outlet2.txt", story)  # a syndicated copy
    before = embedder.encoded_count
    report = build_index([tmp_path / "corpus"], tmp_path / "ix", BuildOptions(), embedder=embedder)
    assert report.paragraphs == 4 and report.vectors == 4
    assert report.embedded == 2 and embedder.encoded_count - before == 2
    # A second build over the same texts embeds nothing: the cache has them all.
    again = build_index([tmp_path / "corpus"], tmp_path / "ix", BuildOptions(), embedder=embedder)
    assert again.embedded == 0 and again.reused == 4
    assert embedder.encoded_count - before == 2


def test_rebuild_publishes_a_new_generation_and_keeps_one_previous(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    shutil.copytree(DEMO / "sport", corpus)
    gens = []
    for _ in range(3):
        gens.append(build_index([corpus], tmp_path / "ix", embedder=embedder).generation)
    layout = IndexLayout(tmp_path / "ix")
    assert layout.current_name() == gens[-1]
    assert sorted(p.name for p in layout.generations.iterdir()) == sorted(gens[-2:])


def test_empty_corpus_is_a_clear_error_and_publishes_nothing(tmp_path, embedder):
    write(tmp_path / "corpus" / "empty.txt", "")
    write(tmp_path / "corpus" / "pic.txt", b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(EmptyCorpusError, match="no articles"):
        build_index([tmp_path / "corpus"], tmp_path / "ix", embedder=embedder)
    assert not IndexLayout(tmp_path / "ix").exists()


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, embedder):
    layout = IndexLayout(tmp_path / "ix")
    with layout.writer_lock(), pytest.raises(LockedError, match="--wait"):
        build_index([DEMO / "sport"], tmp_path / "ix", embedder=embedder, wait=0.3)
    # Released: the next build goes through.
    assert build_index([DEMO / "sport"], tmp_path / "ix", embedder=embedder).articles == 4


def test_bad_model_folder(tmp_path):
    with pytest.raises(ModelError):
        build_index([DEMO / "sport"], tmp_path / "ix", BuildOptions(model_path=str(tmp_path)))
