"""The dense-vector index over paragraph windows, stored with FAISS.

Vectors are unit length, so inner product is cosine similarity. A paragraph longer than the
model's window has several vectors; each vector's int64 FAISS id packs the paragraph id and
the window number, so a hit maps straight back to its paragraph and a paragraph scores by its
best window.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .encoders.windows import MAX_WINDOWS
from .errors import DamagedStoreError, IndexFormatError

WINDOW_BITS = 6
#: Past this many vectors an exact scan (~4 ms per 100k vectors per core, memory-bound) is
#: replaced by HNSW; bench/speed.py reports its recall@10 against exact search.
HNSW_MIN_VECTORS = 250_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
#: Candidates HNSW explores per query (at least k); 256 keeps recall@10 ~0.99 (bench).
HNSW_EF_SEARCH = 256
assert (1 << WINDOW_BITS) >= MAX_WINDOWS


def vector_id(pid: int, window: int) -> int:
    return (pid << WINDOW_BITS) | window


def paragraph_of(vid: int) -> int:
    return vid >> WINDOW_BITS


def choose_kind(count: int) -> str:
    """``flat`` (exact) up to :data:`HNSW_MIN_VECTORS`, ``hnsw`` (approximate) past it."""
    return "hnsw" if count >= HNSW_MIN_VECTORS else "flat"


def write_index(
    path: Path, dim: int, ids: np.ndarray, vectors: np.ndarray, kind: str = "auto"
) -> int:
    """Write an inner-product index keyed by ``ids``; returns the vector count.

    ``kind`` is ``flat`` (exact), ``hnsw`` or ``auto`` (by size, see :func:`choose_kind`).
    """
    import faiss  # here, not at the top: only commands that touch vectors pay for it

    kind = choose_kind(len(ids)) if kind == "auto" else kind
    if kind == "hnsw":
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # building HNSW does use every core
        base = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    elif kind == "flat":
        base = faiss.IndexFlatIP(dim)
    else:
        raise ValueError(f"unknown vector index kind {kind!r}")
    index = faiss.IndexIDMap2(base)
    return _add_and_save(index, path, ids, vectors)


class VectorIndex:
    """Read side. FAISS searches (flat or HNSW, parameters fixed at open) are read-only and
    safe from many threads."""

    def __init__(self, path: Path, dim: int) -> None:
        import faiss

        # One query at a time gains nothing from OpenMP on a flat scan, and on a shared
        # machine its spinning threads cost 100+ ms per search (measured: 2 ms vs 150 ms).
        faiss.omp_set_num_threads(1)
        try:
            # Map the vectors instead of reading them: opening is ~1 ms instead of ~200 ms.
            self._index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        except Exception as exc:  # faiss raises RuntimeError with a C++ message
            raise DamagedStoreError(
                f"vector index {path} cannot be read ({_faiss_reason(exc)})"
            ) from None
        self.kind = "flat"
        base = faiss.downcast_index(self._index.index) if hasattr(self._index, "index") else None
        if isinstance(base, faiss.IndexHNSW):
            base.hnsw.efSearch = HNSW_EF_SEARCH
            self.kind = "hnsw"
        if self._index.d != dim:
            raise DamagedStoreError(
                f"vector index {path} has dimension {self._index.d}, the index metadata says {dim}"
            )

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """All vector ids (for consistency checks)."""
        import faiss

        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def ranked(self, query: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """Best paragraphs by their best window, best first, at most ``limit`` of them, as
        (paragraph id, cosine) pairs: no object per candidate (a query asks for a thousand)."""
        if limit <= 0 or self.ntotal == 0:
            return []
        # Ask for extra windows: several windows of one long paragraph may crowd the top, and
        # ask again for more until ``limit`` distinct paragraphs are found (or all are seen).
        k = min(self.ntotal, limit * 2 + 8)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        while True:
            scores, ids = self._index.search(q, k)
            found = ids[0] >= 0
            pids = ids[0][found] >> WINDOW_BITS
            scores = scores[0][found]
            # Results come best first: a paragraph's first window in the list is its best.
            first = np.sort(np.unique(pids, return_index=True)[1])
            if len(first) >= limit or k >= self.ntotal:
                break
            k = min(self.ntotal, k * 4)
        first = first[:limit]
        return list(zip(pids[first].tolist(), scores[first].tolist(), strict=True))

    def paragraph_vectors(self, pids: Iterable[int]) -> np.ndarray:
        """The stored vectors of paragraphs, every window of each (rows in ``pids`` order; a
        paragraph with no vector gives no row): what "more like this" searches with, read back
        instead of encoding the article again."""
        rows = []
        for pid in pids:
            for window in range(1 << WINDOW_BITS):
                try:
                    rows.append(self._index.reconstruct(vector_id(pid, window)))
                except RuntimeError:  # no such id: the paragraph has no more windows
                    break
        if not rows:
            return np.zeros((0, self._index.d), dtype=np.float32)
        return np.vstack(rows).astype(np.float32, copy=False)


def _faiss_reason(exc: Exception) -> str:
    """The end of a FAISS C++ message ("Error in <signature> at <file>:<line>: <reason>")."""
    text = " ".join(str(exc).split())
    if "read error" in text:
        return "the file is truncated"
    reason = text.rsplit(": ", 1)[-1] if " at /" in text else text
    return reason[:200] or type(exc).__name__


def apply_changes(
    path: Path, remove_pids: Iterable[int], ids: np.ndarray, vectors: np.ndarray
) -> int:
    """Remove every window of ``remove_pids``, add ``vectors`` under ``ids``, rewrite the file
    (through a temporary file and a rename); returns the new vector count."""
    import faiss

    index = faiss.read_index(str(path))
    drop_pids = np.fromiter(remove_pids, dtype=np.int64)
    if len(drop_pids) and isinstance(faiss.downcast_index(index.index), faiss.IndexHNSW):
        # FAISS cannot remove vectors from an HNSW graph.
        raise IndexFormatError(
            f"{path} is an HNSW index, which cannot drop vectors in place: "
            "apply this change with `newsearch index PATH --rebuild`"
        )
    if len(drop_pids) and index.ntotal:
        existing = faiss.vector_to_array(index.id_map).astype(np.int64)
        drop = existing[np.isin(existing >> WINDOW_BITS, drop_pids)]
        if len(drop):
            index.remove_ids(np.ascontiguousarray(drop))
    return _add_and_save(index, path, ids, vectors)


def _add_and_save(index, path: Path, ids: np.ndarray, vectors: np.ndarray) -> int:
    """Add ``vectors`` under ``ids`` and write the index through a temporary file and a rename,
    so a reader never maps a half-written file; returns the vector count."""
    import faiss

    if len(ids):
        index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
        )
    tmp = path.with_suffix(".tmp")
    faiss.write_index(index, str(tmp))
    tmp.replace(path)
    return int(index.ntotal)
