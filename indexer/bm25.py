"""Whoosh's BM25F ranking, computed with numpy over the Whoosh index's own postings.

Whoosh scores an OR query one posting at a time in pure Python (union matchers, per-document
``max_quality`` checks): on BBC that was p50 75 ms / p95 554 ms per query against 2.5 / 7 ms
for bm25s. The index stays Whoosh's; this takes each query term's postings as arrays,
keeps the field lengths and the paragraph ids as arrays, and adds the per-term contributions
with numpy. The postings come from the memory-mapped arrays written beside each Whoosh
segment (``impacts.py``: slices, no decoding); an index written before them has its posting
blocks decoded (one unpickle per block of 128 postings) and cached.

The formula is Whoosh's own (``whoosh.scoring.BM25F``, which scores each field with BM25 and
sums the fields' clauses): per field ``idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * fl /
avgfl))`` with ``idf = ln(N / (df + 1)) + 1``, ``fl`` the field length Whoosh stored as one
byte, ``N`` and ``df`` counting deleted documents as Whoosh does, and the headline clause
multiplied by its boost. ``tests/test_bm25.py`` checks the rankings against Whoosh's
searcher, so tuned parameters and measured quality carry over unchanged.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import numpy as np
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching import ReadTooFar
from whoosh.reading import IndexReader, TermNotFound
from whoosh.util.numeric import _length_byte_cache

from .impacts import Impacts, read_matcher
from .ranked import Ranked

#: Whoosh stores a field's length as one byte; this turns the byte back into the length.
_BYTE_TO_LENGTH = np.asarray(_length_byte_cache, dtype=np.float64)

#: The column field that holds each Whoosh document's paragraph id (see keyword.make_schema).
PID_COLUMN = "pidc"

#: Decoded postings kept between queries, counted in postings (~12 bytes each): common query
#: words are decoded once per process, not once per query.
CACHE_POSTINGS = 4_000_000

Postings = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class CorpusStats:
    """The collection statistics BM25 scores against: documents (deleted ones counted, as
    Whoosh counts them), each (field, term)'s document frequency, each field's total length.

    One index computes them from its own postings. Shards of one corpus add theirs up
    (:meth:`combine`) and score with the sum, so N shards rank exactly as one index over the
    same paragraphs (what Elasticsearch's dfs_query_then_fetch does).
    """

    n: int
    df: Mapping[tuple[str, str], int] = dataclass_field(default_factory=dict)
    field_length: Mapping[str, float] = dataclass_field(default_factory=dict)

    def avgfl(self, fieldname: str) -> float:
        """Whoosh's average field length: the total over every document, deleted included."""
        return (self.field_length.get(fieldname, 0) / (self.n or 1)) or 1.0

    @staticmethod
    def combine(parts: Iterable[CorpusStats]) -> CorpusStats:
        parts = list(parts)
        df: dict[tuple[str, str], int] = {}
        lengths: dict[str, float] = {}
        for p in parts:
            for key, value in p.df.items():
                df[key] = df.get(key, 0) + value
            for key, value in p.field_length.items():
                lengths[key] = lengths.get(key, 0) + value
        return CorpusStats(sum(p.n for p in parts), df, lengths)


class BM25Arrays:
    """Per-index statistics as arrays, built once per opened index and shared by threads.

    Whoosh readers are not thread-safe (they seek in shared files), so every call takes the
    calling thread's own reader; the arrays and the postings cache are read-only or filled
    idempotently, which is safe under the GIL.
    """

    def __init__(
        self, reader: IndexReader, fields: Sequence[str], impacts: Impacts | None = None
    ) -> None:
        #: The segments' postings as memory-mapped arrays (``impacts.py``); None: decode
        #: Whoosh's postings (an index written before the arrays existed).
        self.impacts = impacts
        self.n = reader.doc_count_all()
        leaves = list(reader.leaf_readers())
        self.alive = np.ones(self.n, dtype=bool)
        self.lengths: dict[str, np.ndarray] = {}
        self.avgfl: dict[str, float] = {}
        for f in fields:
            self.lengths[f] = np.concatenate(
                [_length_column(leaf, f) for leaf, _ in leaves] or [np.zeros(0)]
            )
            # Whoosh divides the total length by every document, deleted ones included.
            self.avgfl[f] = (reader.field_length(f) / (self.n or 1)) or 1.0
        self.pids = np.full(self.n, -1, dtype=np.int64)
        for leaf, offset in leaves:
            for d in leaf.deleted_docs_set or ():
                self.alive[offset + d] = False
            column = _pid_column(leaf)
            if column is not None:
                self.pids[offset : offset + len(column)] = column
        self._cache: OrderedDict[tuple[str, str], Postings] = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()

    # -- postings -----------------------------------------------------------------------

    def postings(self, reader: IndexReader, field: str, term: str) -> Postings:
        """(document numbers, term frequencies) of ``term`` in ``field``, deleted included."""
        if self.impacts is not None:
            return self.impacts.postings(field, term)
        key = (field, term)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        docs: list[np.ndarray] = []
        tfs: list[np.ndarray] = []
        for leaf, offset in reader.leaf_readers():
            try:
                matcher = leaf.postings(field, term)
            except TermNotFound:
                continue
            d, w = _read_postings(getattr(matcher, "child", matcher))
            docs.append(d + offset)
            tfs.append(w)
        result = (
            (np.concatenate(docs), np.concatenate(tfs))
            if docs
            else (np.zeros(0, dtype=np.int64), np.zeros(0))
        )
        with self._lock:
            if key not in self._cache:
                self._cache[key] = result
                self._cached += len(result[0])
                while self._cached > CACHE_POSTINGS and len(self._cache) > 1:
                    _, (old, _) = self._cache.popitem(last=False)
                    self._cached -= len(old)
        return result

    # -- scoring ------------------------------------------------------------------------

    def search(
        self,
        reader: IndexReader,
        terms: Sequence[str],
        weights: dict[str, float],
        k1: float,
        b: float,
        limit: int,
        extra: dict[int, float] | None = None,
        stats: CorpusStats | None = None,
        idf_kind: str = "whoosh",
    ) -> Ranked:
        """(paragraph id, score) of the ``limit`` best documents matching any of ``terms``
        in any field of ``weights`` (field -> clause boost), best first; ties go to the
        earlier document, as in Whoosh's collector. ``extra`` adds scores of other clauses
        (document number -> score), e.g. phrase matches scored by Whoosh. ``stats``: score
        against these collection statistics (a whole sharded corpus's) instead of this
        index's own. ``idf_kind``: a formula of ``IDF``."""
        if limit <= 0 or not terms or self.n == 0:
            return Ranked.empty()
        n = stats.n if stats is not None else self.n
        idf_of = IDF[idf_kind]
        # Each (term, field)'s contributions are gathered and summed in one bincount, which
        # adds them per document in the same order as a scatter-add per list would (so the
        # same float sums), without an n-sized update per list. A term given twice is
        # scored twice: a repeated query word weighs more (its contributions are computed
        # once and added again, so a long query costs its distinct words, not its length).
        hit_docs: list[np.ndarray] = []
        hit_scores: list[np.ndarray] = []
        seen: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        for term in terms:
            for field, boost in weights.items():
                if boost <= 0:
                    continue
                again = seen.get((field, term))
                if again is not None:
                    hit_docs.append(again[0])
                    hit_scores.append(again[1])
                    continue
                docs, tf = self.postings(reader, field, term)
                if not len(docs):
                    continue
                if stats is None:
                    idf = idf_of(n, self.doc_frequency(reader, field, term, len(docs)))
                    avgfl = self.avgfl[field]
                else:
                    idf = idf_of(n, stats.df.get((field, term), 0))
                    avgfl = stats.avgfl(field)
                tf = np.asarray(tf, dtype=np.float64)
                fl = self.lengths[field][docs]
                norm = k1 * ((1 - b) + b * fl / avgfl)
                contribution = boost * (idf * ((tf * (k1 + 1)) / (tf + norm)))
                seen[(field, term)] = (docs, contribution)
                hit_docs.append(docs)
                hit_scores.append(contribution)
        if extra:
            hit_docs.append(np.fromiter(extra.keys(), dtype=np.int64, count=len(extra)))
            hit_scores.append(np.fromiter(extra.values(), dtype=np.float64, count=len(extra)))
        if not hit_docs:
            return Ranked.empty()
        all_docs = np.concatenate(hit_docs) if len(hit_docs) > 1 else hit_docs[0]
        all_scores = np.concatenate(hit_scores) if len(hit_scores) > 1 else hit_scores[0]
        scores = np.bincount(all_docs, all_scores, minlength=self.n)
        matched = np.bincount(all_docs, minlength=self.n).astype(bool)
        idx = np.flatnonzero(matched & self.alive)
        if len(idx) > limit:
            s = scores[idx]
            kth = np.partition(s, len(s) - limit)[len(s) - limit]
            above = idx[s > kth]
            ties = idx[s == kth][: limit - len(above)]
            idx = np.concatenate([above, ties])
        order = idx[np.lexsort((idx, -scores[idx]))]
        return Ranked(self.pid_of(reader, order), scores[order])

    def doc_frequency(self, reader: IndexReader, field: str, term: str, postings: int) -> int:
        """Whoosh's document frequency of a term whose ``postings`` were just read: their
        count when they come from the arrays (deleted documents included, as Whoosh counts),
        else Whoosh's term table."""
        if self.impacts is not None:
            return postings
        return reader.doc_frequency(field, term)

    def pid_of(self, reader: IndexReader, docnums: np.ndarray) -> np.ndarray:
        """Paragraph ids of Whoosh document numbers; indexes written before the id column
        existed read the stored field once per document and remember it."""
        pids = self.pids[docnums]
        for i in np.flatnonzero(pids < 0):
            d = int(docnums[i])
            pid = int(reader.stored_fields(d)["pid"])
            self.pids[d] = pids[i] = pid
        return pids


def whoosh_idf(n: int, df: int) -> float:
    """Whoosh's idf (``Weighting.idf``): documents and frequencies count deleted documents."""
    return math.log(n / (df + 1)) + 1


def lucene_idf(n: int, df: int) -> float:
    """Lucene's (and Pyserini's, bm25s's) BM25 idf, ``ln(1 + (N - df + 0.5) / (df + 0.5))``:
    never negative, and it weighs common words less against rare ones than Whoosh's (on
    SciFact train it scored +.001-.005 nDCG@10 over Whoosh's, BENCHMARKS.md "Issue 18")."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


#: The idf formulas a ``KeywordConfig`` may name; a query-time choice (document frequencies
#: are read when the query runs).
IDF: dict[str, Callable[[int, int], float]] = {"whoosh": whoosh_idf, "lucene": lucene_idf}


def _read_postings(matcher: Any) -> Postings:
    """A term's postings as arrays, one block at a time where the codec allows."""
    ids: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    if isinstance(matcher, W3LeafMatcher):
        return read_matcher(matcher)
    else:  # another codec: the generic, slower matcher interface
        d: list[int] = []
        w: list[float] = []
        try:
            while matcher.is_active():
                d.append(matcher.id())
                w.append(matcher.weight())
                matcher.next()
        except ReadTooFar:
            pass
        ids.append(np.asarray(d, dtype=np.int64))
        weights.append(np.asarray(w, dtype=np.float64))
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(ids), np.concatenate(weights)


def _length_column(leaf: IndexReader, field: str) -> np.ndarray:
    """One segment's stored field lengths (Whoosh's one-byte approximation), decoded."""
    count = leaf.doc_count_all()
    out = np.zeros(count, dtype=np.float64)
    perdoc = getattr(leaf, "_perdoc", None)
    raw = _column_bytes(perdoc, f"_{field}_len", 1) if perdoc is not None else None
    if raw is not None:
        codes = np.frombuffer(raw, dtype=np.uint8)[:count]
        out[: len(codes)] = _BYTE_TO_LENGTH[codes]
    else:
        for d in range(count):
            out[d] = leaf.doc_field_length(d, field, 0) or 0
    return out


def _pid_column(leaf: IndexReader) -> np.ndarray | None:
    perdoc = getattr(leaf, "_perdoc", None)
    if perdoc is None:
        return None
    raw = _column_bytes(perdoc, PID_COLUMN, 8)
    if raw is None:
        return None
    column = np.zeros(leaf.doc_count_all(), dtype=np.int64)
    values = np.frombuffer(raw, dtype=">i8")[: len(column)]
    column[: len(values)] = values  # documents past the column's end hold its default, 0
    return column


def _column_bytes(perdoc: Any, name: str, width: int) -> bytes | None:
    """The raw bytes of a fixed-width Whoosh column, or None when the segment has none."""
    try:
        if not perdoc.has_column(name):
            return None
        colfile, offset, length = perdoc._get_column_file(name)
    except (AttributeError, OSError):
        return None
    try:
        return bytes(colfile.get(offset, length - length % width))
    finally:
        colfile.close()
