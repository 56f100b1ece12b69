"""index_status: what the index holds and what a `newsearch index` run would apply."""

import shutil

import pytest
from conftest import DEMO, write

from newsearch import build_index, index_status
from newsearch.errors import IndexNotFoundError
from newsearch.indexer import BuildOptions


@pytest.fixture(scope="module")
def small(tmp_path_factory, embedder):
    corpus = tmp_path_factory.mktemp("status_corpus")
    shutil.copytree(DEMO / "sport", corpus / "sport")
    index_dir = tmp_path_factory.mktemp("status_index")
    build_index([corpus], index_dir, BuildOptions(), embedder=embedder)
    return corpus, index_dir


def test_status_reports_the_generation_and_no_staleness(small):
    corpus, index_dir = small
    status = index_status(index_dir)
    assert status.articles == len(list((corpus / "sport").iterdir()))
    assert status.sources == [str(corpus.resolve())]
    assert status.stale is not None and status.stale.files == 0
    data = status.to_dict()
    assert data["generation"] == status.generation and data["stale"]["files_added"] == []
    assert "stale" not in index_status(index_dir, check=False).to_dict()


def test_status_sees_a_new_file_without_applying_it(small):
    corpus, index_dir = small
    write(corpus / "sport" / "2026-12-01-new.txt", "A new headline\n\nA brand new paragraph.\n")
    status = index_status(index_dir)
    assert status.stale.files_added == ["sport/2026-12-01-new.txt"]
    assert status.stale.articles_added == 1
    assert index_status(index_dir, check=False).articles == status.articles  # not applied


def test_no_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError):
        index_status(tmp_path)
