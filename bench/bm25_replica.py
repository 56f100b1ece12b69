"""Whoosh's BM25F, recomputed with numpy from the index's own postings, for parameter sweeps.

Whoosh scores an OR query over SciFact in about half a second (pure Python, every matching
abstract scored); a k1 x b x title-boost grid over 800 train queries would take hours. This
reads each query term's postings and the stored (quantized) field lengths once, then scores
any (k1, b, title boost) with Whoosh's own formula: per field
``idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * fl / avgfl))``, idf = ln(N / (df + 1)) + 1,
the title clause multiplied by its boost. ``check()`` compares it with Whoosh on real queries
before any number is trusted.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from newsearch.indexer.keyword import KeywordConfig, KeywordIndex

FIELDS = ("text", "title")


class BM25Replica:
    def __init__(self, keyword_dir: Path) -> None:
        self.index = KeywordIndex(keyword_dir)
        self.searcher = self.index._searcher()
        reader = self.searcher.reader()
        self.n = reader.doc_count_all()
        self.pids = np.array(
            [int(reader.stored_fields(d)["pid"]) for d in range(self.n)], dtype=np.int64
        )
        self.lengths = {
            f: np.array([reader.doc_field_length(d, f, 1) for d in range(self.n)], dtype=np.float64)
            for f in FIELDS
        }
        self.avg = {f: (self.searcher.avg_field_length(f) or 1) for f in FIELDS}
        self._postings: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, float]] = {}

    def _posting(self, field: str, term: str) -> tuple[np.ndarray, np.ndarray, float]:
        key = (field, term)
        if key not in self._postings:
            reader = self.searcher.reader()
            if (field, term) in reader:
                m = reader.postings(field, term)
                docs, tfs = [], []
                while m.is_active():
                    docs.append(m.id())
                    tfs.append(m.weight())
                    m.next()
                df = reader.doc_frequency(field, term)
                idf = math.log(self.n / (df + 1)) + 1
                self._postings[key] = (np.array(docs), np.array(tfs, dtype=np.float64), idf)
            else:
                self._postings[key] = (np.zeros(0, dtype=np.int64), np.zeros(0), 0.0)
        return self._postings[key]

    def terms(self, text: str) -> list[str]:
        return list(dict.fromkeys(self.index._terms("text", text.replace('"', " "))))

    def search(self, text: str, config: KeywordConfig, limit: int) -> list[tuple[int, float]]:
        scores = np.zeros(self.n)
        matched = np.zeros(self.n, dtype=bool)
        for term in self.terms(text):
            for field, weight in (("text", 1.0), ("title", config.title_boost)):
                if weight <= 0:
                    continue
                docs, tf, idf = self._posting(field, term)
                if not len(docs):
                    continue
                fl = self.lengths[field][docs]
                norm = config.k1 * ((1 - config.b) + config.b * fl / self.avg[field])
                scores[docs] += weight * idf * tf * (config.k1 + 1) / (tf + norm)
                matched[docs] = True
        idx = np.flatnonzero(matched)
        # Best first; ties by docnum, as Whoosh's collector keeps the earlier document.
        order = idx[np.lexsort((idx, -scores[idx]))][:limit]
        return [(int(self.pids[d]), float(scores[d])) for d in order]

    def check(self, queries: list[str], config: KeywordConfig, limit: int = 100) -> float:
        """Largest score difference against Whoosh; raises if the rankings differ."""
        whoosh = KeywordIndex(
            self.index._ix.storage.folder and Path(self.index._ix.storage.folder), config
        )
        worst = 0.0
        for q in queries:
            ours = self.search(q, config, limit)
            theirs = whoosh.search(q, limit)
            for (p1, s1), (p2, s2) in zip(ours, theirs, strict=True):
                worst = max(worst, abs(s1 - s2))
                if p1 != p2 and abs(s1 - s2) > 1e-6:
                    raise AssertionError(f"replica disagrees with Whoosh on {q!r}: {p1} vs {p2}")
        whoosh.close()
        return worst
