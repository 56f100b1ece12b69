"""The dense-vector index over paragraph windows, stored with FAISS.

Vectors are unit length, so inner product is cosine similarity. A paragraph longer than the
model's window has several vectors; each vector's int64 FAISS id packs the paragraph id and
the window number, so a hit maps straight back to its paragraph and a paragraph scores by its
best window.

Three kinds of index (``choose_kind``; bench/vectors_scale.py has the numbers behind them):

- ``flat``: exact, fp32 vectors in an id map. Below :data:`IVF_MIN_VECTORS`.
- ``ivf-sq8``: an inverted file of ``nlist`` k-means cells holding 8-bit scalar-quantized
  vectors (a quarter of fp32's memory); a query scans the :data:`IVF_PROBE_SHARE` of the
  cells nearest to it.
  It deletes and adds in place, so an incremental update never needs a rebuild.
- ``hnsw``: what large indexes used to get; still opened and searched, but it cannot delete.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .encoders.windows import MAX_WINDOWS
from .errors import DamagedStoreError, IndexFormatError
from .ranked import Ranked

WINDOW_BITS = 6
#: From this many vectors an exact scan (~12 ms per 100k vectors on one quiet core, growing
#: linearly; 1M: 1.5 GB and 185 ms on a loaded core) gives way to IVF-SQ8 (a quarter of the
#: memory, 6.7x faster at 1M, one-article update 0.8 s instead of 12 s; bench/vectors_scale.py).
IVF_MIN_VECTORS = 200_000
#: Share of the k-means cells a query scans. Recall@10 against exact, real queries on real
#: and perturbed-replica vectors (bench/vectors_scale.py): at 1M (1,000 cells) 0.961 / 0.978
#: / 0.9795 / 0.989 scanning 13 / 26 / 30 / 40 %; at 100k (316 cells) 0.972 / 0.9855 / 0.989
#: scanning 20 / 30 / 40 %; 35 %: 0.982 at 1M, 0.988 at 100k (BENCHMARKS.md).
IVF_PROBE_SHARE = 0.35
#: Training points per k-means cell (FAISS warns below 39) and k-means iterations: training
#: dominates the build on two cores (kept small; not tuned further).
IVF_TRAIN_PER_CELL = 50
IVF_TRAIN_ITERATIONS = 10
KINDS = ("flat", "ivf-sq8", "hnsw")
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
#: Candidates HNSW explores per query (at least k); 256 keeps recall@10 ~0.99 (bench).
HNSW_EF_SEARCH = 256
assert (1 << WINDOW_BITS) >= MAX_WINDOWS


def vector_id(pid: int, window: int) -> int:
    return (pid << WINDOW_BITS) | window


def paragraph_of(vid: int) -> int:
    return vid >> WINDOW_BITS


def choose_kind(count: int, ivf_min: int | None = None) -> str:
    """``flat`` (exact) below ``ivf_min`` (default :data:`IVF_MIN_VECTORS`) vectors,
    ``ivf-sq8`` from there on."""
    return "ivf-sq8" if count >= (IVF_MIN_VECTORS if ivf_min is None else ivf_min) else "flat"


def ivf_cells(count: int) -> int:
    """k-means cells for ``count`` vectors: ~sqrt(count), so a cell holds ~sqrt(count)
    vectors; more cells would make queries faster still but training slower."""
    return max(16, min(8192, round(math.sqrt(max(count, 1)))))


def ivf_probes(nlist: int) -> int:
    """Cells a query scans by default: :data:`IVF_PROBE_SHARE` of them."""
    return max(1, min(nlist, round(nlist * IVF_PROBE_SHARE)))


def write_index(
    path: Path,
    dim: int,
    ids: np.ndarray,
    vectors: np.ndarray,
    kind: str = "auto",
    ivf_min: int | None = None,
) -> int:
    """Write an inner-product index keyed by ``ids``; returns the vector count.

    ``kind`` is one of :data:`KINDS` or ``auto`` (by size, see :func:`choose_kind`).
    """
    import faiss  # here, not at the top: only commands that touch vectors pay for it

    kind = choose_kind(len(ids), ivf_min) if kind == "auto" else kind
    if kind == "ivf-sq8":
        index = _trained_ivf(faiss, dim, np.asarray(vectors, dtype=np.float32))
    elif kind == "hnsw":
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # building HNSW does use every core
        base = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index = faiss.IndexIDMap2(base)
    elif kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    else:
        raise ValueError(f"unknown vector index kind {kind!r}: use one of {', '.join(KINDS)}")
    return _add_and_save(index, path, ids, vectors)


def _trained_ivf(faiss, dim: int, vectors: np.ndarray):
    """An empty IVF-SQ8 index whose cells and 8-bit ranges are trained on a fixed sample."""
    nlist = ivf_cells(len(vectors))
    if len(vectors) < nlist:
        raise ValueError(
            f"an IVF index needs at least {nlist} vectors to train, got {len(vectors)}"
        )
    index = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim),
        dim,
        nlist,
        faiss.ScalarQuantizer.QT_8bit,
        faiss.METRIC_INNER_PRODUCT,
    )
    index.cp.niter = IVF_TRAIN_ITERATIONS
    index.cp.seed = 1234
    index.nprobe = ivf_probes(nlist)
    n = min(len(vectors), nlist * IVF_TRAIN_PER_CELL)
    sample = np.random.default_rng(0).choice(len(vectors), n, replace=False)
    faiss.omp_set_num_threads(os.cpu_count() or 1)  # k-means and the adds use every core
    index.train(np.ascontiguousarray(vectors[np.sort(sample)]))
    return index


class VectorIndex:
    """Read side. FAISS searches (parameters fixed at open, or passed per call) are read-only
    and safe from many threads."""

    def __init__(self, path: Path, dim: int, nprobe: int | None = None) -> None:
        """``nprobe``: IVF cells a query scans (default :func:`ivf_probes`; the bench sweeps
        it)."""
        import faiss

        # One query at a time gains nothing from OpenMP on a flat scan, and on a shared
        # machine its spinning threads cost 100+ ms per search (measured: 2 ms vs 150 ms).
        faiss.omp_set_num_threads(1)
        try:
            # Map the vectors instead of reading them: opening is ~1 ms instead of ~200 ms,
            # and an IVF index's cells are mapped the same way (zero-copy).
            self._index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        except Exception as exc:  # faiss raises RuntimeError with a C++ message
            raise DamagedStoreError(
                f"vector index {path} cannot be read ({_faiss_reason(exc)})"
            ) from None
        self.kind = index_kind(self._index)
        self._map_lock = threading.Lock()
        self._nprobe = 0
        if self.kind == "hnsw":
            faiss.downcast_index(self._index.index).hnsw.efSearch = HNSW_EF_SEARCH
        elif self.kind == "ivf-sq8":
            nlist = self._index.nlist
            self._nprobe = min(nprobe, nlist) if nprobe else ivf_probes(nlist)
            self._index.nprobe = self._nprobe
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

        if self.kind == "ivf-sq8":
            return _ivf_ids(self._index)
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def ranked(self, query: np.ndarray, limit: int) -> Ranked:
        """Best paragraphs by their best window, best first, at most ``limit`` of them, with
        their cosines: arrays, no object per candidate (a query asks for a thousand)."""
        if limit <= 0 or self.ntotal == 0:
            return Ranked.empty()
        # Ask for extra windows: several windows of one long paragraph may crowd the top, and
        # ask again for more until ``limit`` distinct paragraphs are found (or all are seen).
        k = min(self.ntotal, limit * 2 + 8)
        nprobe = self._nprobe
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        while True:
            scores, ids = self._search(q, k, nprobe)
            found = ids[0] >= 0
            pids = ids[0][found] >> WINDOW_BITS
            scores = scores[0][found]
            # Results come best first: a paragraph's first window in the list is its best.
            first = np.sort(np.unique(pids, return_index=True)[1])
            if len(first) >= limit:
                break
            if nprobe and found.sum() < k and nprobe < self._index.nlist:
                # The scanned cells held fewer than k vectors: scan more cells.
                nprobe = min(self._index.nlist, nprobe * 4)
            elif k >= self.ntotal:
                break
            else:
                k = min(self.ntotal, k * 4)
        first = first[:limit]
        return Ranked(pids[first], scores[first])

    def paragraph_vectors(self, pids: Iterable[int]) -> np.ndarray:
        """The stored vectors of paragraphs, every window of each (rows in ``pids`` order; a
        paragraph with no vector gives no row): what "more like this" searches with, read back
        instead of encoding the article again."""
        if self.kind == "ivf-sq8":
            self._direct_map()
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

    def _direct_map(self) -> None:
        """An IVF index finds a vector by id only through a direct map (id -> cell), built on
        first use: a hashtable over the ids, since ours are packed paragraph ids, not 0..n-1.
        The vectors come back decoded from their 8-bit codes, close enough to search with."""
        import faiss

        with self._map_lock:
            if self._index.direct_map.type == faiss.DirectMap.NoMap:
                self._index.set_direct_map_type(faiss.DirectMap.Hashtable)

    def _search(self, q: np.ndarray, k: int, nprobe: int) -> tuple[np.ndarray, np.ndarray]:
        if nprobe == self._nprobe:
            return self._index.search(q, k)
        import faiss

        return self._index.search(q, k, params=faiss.SearchParametersIVF(nprobe=nprobe))


def index_kind(index) -> str:
    """``flat``, ``ivf-sq8`` or ``hnsw``: what kind of index FAISS read."""
    import faiss

    if isinstance(index, faiss.IndexIVFScalarQuantizer):
        return "ivf-sq8"
    base = faiss.downcast_index(index.index) if hasattr(index, "index") else None
    return "hnsw" if isinstance(base, faiss.IndexHNSW) else "flat"


def _ivf_ids(index) -> np.ndarray:
    import faiss

    lists = index.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(c), lists.list_size(c)).copy()
        for c in range(index.nlist)
        if lists.list_size(c)
    ]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


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
    (through a temporary file and a rename); returns the new vector count.

    An IVF index keeps its trained cells and 8-bit ranges: new vectors go to their nearest
    cell, as at build time, so an update costs reading and writing the file, not training."""
    import faiss

    index = faiss.read_index(str(path))
    kind = index_kind(index)
    drop_pids = np.fromiter(remove_pids, dtype=np.int64)
    if len(drop_pids) and kind == "hnsw":
        # FAISS cannot remove vectors from an HNSW graph.
        raise IndexFormatError(
            f"{path} is an HNSW index, which cannot drop vectors in place: "
            "apply this change with `newsearch index PATH --rebuild`"
        )
    if len(drop_pids) and index.ntotal:
        if kind == "ivf-sq8":
            # No id map to look in: drop every id a paragraph's windows can have (the IVF
            # checks each stored id against this set in one pass over its cells).
            windows = np.arange(1 << WINDOW_BITS, dtype=np.int64)
            drop = ((drop_pids[:, None] << WINDOW_BITS) | windows[None, :]).ravel()
        else:
            existing = faiss.vector_to_array(index.id_map).astype(np.int64)
            drop = existing[np.isin(existing >> WINDOW_BITS, drop_pids)]
        if len(drop):
            index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(drop)))
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
