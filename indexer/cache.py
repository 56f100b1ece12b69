"""Embeddings remembered by (model weights hash, precision, text hash): indexing time is
embedding time.

Syndicated copies, unchanged paragraphs on a rebuild and moved files all map to texts already
seen, so they cost a lookup instead of a forward pass. The cache lives beside the generations
(not inside one) and is only ever appended to, in transactions, so a crash loses at most the
batch being written.

fp32 and int8 vectors of the same weights are different embedding spaces: the ``model``
column is the weights' sha256 for fp32 (as before int8 existed, so old caches stay valid) and
``<sha256>/int8`` for int8, so a lookup never returns a vector of the other precision.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """A corrupt file, as opposed to a full disk or a lock (``OperationalError``)."""
    name = getattr(exc, "sqlite_errorname", None)  # Python 3.11+
    if name is not None:
        return name in ("SQLITE_CORRUPT", "SQLITE_NOTADB")
    return type(exc) is sqlite3.DatabaseError


def model_key(model_sha256: str, precision: str = "fp32") -> str:
    """The cache's ``model`` column for vectors of these weights at this precision."""
    return model_sha256 if precision == "fp32" else f"{model_sha256}/{precision}"


class EmbeddingCache:
    """The cache of one model. A damaged cache file is moved aside and a new one started, and
    one that turns out damaged later is no longer used: it only ever saves time, so it must
    never fail a build. ``warning`` then says what happened."""

    def __init__(self, path: Path, model_sha256: str, dim: int, precision: str = "fp32") -> None:
        self._model = model_key(model_sha256, precision)
        self._dim = dim
        self._path = path
        self.warning: str | None = None
        try:
            self._conn = self._open(path)
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc):
                raise
            aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            for suffix in ("", "-wal", "-shm"):
                src = Path(f"{path}{suffix}")
                if src.exists():
                    src.rename(f"{aside}{suffix}")
            self.warning = (
                f"the embedding cache {path} was damaged ({exc}): moved it to {aside.name} and "
                "started a new one, so texts are embedded again"
            )
            self._conn = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # No fsync per commit: in WAL mode a commit then survives the process being killed
            # (it is in the OS's cache) and only an OS crash or power loss can lose the last
            # ones, never corrupting the file (SQLite's documentation). The cache only ever
            # saves time, and a cold build commits every 512 texts, each time waiting for the disk.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS embeddings ("
                " model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL,"
                " PRIMARY KEY (model, key)) WITHOUT ROWID"
            )
        except BaseException:
            conn.close()
            raise
        return conn

    def _damaged(self, exc: sqlite3.DatabaseError) -> None:
        """Stop using a cache found damaged while in use (the build goes on without it)."""
        if not _is_damage(exc):
            raise exc
        self.warning = (
            f"the embedding cache {self._path} is damaged ({exc}): not used for the rest of this "
            "run; delete it to start a new one"
        )
        self._conn.close()
        self._conn = None

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        out: dict[bytes, np.ndarray] = {}
        try:
            for i in range(0, len(keys), 500):
                if self._conn is None:
                    break
                chunk = list(keys[i : i + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT key, vector FROM embeddings WHERE model = ? AND key IN ({marks})",
                    [self._model, *chunk],
                )
                for key, blob in rows:
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape[0] == self._dim:
                        out[key] = vec
        except sqlite3.DatabaseError as exc:
            self._damaged(exc)
        return out

    def put_many(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        if self._conn is None:
            return
        rows = [
            (self._model, k, np.asarray(v, dtype=np.float32).tobytes())
            for k, v in zip(keys, vectors, strict=True)
        ]
        try:
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?,?,?)", rows)
        except sqlite3.DatabaseError as exc:
            self._damaged(exc)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
