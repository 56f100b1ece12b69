"""The index directory (indexer/layout.py): generations, CURRENT, meta, locks, leases, copies.

No model and no engine: generations hold small files named as the layout names them, so what
is tested is the layout's own logic on a real filesystem.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from newsearch.indexer.encoders import ModelInfo
from newsearch.indexer.errors import IndexFormatError, IndexNotFoundError, LockedError
from newsearch.indexer.layout import (
    CURRENT,
    DOCSTORE_FILE,
    FORMAT_VERSION,
    KEYWORD_DIR,
    LOCK_FILE,
    META,
    READER_LOCK,
    VECTORS_FILE,
    IndexLayout,
    IndexMeta,
    copy_generation,
)

MODEL = ModelInfo("all-MiniLM-L6-v2", "/models/minilm", "a" * 64, 384, 256)


def _meta(**changes) -> IndexMeta:
    meta = IndexMeta(MODEL, articles=3, paragraphs=9, vectors=9, sources=["/corpus"])
    for name, value in changes.items():
        setattr(meta, name, value)
    return meta


def _publish(layout: IndexLayout, mtime: float | None = None) -> Path:
    """A published generation holding a meta.json (what readers check) and one store file."""
    gen = layout.new_generation()
    layout.write_meta(gen, _meta())
    (gen / DOCSTORE_FILE).write_bytes(b"docstore")
    final = layout.publish(gen)
    if mtime is not None:
        os.utime(final, (mtime, mtime))
    return final


def test_a_new_generation_is_private_until_published(tmp_path):
    layout = IndexLayout(tmp_path / "ix")
    building = layout.new_generation()
    assert building.parent == layout.generations and building.name.startswith(".")
    assert (building / READER_LOCK).is_file()
    assert not layout.exists() and layout.generation_names() == []
    with pytest.raises(IndexNotFoundError):
        layout.current()
    assert layout.new_generation() != building  # two builds never share a folder


def test_publish_renames_the_build_and_points_current_at_it(tmp_path):
    layout = IndexLayout(tmp_path / "ix")
    building = layout.new_generation()
    layout.write_meta(building, _meta())
    (building / DOCSTORE_FILE).write_bytes(b"docstore")
    final = layout.publish(building)
    assert not building.exists() and final.parent == layout.generations
    assert not final.name.startswith(".")
    assert (layout.root / CURRENT).read_text(encoding="utf-8") == final.name + "\n"
    assert layout.exists() and layout.current_name() == final.name and layout.current() == final
    assert (final / DOCSTORE_FILE).read_bytes() == b"docstore"
    assert layout.generation_names() == [final.name]
    assert sorted(p.name for p in layout.root.iterdir()) == [CURRENT, "generations"]  # no .tmp
    second = _publish(layout)
    assert layout.current() == second and final.is_dir()  # the previous one is still there


def test_current_name_says_what_is_wrong(tmp_path):
    with pytest.raises(IndexNotFoundError, match="no index at"):
        IndexLayout(tmp_path / "nowhere").current_name()
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError, match="holds no newsearch index"):
        IndexLayout(tmp_path / "empty").current_name()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(IndexNotFoundError, match="is a file"):
        IndexLayout(tmp_path / "a-file").current_name()


@pytest.mark.parametrize(
    "pointer", [b"", b"\n", b"../../etc", b"a/b", b".building-x", b"\xff\xfe", b"x" * 300]
)
def test_a_damaged_current_is_a_format_error_that_says_rebuild(tmp_path, pointer):
    layout = IndexLayout(tmp_path)
    (tmp_path / CURRENT).write_bytes(pointer)
    with pytest.raises(IndexFormatError, match="--rebuild"):
        layout.current_name()


def test_current_naming_a_missing_generation_says_rebuild(tmp_path):
    layout = IndexLayout(tmp_path)
    (tmp_path / CURRENT).write_text("20260101T000000-1-2\n")
    assert layout.current_name() == "20260101T000000-1-2"
    with pytest.raises(IndexFormatError, match=r"missing.*--rebuild"):
        layout.current()


def test_meta_round_trip(tmp_path):
    layout = IndexLayout(tmp_path)
    meta = _meta(built_at="2026-04-26T10:00:00+00:00", build_seconds=1.5, window_tokens=128)
    layout.write_meta(tmp_path, meta)
    assert layout.read_meta(tmp_path) == meta
    assert not (tmp_path / (META + ".tmp")).exists()


@pytest.mark.parametrize("version", [0, FORMAT_VERSION + 1, None, "1"])
def test_read_meta_refuses_another_format_version(tmp_path, version):
    layout = IndexLayout(tmp_path)
    data = _meta().to_json()
    if version is None:
        del data["format_version"]
    else:
        data["format_version"] = version
    (tmp_path / META).write_text(json.dumps(data))
    with pytest.raises(IndexFormatError, match=f"format version {version}.*--rebuild"):
        layout.read_meta(tmp_path)


@pytest.mark.parametrize("content", [None, "", "{not json", "[1, 2]"])
def test_read_meta_refuses_a_missing_or_damaged_file(tmp_path, content):
    if content is not None:
        (tmp_path / META).write_text(content)
    with pytest.raises(IndexFormatError, match="--rebuild"):
        IndexLayout(tmp_path).read_meta(tmp_path)


def test_read_meta_refuses_a_meta_of_the_right_version_with_wrong_fields(tmp_path):
    data = _meta().to_json()
    data["colour"] = "blue"
    (tmp_path / META).write_text(json.dumps(data))
    with pytest.raises(IndexFormatError, match="damaged"):
        IndexLayout(tmp_path).read_meta(tmp_path)


def test_cleanup_keeps_the_current_and_the_previous_generation(tmp_path):
    layout = IndexLayout(tmp_path / "ix")
    now = time.time()
    oldest, older, previous = (_publish(layout, now - 300 + 100 * i) for i in range(3))
    current = _publish(layout, now - 400)  # the newest publish, even with the oldest mtime
    unfinished = layout.new_generation()
    removed = layout.cleanup()
    assert sorted(removed) == sorted([unfinished.name, oldest.name, older.name])
    assert layout.generation_names() == [current.name, previous.name]  # oldest mtime first
    assert layout.current() == current
    assert layout.cleanup() == []  # nothing more to do
    assert layout.cleanup(keep_previous=0) == [previous.name]
    assert layout.generation_names() == [current.name]


def test_cleanup_with_a_damaged_current_removes_only_unfinished_builds(tmp_path):
    layout = IndexLayout(tmp_path / "ix")
    gens = [_publish(layout, time.time() - 100 * i) for i in range(3)]
    unfinished = layout.new_generation()
    (layout.root / CURRENT).write_text("../../etc\n")
    assert layout.cleanup() == [unfinished.name]
    assert all(g.is_dir() for g in gens)


def test_cleanup_of_a_directory_without_generations(tmp_path):
    assert IndexLayout(tmp_path / "nothing").cleanup() == []
    assert IndexLayout(tmp_path).remove_unfinished() == []


def test_open_current_leases_keep_a_generation_from_cleanup(tmp_path):
    layout = IndexLayout(tmp_path / "ix")
    now = time.time()
    held = _publish(layout, now - 300)
    gen, lease = layout.open_current()
    assert gen == held and lease is not None
    second = _publish(layout, now - 200)
    current = _publish(layout, now - 100)
    # keep_previous=0 would remove both old ones; the reader's lease keeps the one it reads.
    assert layout.cleanup(keep_previous=0) == [second.name]
    assert held.is_dir() and (held / META).is_file()
    layout.release(lease)
    assert layout.cleanup(keep_previous=0) == [held.name]
    assert layout.generation_names() == [current.name]


def test_two_readers_share_a_generation_and_the_last_one_out_frees_it(tmp_path):
    layout = IndexLayout(tmp_path / "ix")
    held = _publish(layout, time.time() - 100)
    (_, first), (_, second) = layout.open_current(), layout.open_current()
    _publish(layout)
    layout.release(first)
    assert layout.cleanup(keep_previous=0) == [] and held.is_dir()
    layout.release(second)
    assert layout.cleanup(keep_previous=0) == [held.name]


def test_open_current_without_a_reader_lock_opens_without_a_lease(tmp_path):
    """A read-only copy or an older build has no reader.lock: readable, just not leased."""
    layout = IndexLayout(tmp_path / "ix")
    gen = _publish(layout)
    (gen / READER_LOCK).unlink()
    assert layout.open_current() == (gen, None)
    layout.release(None)  # no lease, nothing to release


def test_open_current_of_a_generation_without_meta_gives_up_with_a_clear_error(tmp_path):
    layout = IndexLayout(tmp_path / "ix")
    gen = _publish(layout)
    (gen / META).unlink()  # what a generation looks like while cleanup removes it
    with pytest.raises(IndexFormatError, match="keeps changing"):
        layout.open_current()


HOLD_LOCK = """
import sys
from newsearch.indexer.layout import IndexLayout
with IndexLayout(sys.argv[1]).writer_lock():
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _holder(root: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_writer_lock_is_exclusive_across_processes(tmp_path):
    layout = IndexLayout(tmp_path / "ix")
    holder = _holder(layout.root)
    try:
        assert (layout.root / LOCK_FILE).read_text() == f"{holder.pid}\n"
        started = time.monotonic()
        with pytest.raises(LockedError, match="--wait"), layout.writer_lock():
            pass
        with pytest.raises(LockedError), layout.writer_lock(wait=0.5):
            pass
        assert time.monotonic() - started >= 0.5  # it did wait before giving up
    finally:
        holder.communicate("\n", timeout=30)
    with layout.writer_lock():  # released when the holder let go
        assert (layout.root / LOCK_FILE).read_text() == f"{os.getpid()}\n"


def test_writer_lock_with_wait_gets_the_lock_when_it_is_released(tmp_path):
    layout = IndexLayout(tmp_path / "ix")
    holder = _holder(layout.root)

    def let_go() -> None:
        holder.stdin.write("\n")
        holder.stdin.flush()

    timer = threading.Timer(0.6, let_go)
    timer.start()
    try:
        started = time.monotonic()
        with layout.writer_lock(wait=30):
            waited = time.monotonic() - started
        assert 0.5 <= waited < 30
    finally:
        timer.cancel()
        holder.communicate(timeout=30)


def test_a_killed_holder_leaves_the_lock_free(tmp_path):
    layout = IndexLayout(tmp_path / "ix")
    holder = _holder(layout.root)
    holder.kill()
    holder.communicate(timeout=30)
    with layout.writer_lock():
        pass


def test_writer_lock_in_the_same_process_is_exclusive_too(tmp_path):
    """Two builds in one process (threads, a library user) must not both write."""
    layout = IndexLayout(tmp_path / "ix")
    with layout.writer_lock(), pytest.raises(LockedError), layout.writer_lock():
        pass
    with layout.writer_lock():
        pass


def test_writer_lock_on_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with (
        pytest.raises(IndexNotFoundError, match="is a file"),
        IndexLayout(tmp_path / "f").writer_lock(),
    ):
        pass


def _fake_generation(root: Path) -> Path:
    kw = root / KEYWORD_DIR
    kw.mkdir(parents=True)
    for name in ("MAIN_abc123.seg", "_MAIN_3.toc", "MAIN_def456.seg"):
        (kw / name).write_bytes(name.encode() * 10)
    for name in ("MAIN_WRITELOCK", "MAIN_READLOCK", "other.lock"):
        (kw / name).write_bytes(b"")
    (kw / "subdir").mkdir()
    (root / DOCSTORE_FILE).write_bytes(b"sqlite bytes")
    (root / VECTORS_FILE).write_bytes(b"faiss bytes")
    return root


def _inode(path: Path) -> int:
    return path.stat().st_ino


def test_copy_generation_links_whoosh_files_and_copies_the_stores(tmp_path):
    src = _fake_generation(tmp_path / "src")
    dst = tmp_path / "dst"
    dst.mkdir()  # copied into a folder new_generation made
    copy_generation(src, dst)
    kw_src, kw_dst = src / KEYWORD_DIR, dst / KEYWORD_DIR
    assert sorted(p.name for p in kw_dst.iterdir()) == [
        "MAIN_abc123.seg",
        "MAIN_def456.seg",
        "_MAIN_3.toc",
    ]  # no lock files, no folders
    for f in kw_dst.iterdir():
        assert _inode(f) == _inode(kw_src / f.name)  # hard links: no bytes copied
    for name in (DOCSTORE_FILE, VECTORS_FILE):
        assert _inode(dst / name) != _inode(src / name)
        assert (dst / name).read_bytes() == (src / name).read_bytes()
    # SQLite writes in place: a write to the copy must not reach the published docstore.
    with (dst / DOCSTORE_FILE).open("r+b") as fh:
        fh.write(b"SQLITE")
    assert (src / DOCSTORE_FILE).read_bytes() == b"sqlite bytes"


def test_copy_generation_can_link_the_stores_too(tmp_path):
    src = _fake_generation(tmp_path / "src")
    dst = tmp_path / "dst"
    copy_generation(src, dst, link_stores=True)  # dst need not exist
    for name in (DOCSTORE_FILE, VECTORS_FILE):
        assert _inode(dst / name) == _inode(src / name)
    assert _inode(dst / KEYWORD_DIR / "_MAIN_3.toc") == _inode(src / KEYWORD_DIR / "_MAIN_3.toc")
