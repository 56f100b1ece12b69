"""Is one ranking's gain over another on the same judged queries more than chance?

``newsearch tune`` picks the best of ~200 settings on one split. Where the score surface is
flat (SciFact train: .744-.748 over 45 BM25 settings) the best is partly noise, and tuned
settings that beat the defaults on train by noise did worse on test (BENCHMARKS.md, issue
18). So a tuned setting replaces the defaults only when its per-query gain passes a paired
test: Fisher's randomization test, which Smucker, Allan & Carterette (CIKM 2007, "A
comparison of statistical significance tests for information retrieval evaluation")
recommend for IR metrics: under "no difference" each query's two scores are exchangeable, so
the sign of each per-query difference is flipped at random and the observed mean difference
is compared with the flipped ones. Two-sided, seeded (the same lists give the same p).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Random sign patterns drawn; the p-value's standard error is at most 0.005.
TRIALS = 10_000
#: The largest p at which a tuned setting replaces the defaults.
MAX_P = 0.05


def paired_randomization_p(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    trials: int = TRIALS,
    seed: int = 0,
) -> float:
    """Two-sided p-value of mean(a - b) under random sign flips of the per-query differences.

    ``a`` and ``b`` are one score per query, in the same query order. Counts the observed
    pattern itself among the trials ((hits + 1) / (trials + 1)), so p is never 0; equal
    scores on every query give 1.
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if diff.shape != np.asarray(b).shape or diff.ndim != 1:
        raise ValueError("one score per query in each list, the same queries")
    if trials < 1:
        raise ValueError("trials must be >= 1")
    diff = diff[diff != 0]  # a query with equal scores flips to the same difference
    if not len(diff):
        return 1.0
    observed = abs(diff.sum())
    rng = np.random.default_rng(seed)
    hits = 0
    # Chunks keep the sign matrix small (1,000 x queries) whatever the split's size.
    for start in range(0, trials, 1000):
        n = min(1000, trials - start)
        signs = rng.integers(0, 2, size=(n, len(diff)), dtype=np.int8) * 2 - 1
        # A tolerance so that the observed pattern (and its mirror) always counts.
        hits += int(np.count_nonzero(np.abs(signs @ diff) >= observed - 1e-12))
    return (hits + 1) / (trials + 1)
