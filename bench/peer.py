"""The peer pipeline the speed benchmark compares against: ``bm25s`` + FAISS, fused by RRF.

It indexes the same paragraphs as newsearch and reuses newsearch's vectors (same model, no
re-embedding); queries are encoded with the same ONNX export. It returns paragraph ids only:
no docstore lookup and no grouping by article, so it does a little less work per query.

``python bench/peer.py INDEX_DIR "query"`` runs one query in a new process (what the
benchmark times as the peer's shell query).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PEER_K = 100


@dataclass
class PeerTimes:
    bm25_s: float
    faiss_s: float
    save_s: float


def build_peer(out: Path, pids: list[int], texts: list[str], vids: np.ndarray, vecs: np.ndarray):
    """Index ``texts`` (one per paragraph id) with bm25s and ``vecs`` with a flat FAISS index."""
    import bm25s
    import faiss

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    t1 = time.perf_counter()
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vecs.shape[1]))
    index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), vids.astype(np.int64))
    t2 = time.perf_counter()
    retriever.save(str(out / "bm25s"))
    faiss.write_index(index, str(out / "vectors.faiss"))
    np.save(out / "pids.npy", np.asarray(pids, dtype=np.int64))
    t3 = time.perf_counter()
    return PeerTimes(t1 - t0, t2 - t1, t3 - t2)


class Peer:
    def __init__(self, folder: Path, encoder) -> None:
        import bm25s
        import faiss

        self._bm25s = bm25s
        self.retriever = bm25s.BM25.load(str(folder / "bm25s"))
        self.index = faiss.read_index(str(folder / "vectors.faiss"))
        self.pids = np.load(folder / "pids.npy")
        self.encoder = encoder

    def bm25(self, query: str, k: int = PEER_K) -> list[int]:
        tokens = self._bm25s.tokenize(
            [query], stopwords="en", return_ids=False, show_progress=False
        )
        if not tokens[0]:
            return []
        k = min(k, len(self.pids))
        docs, _ = self.retriever.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [int(self.pids[d]) for d in docs[0]]

    def dense(self, query: str, k: int = PEER_K) -> list[int]:
        q = self.encoder.encode_query(query).reshape(1, -1)
        _, ids = self.index.search(q, min(self.index.ntotal, 2 * k + 8))
        out: dict[int, None] = {}
        for vid in ids[0].tolist():
            if vid >= 0:
                out.setdefault(vid >> 6, None)
        return list(out)[:k]

    def hybrid(self, query: str, k: int = PEER_K) -> list[int]:
        scores: dict[int, float] = {}
        for ranking in (self.bm25(query, k), self.dense(query, k)):
            for rank, pid in enumerate(ranking, start=1):
                scores[pid] = scores.get(pid, 0.0) + 1.0 / (60 + rank)
        return sorted(scores, key=scores.__getitem__, reverse=True)[:k]


def main() -> None:
    from newsearch.indexer.encoders.onnx import open_encoder
    from newsearch.indexer.layout import IndexLayout

    index_dir, query = Path(sys.argv[1]), sys.argv[2]
    layout = IndexLayout(index_dir)
    meta = layout.read_meta(layout.current())
    peer = Peer(index_dir.with_name(index_dir.name + "-peer"), open_encoder(meta.model, index_dir))
    print(json.dumps({"query": query, "pids": peer.hybrid(query, 10)}))


if __name__ == "__main__":
    main()
