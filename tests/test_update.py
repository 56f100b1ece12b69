"""Incremental updates: the index follows added, edited, deleted and renamed articles, only the
changed paragraphs are embedded again, and an update never touches the published generation."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import DEMO, write
from index_checks import check_consistent

from newsearch.indexer import Embedder, IndexLayout
from newsearch.indexer import manifest as mf
from newsearch.indexer.changes import stale
from newsearch.indexer.errors import IndexFormatError, ModelError
from newsearch.indexer.layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE
from newsearch.indexer.update import update_index
from newsearch.search import Searcher

ZEBRA = (
    "Zebras cross the Mara river\n\n"
    "Thousands of zebras crossed the Mara river on Sunday in the first migration of the season.\n\n"
    "Rangers counted the herds from light aircraft and said crocodiles took few animals.\n"
)


def top_article(index_dir: Path, query: str, mode: str = "bm25") -> str | None:
    with Searcher(index_dir) as s:
        hits = s.search(query, k=1, mode=mode).hits
    return hits[0].article_id if hits else None


@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    shutil.copytree(DEMO / "sport", root / "sport")
    shutil.copytree(DEMO / "world", root / "world")
    return root


@pytest.fixture
def built(corpus, tmp_path, embedder) -> Path:
    index_dir = tmp_path / "ix"
    report = update_index([corpus], index_dir, embedder=embedder)
    assert report.mode == "full" and report.articles == 8
    return index_dir


def test_nothing_changed_publishes_nothing_and_embeds_nothing(corpus, built, embedder):
    gen = IndexLayout(built).current_name()
    before = embedder.encoded_count
    report = update_index([corpus], built, embedder=embedder)
    assert report.mode == "unchanged" and report.articles == 8
    assert IndexLayout(built).current_name() == gen and embedder.encoded_count == before


def test_add_edit_delete_rename_and_results_follow(corpus, built, embedder):
    _, pids0 = check_consistent(built)
    # add
    write(corpus / "world" / "zebras.txt", ZEBRA)
    r = update_index([corpus], built, embedder=embedder)
    assert (r.mode, r.added, r.changed, r.deleted, r.articles) == ("incremental", 1, 0, 0, 9)
    check_consistent(built)
    assert top_article(built, "zebras Mara crocodiles") == "world/zebras.txt"
    assert top_article(built, "zebra migration river", mode="dense") == "world/zebras.txt"

    # edit: the new wording is found, the old wording is gone
    edited = ZEBRA.replace("crocodiles took few animals", "hippopotamus attacks were rare")
    write(corpus / "world" / "zebras.txt", edited)
    r = update_index([corpus], built, embedder=embedder)
    assert (r.added, r.changed, r.deleted, r.articles) == (0, 1, 0, 9)
    check_consistent(built)
    assert top_article(built, "hippopotamus") == "world/zebras.txt"
    assert top_article(built, "crocodiles") is None

    # rename: same text under a new id, nothing embedded again
    before = embedder.encoded_count
    (corpus / "world" / "zebras.txt").rename(corpus / "sport" / "zebras-moved.txt")
    r = update_index([corpus], built, embedder=embedder)
    assert (r.added, r.changed, r.deleted, r.articles) == (1, 0, 1, 9)
    assert r.embedded == 0 and embedder.encoded_count == before
    check_consistent(built)
    assert top_article(built, "hippopotamus") == "sport/zebras-moved.txt"

    # delete
    (corpus / "sport" / "zebras-moved.txt").unlink()
    r = update_index([corpus], built, embedder=embedder)
    assert (r.added, r.changed, r.deleted, r.articles) == (0, 0, 1, 8)
    _, pids = check_consistent(built)
    assert top_article(built, "hippopotamus zebras") is None
    assert len(pids) == len(pids0)


def test_an_edit_embeds_only_the_paragraphs_whose_text_changed(corpus, built, embedder):
    path = sorted((corpus / "world").glob("*.txt"))[0]
    text = path.read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    assert len(paragraphs) >= 4
    last = paragraphs[-1]
    path.write_text(text.replace(last, last.rstrip() + " Officials declined to comment."), "utf-8")
    before = embedder.encoded_count
    r = update_index([corpus], built, embedder=embedder)
    assert r.changed == 1 and r.embedded == 1
    assert embedder.encoded_count - before == 1
    assert r.reused >= len(paragraphs) - 2  # the article's other paragraphs: from the cache
    check_consistent(built)


def test_touching_a_file_rehashes_once_and_changes_nothing(corpus, built, embedder):
    layout = IndexLayout(built)
    gen = layout.current_name()
    path = next((corpus / "sport").glob("*.txt"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    r = update_index([corpus], built, embedder=embedder)
    assert r.mode == "unchanged"
    # The fresh mtime is recorded (in a generation that shares every store file) ...
    assert layout.current_name() != gen
    entry = mf.load(layout.current()).files[str(path)]
    assert entry.mtime_ns == path.stat().st_mtime_ns
    # ... so the next run has nothing to hash.
    assert update_index([corpus], built, embedder=embedder).mode == "unchanged"
    assert stale(built)[0].stale_files == 0


def test_jsonl_record_edit_reindexes_that_record_only(tmp_path, embedder):
    records = [
        {"id": f"r{i}", "title": f"Record {i}", "text": f"Body of record number {i} about {w}."}
        for i, w in enumerate(["tides", "volcanoes", "glaciers"])
    ]
    src = tmp_path / "feed.jsonl"
    write(src, "\n".join(json.dumps(r) for r in records) + "\n")
    index_dir = tmp_path / "ix"
    update_index([src], index_dir, embedder=embedder)
    records[1]["text"] = "Body of record number 1 about geysers."
    write(src, "\n".join(json.dumps(r) for r in records) + "\n")
    r = update_index([src], index_dir, embedder=embedder)
    assert (r.added, r.changed, r.deleted, r.embedded) == (0, 1, 0, 1)
    assert top_article(index_dir, "geysers") == "r1" and top_article(index_dir, "volcanoes") is None
    check_consistent(index_dir)


def _file_fingerprints(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        f.name: (f.stat().st_ino, hashlib.sha256(f.read_bytes()).hexdigest())
        for f in sorted(folder.iterdir())
        if f.is_file()
    }


def test_updates_and_merges_never_modify_the_published_generation(corpus, built, embedder):
    """Whoosh segment files are hard-linked into the new generation: prove the old one's bytes
    survive many updates (enough small segments that Whoosh merges them)."""
    layout = IndexLayout(built)
    first = layout.current()
    before = _file_fingerprints(first / KEYWORD_DIR)
    store_bytes = {n: (first / n).read_bytes() for n in (DOCSTORE_FILE, VECTORS_FILE)}
    with Searcher(built) as reader:  # holds a lease: cleanup must keep `first`
        count = reader.keyword.doc_count()
        for i in range(12):
            write(corpus / "world" / f"extra-{i}.txt", ZEBRA.replace("Sunday", f"day {i}"))
            update_index([corpus], built, embedder=embedder)
        new_files = set(os.listdir(layout.current() / KEYWORD_DIR))
        assert first.is_dir() and _file_fingerprints(first / KEYWORD_DIR) == before
        assert {n: (first / n).read_bytes() for n in store_bytes} == store_bytes
        assert reader.search("zebras", k=3, mode="bm25").hits == []
        assert reader.keyword.doc_count() == count
    # Whoosh did merge: the newest generation no longer has all the first one's segments.
    assert not set(before) - {"MAIN_WRITELOCK"} <= new_files
    check_consistent(built)
    assert top_article(built, "zebras day 11") == "world/extra-11.txt"


def test_refresh_moves_a_reader_to_the_new_generation(corpus, built, embedder):
    with Searcher(built, embedder=embedder) as s:
        assert s.refresh() is False
        write(corpus / "world" / "zebras.txt", ZEBRA)
        update_index([corpus], built, embedder=embedder)
        assert s.search("zebras", k=1, mode="bm25").hits == []  # still the old generation
        assert s.refresh() is True
        assert s.search("zebras", k=1, mode="bm25").hits[0].article_id == "world/zebras.txt"
        assert s.meta.articles == 9


def test_cleanup_keeps_generations_that_readers_hold(corpus, built, embedder):
    layout = IndexLayout(built)
    with Searcher(built) as held:
        for i in range(3):
            write(corpus / "world" / f"n{i}.txt", ZEBRA)
            update_index([corpus], built, embedder=embedder)
        assert held.generation.is_dir()
        assert len(layout.generation_names()) == 3  # held, previous, current
    update_index([corpus], built, embedder=embedder, rebuild=True)
    assert len(layout.generation_names()) == 2  # lease released: back to current + previous


def test_another_model_or_format_is_refused_with_rebuild_hint(corpus, built, embedder):
    other = Embedder(replace(embedder.info, sha256="0" * 64, name="other-model"))
    with pytest.raises(ModelError, match="--rebuild"):
        update_index([corpus], built, embedder=other)
    with pytest.raises(ModelError, match="--rebuild"):
        Searcher(built, embedder=other)

    layout = IndexLayout(built)
    meta_path = layout.current() / "meta.json"
    data = json.loads(meta_path.read_text())
    data["format_version"] = 0
    meta_path.write_text(json.dumps(data))
    with pytest.raises(IndexFormatError, match="--rebuild"):
        update_index([corpus], built, embedder=embedder)
    with pytest.raises(IndexFormatError, match="--rebuild"):
        Searcher(built)
    r = update_index([corpus], built, embedder=embedder, rebuild=True)
    assert r.mode == "full" and r.embedded == 0
    check_consistent(built)


def test_an_index_without_manifest_gets_a_full_build(corpus, built, embedder):
    (IndexLayout(built).current() / mf.MANIFEST_FILE).unlink()
    r = update_index([corpus], built, embedder=embedder)
    assert r.mode == "full" and r.embedded == 0
    assert update_index([corpus], built, embedder=embedder).mode == "unchanged"


@pytest.mark.parametrize(
    "sub", ["", "sport", "sport/2026-04-26-omollo-marathon-world-record-valmont.txt"]
)
def test_the_scan_sees_the_files_the_reader_reads(sub):
    """The manifest is keyed by what the article reader records: they must never disagree."""
    from newsearch.indexer.corpus import read_articles, scan

    root = DEMO / sub if sub else DEMO
    files = scan([root])
    articles = read_articles([root]).articles
    assert [f.key for f in files] == [a.source_path for a in articles]
    assert [(f.rel, f.category) for f in files] == [(a.id, a.category) for a in articles]


def test_a_same_size_edit_within_the_same_mtime_tick_is_still_seen(corpus, built, embedder):
    """Size and mtime alone would miss this edit (the filesystem's clock may not have ticked);
    files whose mtime is close to the last scan are hashed again, as git does."""
    path = corpus / "world" / "zebras.txt"
    write(path, ZEBRA)
    update_index([corpus], built, embedder=embedder)
    st = path.stat()
    write(path, ZEBRA.replace("Sunday", "fiesta"))  # same length
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    r = update_index([corpus], built, embedder=embedder)
    assert r.changed == 1
    assert top_article(built, "fiesta") == "world/zebras.txt"


def test_a_duplicate_that_lost_in_a_full_build_comes_in_when_its_winner_is_deleted(
    tmp_path, embedder
):
    """A full build's manifest records the ids that lost to a duplicate (as an update's does),
    so deleting the winning file brings the loser in, as a fresh build of the folder would."""
    root = tmp_path / "c"
    write(root / "a.jsonl", json.dumps({"id": "X", "text": "Zebras crossed the river."}) + "\n")
    write(root / "b.jsonl", json.dumps({"id": "X", "text": "Giraffes ate acacia leaves."}) + "\n")
    index_dir = tmp_path / "ix"
    update_index([root], index_dir, embedder=embedder)
    assert top_article(index_dir, "giraffes acacia") is None  # b's X lost to a's
    (root / "a.jsonl").unlink()
    report = update_index([root], index_dir, embedder=embedder)
    assert report.mode == "incremental" and report.changed == 1
    assert top_article(index_dir, "giraffes acacia") == "X"
