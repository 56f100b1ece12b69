"""``search/live.py``: following published generations, refusing damaged ones, keeping recent
ones open for paged requests, never closing one under a running query."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import DEMO, write

from newsearch.indexer import BuildOptions
from newsearch.indexer.layout import CURRENT, DOCSTORE_FILE
from newsearch.indexer.update import update_index
from newsearch.search.live import GenerationGoneError, IndexUnavailableError, LiveIndex


@pytest.fixture
def corpus(tmp_path) -> Path:
    return Path(shutil.copytree(DEMO, tmp_path / "corpus"))


@pytest.fixture
def index(corpus, demo_index) -> Path:
    """A copy of the demo index (its embedding cache included: updates embed only new text)."""
    return Path(shutil.copytree(demo_index, corpus.parent / "index"))


def add_article(corpus: Path, index_dir: Path, embedder, word: str) -> None:
    write(corpus / "science" / f"2026-12-01-{word}.txt", f"{word} found\n\nA {word} was found.")
    update_index([corpus], index_dir, BuildOptions(), embedder=embedder)


def publish_damaged_copy(index_dir: Path, name: str) -> None:
    """A copy of the published generation with an emptied docstore, made current."""
    current = (index_dir / CURRENT).read_text().strip()
    copy = index_dir / "generations" / name
    shutil.copytree(index_dir / "generations" / current, copy)
    (copy / DOCSTORE_FILE).write_bytes(b"")
    tmp = index_dir / "CURRENT.tmp"
    tmp.write_text(name + "\n")
    tmp.replace(index_dir / CURRENT)


def titles(live: LiveIndex, query: str, token: str | None = None) -> list[str]:
    with live.use(token) as s:
        return [h.title for h in s.search(query, k=3, mode="bm25").hits]


def test_follows_new_generations_and_keeps_recent_ones(corpus, index, embedder):
    with LiveIndex(index, embedder=embedder, keep=1) as live:
        live.refresh()
        first = live.current_name
        assert titles(live, "zephyrite") == []
        add_article(corpus, index, embedder, "zephyrite")
        assert live.refresh() is True
        second = live.current_name
        assert second != first and live.kept == [second, first]
        assert titles(live, "zephyrite") == ["zephyrite found"]
        assert titles(live, "zephyrite", token=first) == []  # a token pins its generation
        add_article(corpus, index, embedder, "quillfeather")
        assert live.refresh() is True
        assert live.kept == [live.current_name, second]  # keep=1: the oldest is closed
        with pytest.raises(GenerationGoneError, match="no longer kept"):
            titles(live, "zephyrite", token=first)
        assert live.refresh() is False  # nothing moved


def test_a_damaged_generation_is_refused_and_the_previous_keeps_serving(corpus, index, embedder):
    with LiveIndex(index, embedder=embedder) as live:
        live.refresh()
        good = live.current_name
        publish_damaged_copy(index, "20990101T000000-1-1")
        assert live.refresh() is False
        assert live.current_name == good
        assert live.refused is not None and live.refused.generation == "20990101T000000-1-1"
        assert "--rebuild" in live.refused.reason
        assert titles(live, "ceasefire")  # still serving
        assert live.refresh() is False  # refused once, not retried every poll
        (index / CURRENT).write_text(good + "\n")  # the writer puts the good one back
        live.refresh()
        assert live.refused is None and live.current_name == good


def test_a_retired_generation_is_not_closed_under_a_running_query(corpus, index, embedder):
    with LiveIndex(index, embedder=embedder, keep=0) as live:
        live.refresh()
        with live.use() as held:
            add_article(corpus, index, embedder, "marrowvine")
            assert live.refresh() is True
            assert live.kept == [live.current_name]  # keep=0: retired at once ...
            assert held.search("ceasefire", k=2, mode="bm25").hits  # ... but still open
        assert titles(live, "marrowvine") == ["marrowvine found"]


def test_no_index_says_what_to_run(tmp_path):
    with LiveIndex(tmp_path / "none") as live:
        live.refresh()
        assert not live.ready and "newsearch index" in (live.problem or "")
        with pytest.raises(IndexUnavailableError, match="newsearch index"):
            titles(live, "anything")


def test_damaged_only_generation_is_unavailable(index):
    current = (index / CURRENT).read_text().strip()
    (index / "generations" / current / DOCSTORE_FILE).write_bytes(b"x" * 100)
    with LiveIndex(index) as live:
        live.refresh()
        assert not live.ready and "--rebuild" in (live.problem or "")


def test_poller_picks_up_a_publication(corpus, index, embedder):
    import time

    with LiveIndex(index, embedder=embedder) as live:
        live.start(poll=0.05)
        first = live.current_name
        add_article(corpus, index, embedder, "brindlefox")
        published = time.monotonic()
        while live.current_name == first and time.monotonic() - published < 5:
            time.sleep(0.01)
        assert live.current_name != first
        assert time.monotonic() - published < 1.0
