"""Merging the keyword and the vector ranked lists into one.

Two families, chosen per query with a :class:`Fusion`:

* Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009) looks only at ranks, so it
  needs no score calibration: BM25 scores are unbounded and query-dependent, cosines are not.
* A convex combination of normalized scores (Bruch, Gai & Ingber, TOIS 2023, "An analysis of
  fusion functions for hybrid retrieval") keeps how *much* better one hit is than the next,
  which ranks throw away; it needs the scores put on one scale first (min-max or z-score).
* Coverage-weighted convex fusion (the default) is the convex combination with BM25's weight
  scaled by how well BM25's best hit covers the query (see :func:`coverage_weight`).

Why the last: min-max normalization stretches every BM25 list to [0, 1], so the best BM25 hit
counts fully even when it shares only a couple of common words with the query. On paraphrased
news queries (a reader describing a story in words the article does not use) BM25's best hits
are such near-misses, and plain fusion dragged dense retrieval down (judged BBC queries,
nDCG@10 on paraphrases: dense .383, convex .255); on keyword queries BM25's best hit holds the
query's words and fusion helps (.938 vs dense .913). The BM25 score of the best hit over the
most a paragraph could score for the query tells the two apart (BBC paraphrases .09-.27,
keyword and name queries .32-.66, 194 of 200 random headlines .30 or more), so BM25 keeps its
full weight from a coverage of ``tau`` and fades out below it: paraphrases .365, keyword and
name queries unchanged (bench/news_queries.py, BENCHMARKS.md).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

import numpy as np

from newsearch.indexer.errors import QueryError
from newsearch.indexer.ranked import Ranked

K = TypeVar("K", bound=Hashable)

DEFAULT_RRF_K = 60
#: RRF's k when hybrid search uses RRF: best on SciFact train (DEFAULT_RRF_K is the paper's).
TUNED_RRF_K = 1
#: BM25 coverage from which BM25 keeps its full weight: chosen on the tuning two thirds of the
#: judged BBC queries, among values that cost SciFact train no more than 0.003 nDCG@10.
TUNED_TAU = 0.3
FUSION_METHODS: tuple[str, ...] = ("coverage", "rrf", "convex")
NORMALIZATIONS: tuple[str, ...] = ("minmax", "zscore")


@dataclass(frozen=True)
class Fusion:
    """How hybrid search merges its two lists.

    ``alpha`` is the weight of the dense (vector) scores in a convex combination, ``1 - alpha``
    the weight of BM25: 0 is keyword only, 1 is vector only. ``rrf_k`` damps the advantage of
    top ranks in RRF. ``tau`` is the BM25 coverage from which ``coverage`` fusion gives BM25
    its full ``1 - alpha``.

    alpha and norm won on SciFact train (bench/tune_fusion.py, BENCHMARKS.md): convex min-max
    alpha=0.6 nDCG@10 .739 at depth 1000, z-score alpha=0.5 .738; RRF was best at k=1 (.734,
    k=60: .719), so ``--fusion rrf`` uses k=1 unless told otherwise. ``coverage`` (tau=0.3)
    won on judged BBC news queries and costs SciFact train .003 (bench/news_queries.py).
    """

    method: Literal["coverage", "rrf", "convex"] = "coverage"
    rrf_k: float = TUNED_RRF_K
    alpha: float = 0.6
    norm: Literal["minmax", "zscore"] = "minmax"
    tau: float = TUNED_TAU

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise ValueError(f"unknown fusion {self.method!r}: use one of {FUSION_METHODS}")
        if self.norm not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {self.norm!r}: use one of {NORMALIZATIONS}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.rrf_k < 0:
            raise ValueError("rrf k must be >= 0")
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"tau must be above 0 and at most 1, got {self.tau}")

    @classmethod
    def with_overrides(
        cls,
        method: str | None = None,
        alpha: float | None = None,
        rrf_k: float | None = None,
        norm: str | None = None,
        tau: float | None = None,
        base: Fusion | None = None,
    ) -> Fusion | None:
        """``base`` (default: the global defaults; pass a searcher's ``config.fusion`` to
        change its tuned settings, ``search/tuned.py``) with the values given put in; None
        when nothing is given (the searcher's configured fusion then applies). A bad value is
        a ``QueryError``."""
        given = {
            name: value
            for name, value in (
                ("method", method),
                ("alpha", alpha),
                ("rrf_k", rrf_k),
                ("norm", norm),
                ("tau", tau),
            )
            if value is not None
        }
        if not given:
            return None
        try:
            return replace(base, **given) if base is not None else cls(**given)
        except ValueError as exc:
            raise QueryError(str(exc)) from None

    @property
    def needs_coverage(self) -> bool:
        """Whether ``fuse`` wants the BM25 coverage (``Searcher`` computes it only then)."""
        return self.method == "coverage"

    def fuse(
        self,
        keyword: Sequence[tuple[K, float]],
        dense: Sequence[tuple[K, float]],
        coverage: float | None = None,
    ) -> Sequence[tuple[K, float]]:
        """Fuse (id, score) lists, best first: keyword (BM25) first, dense second.

        ``coverage`` is the best BM25 score over the most the query could score
        (``KeywordIndex.ceiling``); ``coverage`` fusion without it is plain convex fusion.
        Two ``Ranked`` lists (what the searchers return) fuse as arrays into a ``Ranked``;
        other lists (any hashable ids) into a list: the same floats in the same order.
        """
        if self.method == "rrf":
            weights = [1.0, 1.0]
        else:
            bm25 = 1.0 - self.alpha
            if self.method == "coverage" and coverage is not None:
                bm25 *= coverage_weight(coverage, self.tau)
            weights = [bm25, self.alpha]
        arrays = isinstance(keyword, Ranked) and isinstance(dense, Ranked)
        if arrays:
            keys, positions = _int_slots([keyword.ids, dense.ids])
            scores = [keyword.scores, dense.scores]
        else:
            keys, positions, scores = _list_runs([keyword, dense])
        if self.method == "rrf":
            total = _rrf_total(len(keys), positions, weights, self.rrf_k)
        else:
            total = _convex_total(len(keys), positions, scores, weights, self.norm)
        if arrays:
            order = _best_first(total)
            return Ranked(keys[order], total[order])
        return _pairs(keys, total)


def bm25_coverage(keyword: Sequence[tuple[K, float]], ceiling: float | None) -> float | None:
    """How well BM25's best hit covers the query: its score over the query's ``ceiling``
    (``KeywordIndex.ceiling``); None without hits or a ceiling (plain convex fusion then)."""
    return keyword[0][1] / ceiling if keyword and ceiling else None


def coverage_weight(coverage: float, tau: float = TUNED_TAU) -> float:
    """The share of its convex weight BM25 keeps: ``min(1, coverage / tau) ** 2``.

    A query whose best BM25 hit reaches ``tau`` of the highest score it could get (its rarer
    words found, several times or in the headline) is a query BM25 answers: full weight. Below
    that BM25's best hits are near-misses on common words and its weight fades to 0; the
    square makes it fade fast enough that paraphrases get the dense ranking nearly unchanged
    (a linear ramp kept too much BM25: BBC paraphrase nDCG@10 .41 vs .46, same tau).
    """
    if tau <= 0:
        raise ValueError("tau must be > 0")
    return min(1.0, max(0.0, coverage) / tau) ** 2


def rrf(
    rankings: Sequence[Sequence[K]],
    k: float = DEFAULT_RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[K, float]]:
    """Fuse ranked id lists: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1.

    Ties keep the order in which ids were first seen (earlier lists first), so the result is
    deterministic.
    """
    if k < 0:
        raise ValueError("rrf k must be >= 0")
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    keys, positions = _slots(rankings)
    total = _rrf_total(len(keys), positions, weights, k)
    return _pairs(keys, total)


def normalize(scores: Sequence[float], norm: str = "minmax") -> list[float]:
    """Put one list's scores on a common scale.

    min-max maps the list to [0, 1] (all-equal scores become 1: each is as good as the best);
    z-score subtracts the mean and divides by the standard deviation.
    """
    return _normalize(np.asarray(scores, dtype=np.float64), norm).tolist()


def convex(
    runs: Sequence[Sequence[tuple[K, float]]],
    weights: Sequence[float],
    norm: str = "minmax",
) -> list[tuple[K, float]]:
    """score(d) = sum_i w_i * normalized_i(d).

    An id missing from a list gets that list's lowest normalized score: it was not retrieved,
    so it is taken to be no better than the worst hit that was.
    """
    if len(weights) != len(runs):
        raise ValueError("one weight per run")
    keys, positions, scores = _list_runs(runs)
    return _pairs(keys, _convex_total(len(keys), positions, scores, weights, norm))


# Both fusions run in numpy over "slots": every id of the lists once, in the order first seen
# (earlier lists first), which is also how ties are broken. The operations are the formulas'
# in the formulas' order, so the floats are those of a plain loop over Python floats
# (tests/test_fusion.py holds them equal).


def _slots(runs: Sequence[Sequence[K]]) -> tuple[list[K], list[np.ndarray]]:
    """Any hashable ids: the slot keys, and each run's ids as slot numbers."""
    slot: dict[K, int] = {}
    for run in runs:
        for key in run:
            slot.setdefault(key, len(slot))
    positions = [np.fromiter((slot[key] for key in run), np.int64, len(run)) for run in runs]
    return list(slot), positions


def _list_runs(
    runs: Sequence[Sequence[tuple[K, float]]],
) -> tuple[list[K], list[np.ndarray], list[np.ndarray]]:
    """(id, score) lists of any hashable ids: slot keys, slot numbers and scores per run."""
    keys, positions = _slots([[key for key, _ in run] for run in runs])
    scores = [np.fromiter((s for _, s in run), np.float64, len(run)) for run in runs]
    return keys, positions, scores


def _int_slots(runs: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Integer id arrays: ``_slots`` without a Python loop."""
    everything = np.concatenate(runs) if runs else np.zeros(0, dtype=np.int64)
    unique, first = np.unique(everything, return_index=True)
    by_first = np.argsort(first, kind="stable")  # unique ids in first-seen order
    slot_of_unique = np.empty(len(unique), dtype=np.int64)
    slot_of_unique[by_first] = np.arange(len(unique))
    positions = [slot_of_unique[np.searchsorted(unique, run)] for run in runs]
    return unique[by_first], positions


def _normalize(scores: np.ndarray, norm: str) -> np.ndarray:
    if norm not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {norm!r}: use one of {NORMALIZATIONS}")
    if not len(scores):
        return scores
    if norm == "minmax":
        lo, hi = scores.min(), scores.max()
        if hi == lo:
            return np.ones(len(scores))
        return (scores - lo) / (hi - lo)
    # z-score: mean and deviation summed left to right, as Python's sum does
    values = scores.tolist()
    mean = sum(values) / len(values)
    std = math.sqrt(sum((s - mean) ** 2 for s in values) / len(values))
    if std == 0:
        return np.zeros(len(scores))
    return (scores - mean) / std


def _convex_total(
    n: int,
    positions: Sequence[np.ndarray],
    scores: Sequence[np.ndarray],
    weights: Sequence[float],
    norm: str,
) -> np.ndarray:
    total = np.zeros(n)
    for pos, run_scores, w in zip(positions, scores, weights, strict=True):
        values = _normalize(run_scores, norm)
        column = np.full(n, values.min() if len(values) else 0.0)
        column[pos] = values
        total += w * column
    return total


def _rrf_total(
    n: int, positions: Sequence[np.ndarray], weights: Sequence[float], k: float
) -> np.ndarray:
    total = np.zeros(n)
    for pos, w in zip(positions, weights, strict=True):
        total[pos] += w / (k + np.arange(1, len(pos) + 1))
    return total


def _best_first(total: np.ndarray) -> np.ndarray:
    """Slots by score, best first; ties: first seen first."""
    return np.lexsort((np.arange(len(total)), -total))


def _pairs(keys: list[K], total: np.ndarray) -> list[tuple[K, float]]:
    order = _best_first(total)
    return [(keys[i], s) for i, s in zip(order.tolist(), total[order].tolist(), strict=True)]
