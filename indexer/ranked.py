"""A ranked candidate list, (paragraph id, score) best first, held as two numpy arrays.

The keyword and the vector searcher each hand a hybrid query a thousand candidates, and fusion
reads both lists whole. As Python lists of tuples they cost a query more than the peer's whole
search (two ``tolist``/``zip`` of a thousand entries, a dict of two thousand keys, normalizing
in pure Python: ~3.5 ms CPU of a 17.9 ms BBC query, BENCHMARKS.md "Issue 15, part 1"); as
arrays fusion is a few vector operations. ``Ranked`` is still a sequence of (id, score)
pairs, so code that reads a few entries (``ranked[0]``, ``for pid, score in ranked``) and
callers that compare with a list need not change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import overload

import numpy as np


class Ranked(Sequence[tuple[int, float]]):
    """``ids`` (int64) and ``scores`` (float64) of one ranked list, best first.

    Scores are widened to float64 (FAISS answers in float32), the same doubles a list of
    Python floats held, so fusing arrays gives exactly the floats fusing lists gave.
    """

    __slots__ = ("ids", "scores")

    def __init__(self, ids: np.ndarray | Sequence[int], scores: np.ndarray | Sequence[float]):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.scores = np.asarray(scores, dtype=np.float64)
        if self.ids.shape != self.scores.shape or self.ids.ndim != 1:
            raise ValueError("a ranked list needs one score per id")

    @classmethod
    def empty(cls) -> Ranked:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))

    @classmethod
    def of(cls, pairs: Ranked | Iterable[tuple[int, float]]) -> Ranked:
        """``pairs`` as a ``Ranked`` (itself when it is one)."""
        if isinstance(pairs, Ranked):
            return pairs
        pairs = list(pairs)
        if not pairs:
            return cls.empty()
        ids, scores = zip(*pairs, strict=True)
        return cls(ids, scores)

    def pairs(self) -> list[tuple[int, float]]:
        return list(zip(self.ids.tolist(), self.scores.tolist(), strict=True))

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        return zip(self.ids.tolist(), self.scores.tolist(), strict=True)

    @overload
    def __getitem__(self, i: int) -> tuple[int, float]: ...

    @overload
    def __getitem__(self, i: slice) -> Ranked: ...

    def __getitem__(self, i: int | slice) -> tuple[int, float] | Ranked:
        if isinstance(i, slice):
            return Ranked(self.ids[i], self.scores[i])
        return int(self.ids[i]), float(self.scores[i])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Ranked):
            return np.array_equal(self.ids, other.ids) and np.array_equal(self.scores, other.scores)
        if isinstance(other, (list, tuple)):
            return self.pairs() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(f"({i}, {s:.4g})" for i, s in self[:3])
        return f"Ranked([{head}{', ...' if len(self) > 3 else ''}], n={len(self)})"

    def __reduce__(self):
        return (Ranked, (self.ids, self.scores))
