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
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def model_key(model_sha256: str, precision: str = "fp32") -> str:
    """The cache's ``model`` column for vectors of these weights at this precision."""
    return model_sha256 if precision == "fp32" else f"{model_sha256}/{precision}"


class EmbeddingCache:
    def __init__(self, path: Path, model_sha256: str, dim: int, precision: str = "fp32") -> None:
        self._conn = sqlite3.connect(str(path), timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS embeddings ("
            " model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL,"
            " PRIMARY KEY (model, key)) WITHOUT ROWID"
        )
        self._model = model_key(model_sha256, precision)
        self._dim = dim

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        out: dict[bytes, np.ndarray] = {}
        for i in range(0, len(keys), 500):
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
        return out

    def put_many(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        rows = [
            (self._model, k, np.asarray(v, dtype=np.float32).tobytes())
            for k, v in zip(keys, vectors, strict=True)
        ]
        with self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?,?,?)", rows)

    def close(self) -> None:
        self._conn.close()
