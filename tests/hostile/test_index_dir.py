"""Hostile index directories: missing, empty, foreign, old, from another model, damaged in each
store, read-only, and a disk that fills up during a build.

Every failure is one ``error:`` line that says what happened and what to run, with a non-zero
exit code; a failed ``index`` run leaves the published generation as it was, and
``newsearch index PATH --rebuild`` always recovers. The stores are real files damaged on disk;
the full disk is a real size-limited tmpfs where the test may mount one, and otherwise (and
always, at each write layer) an ``OSError(ENOSPC)`` injected into the real write call.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import DEMO, write
from index_checks import check_consistent
from typer.testing import CliRunner

from newsearch.cli.main import app
from newsearch.indexer import IndexLayout, resolve_model
from newsearch.indexer.errors import StorageError
from newsearch.indexer.layout import CACHE_FILE, CURRENT, DOCSTORE_FILE, META, VECTORS_FILE
from newsearch.indexer.update import update_index
from newsearch.search import Searcher

runner = CliRunner()
EDIT = "\nLate result: the relay team set a national record in Valmont on Sunday evening.\n"
EDITED = "sport/2026-04-26-omollo-marathon-world-record-valmont.txt"


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    return " ".join(errors[0].split())


@pytest.fixture(scope="module")
def template(tmp_path_factory, embedder) -> Path:
    """DEMO/sport indexed, with the edited text already in the embedding cache."""
    root = tmp_path_factory.mktemp("index_dir")
    shutil.copytree(DEMO / "sport", root / "corpus" / "sport")
    edited = root / "edited" / "sport"
    shutil.copytree(DEMO / "sport", edited)
    with (edited / Path(EDITED).name).open("a", encoding="utf-8") as fh:
        fh.write(EDIT)
    update_index([root / "edited"], root / "ix", embedder=embedder)
    update_index([root / "corpus"], root / "ix", embedder=embedder, rebuild=True)
    shutil.rmtree(root / "edited")
    return root


@pytest.fixture
def built(template, tmp_path, embedder) -> tuple[Path, Path]:
    """A private copy: (corpus, index_dir), the index recording this copy's corpus."""
    shutil.copytree(template, tmp_path / "w")
    corpus, index_dir = tmp_path / "w" / "corpus", tmp_path / "w" / "ix"
    update_index([corpus], index_dir, embedder=embedder, rebuild=True)
    return corpus, index_dir


def edit(corpus: Path) -> None:
    with (corpus / EDITED).open("a", encoding="utf-8") as fh:
        fh.write(EDIT)


def snapshot(index_dir: Path) -> dict[str, bytes]:
    """Every file of the published generation and CURRENT, by path."""
    layout = IndexLayout(index_dir)
    files = {CURRENT: (index_dir / CURRENT).read_bytes()}
    gen = index_dir / "generations" / (index_dir / CURRENT).read_text().strip()
    for f in sorted(gen.rglob("*")):
        if f.is_file() and not f.name.endswith("LOCK"):
            files[str(f.relative_to(index_dir))] = f.read_bytes()
    assert layout.generations.is_dir()
    return files


def no_unfinished_builds(index_dir: Path) -> bool:
    return not any(p.name.startswith(".building") for p in (index_dir / "generations").iterdir())


# -- missing, empty, foreign ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["missing", "empty", "foreign", "file"])
def test_no_index_is_one_line_that_says_how_to_build_one(tmp_path, kind):
    target = tmp_path / "ix"
    if kind == "empty":
        target.mkdir()
    elif kind == "foreign":
        write(target / "notes.txt", "not an index")
        write(target / "generations" / "x" / "meta.json", "{}")
    elif kind == "file":
        write(target, "a file, not a folder")
    expected = "is a file" if kind == "file" else "newsearch index PATH"
    for args in (("query", "anything"), ("status",), ("index",)):
        result = cli(*args, "-i", target)
        assert result.exit_code == 1, result.output
        assert expected in one_error_line(result)
    if kind == "file":  # and nothing was written over it
        assert target.read_text() == "a file, not a folder"


# -- older format, another model -----------------------------------------------------------------


def test_older_format_says_rebuild_and_rebuild_works(built):
    corpus, ix = built
    meta = IndexLayout(ix).current() / META
    data = json.loads(meta.read_text())
    data["format_version"] = 0
    meta.write_text(json.dumps(data))
    for args in (("query", "marathon"), ("status",), ("index", corpus)):
        result = cli(*args, "-i", ix)
        assert result.exit_code == 1
        line = one_error_line(result)
        assert "format version 0" in line and "--rebuild" in line
    assert cli("index", corpus, "-i", ix, "--rebuild", "-q").exit_code == 0
    assert cli("query", "marathon", "-i", ix, "--mode", "bm25").exit_code == 0


def test_index_recorded_with_another_model(built):
    corpus, ix = built
    meta = IndexLayout(ix).current() / META
    data = json.loads(meta.read_text())
    data["model"]["sha256"] = "0" * 64
    meta.write_text(json.dumps(data))
    result = cli("query", "marathon", "-i", ix)  # hybrid needs the model that built the index
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "built with model" in line and "--rebuild" in line
    # keyword search needs no model
    assert cli("query", "marathon", "-i", ix, "--mode", "bm25").exit_code == 0
    edit(corpus)  # new text to embed: the packaged model is not the recorded one
    before = snapshot(ix)
    result = cli("index", corpus, "-i", ix, "-q")
    assert result.exit_code == 1 and "--rebuild" in one_error_line(result)
    assert snapshot(ix) == before
    assert cli("index", corpus, "-i", ix, "--rebuild", "-q").exit_code == 0
    assert cli("query", "relay team national record", "-i", ix).exit_code == 0


def test_another_model_folder_is_refused(built, tmp_path):
    corpus, ix = built
    other = tmp_path / "other-model"
    shutil.copytree(resolve_model().path, other)
    weights = other / "model.safetensors"
    with weights.open("r+b") as fh:  # the last byte of the weights: another model by its hash
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 1]))
    result = cli("query", "marathon", "-i", ix, "--model", other)
    assert result.exit_code == 1 and "built with model" in one_error_line(result)
    result = cli("index", corpus, "-i", ix, "--model", other, "-q")
    assert result.exit_code == 1 and "--rebuild" in one_error_line(result)


# -- damaged stores -------------------------------------------------------------------------------


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flipped":  # every byte at 50 evenly spaced places
        b = bytearray(data)
        for i in range(0, len(b), max(1, len(b) // 50)):
            b[i] ^= 0xFF
        path.write_bytes(bytes(b))
    else:
        path.write_bytes(b"")


def store_file(ix: Path, store: str) -> Path:
    gen = IndexLayout(ix).current()
    return {
        "CURRENT": ix / CURRENT,
        "meta": gen / META,
        "docstore": gen / DOCSTORE_FILE,
        "vectors": gen / VECTORS_FILE,
        "whoosh-segment": next((gen / "keyword").glob("*.seg")),
        "whoosh-toc": next((gen / "keyword").glob("*.toc")),
        "manifest": gen / "manifest.json",
        "embedding-cache": ix / CACHE_FILE,
    }[store]


#: store -> (queries fail?, an incremental `index` refuses?)
STORES = {
    "CURRENT": (True, True),
    "meta": (True, True),
    "docstore": (True, True),
    "vectors": (True, True),
    "whoosh-segment": (True, True),
    "whoosh-toc": (True, True),
    "manifest": (False, False),  # a lost manifest means a full build, nothing more
    "embedding-cache": (False, False),  # a cache: moved aside and started again
}


@pytest.mark.parametrize("how", ["truncated", "flipped", "empty"])
@pytest.mark.parametrize("store", list(STORES))
def test_damaged_store(built, store, how):
    corpus, ix = built
    queries_fail, index_refuses = STORES[store]
    damage(store_file(ix, store), how)  # a truncated CURRENT names a generation not there

    for mode in ("bm25", "hybrid"):
        result = cli("query", "marathon world record", "--mode", mode, "-i", ix)
        # FAISS is opened on the first dense query: keyword search never reads the vectors.
        if queries_fail and not (store == "vectors" and mode == "bm25"):
            assert result.exit_code == 1, result.output
            assert "--rebuild" in one_error_line(result)
        else:
            assert result.exit_code == 0, result.output

    edit(corpus)
    before = snapshot(ix) if store not in ("CURRENT", "manifest", "embedding-cache") else None
    result = cli("index", corpus, "-i", ix, "--json")
    if index_refuses:
        assert result.exit_code == 1, result.output
        assert "--rebuild" in one_error_line(result)
        if store not in ("CURRENT", "meta"):  # they are read first: nothing gets as far
            assert "nothing was changed" in one_error_line(result)
        if store != "CURRENT":
            assert snapshot(ix) == before  # the damaged generation was not built upon
        result = cli("index", corpus, "-i", ix, "--rebuild", "--json")
    assert result.exit_code == 0, result.output
    if store == "embedding-cache":
        summary = json.loads(result.stdout)
        assert any("embedding cache" in w for w in summary["warnings"]) or how == "empty"
    assert no_unfinished_builds(ix)
    check_consistent(ix)
    with Searcher(ix) as s:
        assert s.search("relay team national record", k=1, mode="bm25").hits[0].article_id == (
            EDITED
        )


# -- read-only ------------------------------------------------------------------------------------


@contextlib.contextmanager
def read_only_dir(parent: Path) -> Iterator[tuple[Path, Callable[[], object]]]:
    """A folder and a function that makes it read-only. Without root that is chmod; root
    ignores permissions, so there a tmpfs mounted on the folder is remounted read-only (when
    this process may mount one; else the test is skipped with the reason)."""
    folder = parent / "ro"
    folder.mkdir()
    if os.geteuid() != 0:

        def lock() -> None:
            for p in [*sorted(folder.rglob("*"), reverse=True), folder]:
                p.chmod(p.stat().st_mode & ~0o222)

        try:
            yield folder, lock
        finally:
            for p in [folder, *folder.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)
        return
    if not _mount(["-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)]):
        pytest.skip(
            "running as root, where permissions do not block writes, and cannot mount "
            "a tmpfs to make a read-only file system"
        )
    try:
        yield folder, lambda: _mount(["-o", "remount,ro", str(folder)], check=True)
    finally:
        _mount(["-l", str(folder)], umount=True)


def _mount(args: list[str], check: bool = False, umount: bool = False) -> bool:
    cmd = ["umount" if umount else "mount", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    if check and done.returncode != 0:
        raise RuntimeError(f"{cmd}: {done.stderr.decode()}")
    return done.returncode == 0


def test_read_only_index_serves_queries_and_refuses_writes_clearly(template, tmp_path):
    with read_only_dir(tmp_path) as (folder, lock):
        shutil.copytree(template / "corpus", tmp_path / "corpus")
        shutil.copytree(template / "ix", folder / "ix")
        ix = folder / "ix"
        lock()
        with pytest.raises(OSError):
            (ix / "probe").write_text("x")  # really read-only
        for mode in ("bm25", "hybrid"):
            result = cli("query", "marathon world record", "--mode", mode, "-i", ix, "--json")
            assert result.exit_code == 0, result.output
            assert json.loads(result.stdout)["hits"][0]["article_id"] == EDITED
        assert cli("status", "-i", ix, "--no-check").exit_code == 0
        edit(tmp_path / "corpus")
        for extra in ((), ("--rebuild",)):
            result = cli("index", tmp_path / "corpus", "-i", ix, *extra)
            assert result.exit_code == 4, result.output
            line = one_error_line(result)
            assert "read-only" in line or "permission denied" in line
            assert "still answers queries" in line and "newsearch index" in line
        result = cli("index", tmp_path / "corpus", "-i", folder / "new")
        assert result.exit_code == 4 and "could not write" in one_error_line(result)


# -- disk full ------------------------------------------------------------------------------------


def test_real_full_disk_keeps_the_published_index(template, tmp_path):
    """A 16 MB tmpfs holding the index, filled up before an update and a rebuild."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root (the injected ENOSPC tests run)")
    folder = tmp_path / "small"
    folder.mkdir()
    if not _mount(["-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)]):
        pytest.skip("cannot mount a tmpfs here (the injected ENOSPC tests run)")
    try:
        corpus = tmp_path / "corpus"
        shutil.copytree(template / "corpus", corpus)
        ix = folder / "ix"
        ix.mkdir()
        shutil.copyfile(template / "ix" / CACHE_FILE, ix / CACHE_FILE)  # no model time
        assert cli("index", corpus, "-i", ix, "-q").exit_code == 0
        free = shutil.disk_usage(folder).free
        with (folder / "filler").open("wb") as fh, contextlib.suppress(OSError):
            fh.write(b"\0" * (free - 8192))
        edit(corpus)
        before = snapshot(ix)
        for extra in ((), ("--rebuild",)):
            result = cli("index", corpus, "-i", ix, *extra)
            assert result.exit_code == 4, result.output
            line = one_error_line(result)
            assert "the disk is full" in line and "free some space" in line
            assert "still answers queries" in line
            assert snapshot(ix) == before and no_unfinished_builds(ix)
            with Searcher(ix) as s:
                assert s.search("marathon", k=1, mode="bm25").hits
        (folder / "filler").unlink()
        assert cli("index", corpus, "-i", ix, "-q").exit_code == 0
        check_consistent(ix)
    finally:
        _mount(["-l", str(folder)], umount=True)


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "injected")


def _sqlite_full(*args, **kwargs):
    raise sqlite3.OperationalError("database or disk is full")


def _faiss_full(*args, **kwargs):
    raise RuntimeError(
        "Error in void faiss::write_index(...) at /project/faiss/impl/index_write.cpp:1: "
        "write error: 12 != 4096 (No space left on device)"
    )


def _inject(monkeypatch, layer: str) -> None:
    """Make one real write call of the build fail the way a full disk makes it fail."""
    from newsearch.indexer import cache, docstore, keyword, layout, vectors

    if layer == "docstore":
        monkeypatch.setattr(docstore.DocstoreWriter, "add_article", _sqlite_full)
    elif layer == "keyword":
        monkeypatch.setattr(keyword, "write_index", _enospc)
        monkeypatch.setattr(keyword, "apply_changes", _enospc)
    elif layer == "vectors":
        monkeypatch.setattr(vectors, "_add_and_save", _faiss_full)
    elif layer == "cache":
        monkeypatch.setattr(cache.EmbeddingCache, "put_many", _sqlite_full)
    elif layer == "meta":
        monkeypatch.setattr(layout.IndexLayout, "write_meta", _enospc)
    elif layer == "CURRENT":  # the very last write: the new pointer
        real = os.replace

        def replace(src, dst, *a, **k):
            if str(dst).endswith(CURRENT):
                _enospc()
            return real(src, dst, *a, **k)

        monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("rebuild", [False, True], ids=["incremental", "rebuild"])
@pytest.mark.parametrize("layer", ["docstore", "keyword", "vectors", "cache", "meta", "CURRENT"])
def test_injected_full_disk_at_each_write_layer(built, embedder, monkeypatch, layer, rebuild):
    corpus, ix = built
    # new text, so that the cache is written too
    write(corpus / "sport" / "zz-late.txt", f"Late news {layer} {rebuild}\n\nA fresh {layer}.\n")
    before = snapshot(ix)
    _inject(monkeypatch, layer)
    with pytest.raises(StorageError) as failed:
        update_index([corpus], ix, embedder=embedder, rebuild=rebuild)
    message = str(failed.value)
    assert "the disk is full" in message and "free some space" in message
    assert "still answers queries" in message and "newsearch index" in message
    assert snapshot(ix) == before and no_unfinished_builds(ix)
    check_consistent(ix)
    with Searcher(ix) as s:
        assert s.search("marathon world record", k=1, mode="bm25").hits[0].article_id == EDITED
    monkeypatch.undo()
    report = update_index([corpus], ix, embedder=embedder, rebuild=rebuild)
    assert report.mode == ("full" if rebuild else "incremental")
    check_consistent(ix)


def test_injected_full_disk_through_the_cli_is_exit_4(built, monkeypatch):
    corpus, ix = built
    edit(corpus)
    _inject(monkeypatch, "meta")
    result = cli("index", corpus, "-i", ix)
    assert result.exit_code == 4
    assert "the disk is full" in one_error_line(result)
