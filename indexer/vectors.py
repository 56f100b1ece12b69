"""The dense-vector index over paragraph windows, stored with FAISS.

Vectors are unit length, so inner product is cosine similarity. A paragraph longer than the
model's window has several vectors; each vector's int64 FAISS id packs the paragraph id and
the window number, so a hit maps straight back to its paragraph and a paragraph scores by its
best window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from .embedder import MAX_WINDOWS
from .errors import IndexFormatError

WINDOW_BITS = 6
assert (1 << WINDOW_BITS) >= MAX_WINDOWS


def vector_id(pid: int, window: int) -> int:
    return (pid << WINDOW_BITS) | window


def paragraph_of(vid: int) -> int:
    return vid >> WINDOW_BITS


@dataclass(frozen=True)
class VectorHit:
    pid: int
    score: float


def write_index(path: Path, dim: int, ids: np.ndarray, vectors: np.ndarray) -> int:
    """Write an exact inner-product index keyed by ``ids``; returns the vector count."""
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    if len(ids):
        index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
        )
    tmp = path.with_suffix(".tmp")
    faiss.write_index(index, str(tmp))
    tmp.replace(path)
    return index.ntotal


class VectorIndex:
    """Read side. FAISS searches on a flat index are read-only and safe from many threads."""

    def __init__(self, path: Path, dim: int) -> None:
        try:
            self._index = faiss.read_index(str(path))
        except Exception as exc:  # faiss raises RuntimeError with a C++ message
            raise IndexFormatError(f"vector index {path} cannot be read: {exc}") from exc
        if self._index.d != dim:
            raise IndexFormatError(
                f"vector index {path} has dimension {self._index.d}, the index metadata says {dim}"
            )

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """All vector ids (for consistency checks)."""
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def search(self, query: np.ndarray, limit: int) -> list[VectorHit]:
        """Best paragraphs by their best window, best first, at most ``limit`` paragraphs."""
        if limit <= 0 or self.ntotal == 0:
            return []
        # Ask for extra windows: several windows of one long paragraph may crowd the top, and
        # ask again for more until ``limit`` distinct paragraphs are found (or all are seen).
        k = min(self.ntotal, limit * 2 + 8)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        while True:
            scores, ids = self._index.search(q, k)
            best: dict[int, float] = {}
            for vid, score in zip(ids[0].tolist(), scores[0].tolist(), strict=True):
                if vid < 0:
                    continue
                pid = paragraph_of(vid)
                if pid not in best:
                    best[pid] = score
            if len(best) >= limit or k >= self.ntotal:
                break
            k = min(self.ntotal, k * 4)
        hits = [VectorHit(pid, s) for pid, s in best.items()]
        return hits[:limit]
