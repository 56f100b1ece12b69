"""Embeddings remembered by (model weights hash, text hash): indexing time is embedding time.

Syndicated copies, unchanged paragraphs on a rebuild and moved files all map to texts already
seen, so they cost a lookup instead of a forward pass. The cache lives beside the generations
(not inside one) and is only ever appended to, in transactions, so a crash loses at most the
batch being written.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingCache:
    def __init__(self, path: Path, model_sha256: str, dim: int) -> None:
        self._conn = sqlite3.connect(str(path), timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS embeddings ("
            " model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL,"
            " PRIMARY KEY (model, key)) WITHOUT ROWID"
        )
        self._model = model_sha256
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
