"""Merging ranked lists from the keyword and vector searchers.

Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009) needs no score calibration:
BM25 scores are unbounded and query-dependent, cosines are not, and RRF only looks at ranks.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

DEFAULT_RRF_K = 60


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
    scores: dict[K, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    first_seen = {key: i for i, key in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], first_seen[kv[0]]))
