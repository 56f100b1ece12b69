"""The paired randomization test that decides whether tuned settings replace the defaults."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from newsearch.search.significance import paired_randomization_p


def _exact_p(a: np.ndarray, b: np.ndarray) -> float:
    """Every sign pattern of the differences, counted: the p-value the sampling estimates."""
    diff = a - b
    observed = abs(diff.sum())
    patterns = list(itertools.product((-1, 1), repeat=len(diff)))
    return sum(abs(np.dot(s, diff)) >= observed - 1e-12 for s in patterns) / len(patterns)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sampled_p_is_close_to_the_exact_one(seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, 12)
    b = np.clip(a - rng.normal(0.05, 0.2, 12), 0, 1)
    exact = _exact_p(a, b)
    got = paired_randomization_p(a, b, trials=20_000)
    assert got == pytest.approx(exact, abs=0.015)


def test_a_consistent_gain_is_significant_and_noise_is_not():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.8, 300)
    better = base + rng.uniform(0.01, 0.1, 300)  # every query gains
    assert paired_randomization_p(better, base) < 0.001
    noisy = base + rng.normal(0, 0.1, 300)
    noisy -= noisy.mean() - base.mean()  # no mean gain: only noise
    assert paired_randomization_p(noisy, base) > 0.5


def test_the_direction_does_not_matter_and_a_seed_repeats():
    rng = np.random.default_rng(4)
    a, b = rng.uniform(0, 1, 50), rng.uniform(0, 1, 50)
    assert paired_randomization_p(a, b) == paired_randomization_p(b, a)
    assert paired_randomization_p(a, b, seed=7) == paired_randomization_p(a, b, seed=7)


def test_equal_scores_and_a_single_changed_query_give_one():
    a = [0.5, 0.2, 1.0]
    assert paired_randomization_p(a, a) == 1.0
    # one query differs: its sign flip is as extreme as itself, every time
    assert paired_randomization_p([0.5, 0.2, 1.0], [0.5, 0.2, 0.0]) == 1.0


def test_lists_of_other_lengths_are_refused():
    with pytest.raises(ValueError):
        paired_randomization_p([0.1, 0.2], [0.1])
    with pytest.raises(ValueError):
        paired_randomization_p([0.1], [0.2], trials=0)
