"""The embedding cache (indexer/cache.py): real SQLite files in tmp_path, no model."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from newsearch.indexer.cache import EmbeddingCache, model_key, text_key

SHA = "c" * 64
DIM = 8


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def test_put_many_then_get_many_returns_the_same_vectors_after_reopening(tmp_path):
    path = tmp_path / "embeddings.sqlite"
    keys = [text_key(f"paragraph {i}") for i in range(1234)]  # more than one 500-key chunk
    vectors = _vectors(len(keys))
    cache = EmbeddingCache(path, SHA, DIM)
    cache.put_many(keys, vectors)
    cache.close()
    again = EmbeddingCache(path, SHA, DIM)
    got = again.get_many(keys)
    assert again.warning is None
    assert set(got) == set(keys)
    for key, vec in zip(keys, vectors, strict=True):
        assert got[key].dtype == np.float32 and np.array_equal(got[key], vec)
    # Keys never put are simply absent: the caller embeds those texts.
    assert again.get_many([text_key("never seen"), keys[0]]).keys() == {keys[0]}
    assert again.get_many([]) == {}
    again.close()


def test_vectors_are_stored_as_float32_and_a_put_replaces_the_old_vector(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite", SHA, DIM)
    key = text_key("text")
    cache.put_many([key], np.full((1, DIM), 0.5, dtype=np.float64))
    assert cache.get_many([key])[key].dtype == np.float32
    cache.put_many([key], np.full((1, DIM), 0.25, dtype=np.float32))
    assert np.array_equal(cache.get_many([key])[key], np.full(DIM, 0.25, np.float32))
    cache.close()


def test_keys_and_vectors_must_pair_up(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite", SHA, DIM)
    with pytest.raises(ValueError):
        cache.put_many([text_key("a"), text_key("b")], _vectors(1))
    assert cache.get_many([text_key("a")]) == {}  # nothing half-written
    cache.close()


def test_fp32_int8_and_other_weights_are_kept_apart(tmp_path):
    """One text, three embedding spaces: each lookup returns the vector of its own space."""
    path = tmp_path / "c.sqlite"
    key = text_key("the same paragraph")
    spaces = [(SHA, "fp32"), (SHA, "int8"), ("d" * 64, "fp32")]
    for seed, (sha, precision) in enumerate(spaces):
        cache = EmbeddingCache(path, sha, DIM, precision)
        cache.put_many([key], _vectors(1, seed))
        cache.close()
    for seed, (sha, precision) in enumerate(spaces):
        cache = EmbeddingCache(path, sha, DIM, precision)
        assert np.array_equal(cache.get_many([key])[key], _vectors(1, seed)[0])
        cache.close()
    # fp32 rows keep the bare weights hash they had before int8 existed.
    conn = sqlite3.connect(str(path))
    models = {m for (m,) in conn.execute("SELECT model FROM embeddings")}
    conn.close()
    assert models == {SHA, f"{SHA}/int8", "d" * 64}
    assert model_key(SHA) == model_key(SHA, "fp32") == SHA != model_key(SHA, "int8")


def test_vectors_of_another_dimension_are_not_returned(tmp_path):
    path = tmp_path / "c.sqlite"
    key = text_key("text")
    small = EmbeddingCache(path, SHA, 4)
    small.put_many([key], np.ones((1, 4), np.float32))
    small.close()
    big = EmbeddingCache(path, SHA, DIM)
    assert big.get_many([key]) == {}
    big.close()


def test_text_key_is_stable_across_processes_and_exact_about_the_text():
    key = text_key("Zebras crossed the river — on Sunday.")
    assert isinstance(key, bytes) and len(key) == 16
    assert text_key("Zebras crossed the river — on Sunday.") == key
    # Not Python's salted hash(): another process with another hash seed gets the same key.
    code = (
        "from newsearch.indexer.cache import text_key; print(text_key("
        + repr("Zebras crossed the river — on Sunday.")
        + ").hex())"
    )
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        assert out == key.hex()
    variants = ["zebras crossed the river — on Sunday.", "Zebras crossed the river —  on Sunday."]
    variants += ["Zebras crossed the river — on Sunday. ", "", "Zebras"]
    assert len({text_key(v) for v in variants} | {key}) == len(variants) + 1


def test_a_damaged_cache_file_is_moved_aside_with_a_warning(tmp_path):
    path = tmp_path / "embeddings.sqlite"
    garbage = b"this is not an sqlite database " * 200
    path.write_bytes(garbage)
    cache = EmbeddingCache(path, SHA, DIM)
    assert cache.warning is not None
    assert str(path) in cache.warning and "damaged" in cache.warning
    aside = [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
    assert len(aside) == 1 and aside[0].name.startswith("embeddings.sqlite.damaged-")
    assert aside[0].name in cache.warning
    assert aside[0].read_bytes() == garbage  # moved, not deleted
    # ... and a new, working cache took its place.
    key = text_key("text")
    cache.put_many([key], _vectors(1))
    assert np.array_equal(cache.get_many([key])[key], _vectors(1)[0])
    cache.close()
    again = EmbeddingCache(path, SHA, DIM)
    assert again.warning is None and key in again.get_many([key])
    again.close()


def test_a_cache_found_damaged_while_in_use_is_dropped_for_the_run(tmp_path):
    """Damage found by a lookup must not fail the build: no more lookups or writes, a warning,
    and the file is left where it is (the user is told to delete it)."""
    path = tmp_path / "embeddings.sqlite"
    keys = [text_key(str(i)) for i in range(3000)]
    cache = EmbeddingCache(path, SHA, DIM)
    cache.put_many(keys, _vectors(len(keys)))
    cache.close()
    cache = EmbeddingCache(path, SHA, DIM)
    assert cache.warning is None
    size = path.stat().st_size
    with path.open("r+b") as fh:  # keep the header page, overwrite every page of the table
        fh.seek(4096)
        fh.write(b"\xff" * (size - 4096))
    assert cache.get_many(keys) == {}
    assert cache.warning is not None and "damaged" in cache.warning and "delete" in cache.warning
    cache.put_many(keys[:1], _vectors(1))  # ignored, not raised
    assert cache.get_many(keys[:1]) == {}
    cache.close()
    assert [p.name for p in tmp_path.iterdir() if ".damaged-" in p.name] == []


def test_a_cache_that_cannot_be_opened_for_another_reason_is_not_moved_aside(tmp_path):
    """Only damage moves the file: a folder that does not exist is an error to report."""
    with pytest.raises(sqlite3.OperationalError):
        EmbeddingCache(tmp_path / "no such folder" / "c.sqlite", SHA, DIM)
    assert list(tmp_path.iterdir()) == []


def test_a_committed_put_survives_the_process_being_killed(tmp_path):
    """Commits do not wait for the disk (synchronous=NORMAL), but a killed build still keeps
    every chunk it committed."""
    path = tmp_path / "embeddings.sqlite"
    script = (
        "import os, numpy as np\n"
        "from newsearch.indexer.cache import EmbeddingCache, text_key\n"
        f"c = EmbeddingCache({str(path)!r}, {SHA!r}, {DIM})\n"
        f"c.put_many([text_key('kept')], np.ones((1, {DIM}), dtype=np.float32))\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    cache = EmbeddingCache(path, SHA, DIM)
    assert np.array_equal(cache.get_many([text_key("kept")])[text_key("kept")], np.ones(DIM))
    assert cache._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    cache.close()
