import pytest

from newsearch.search.fusion import rrf


def test_rrf_scores_are_sums_of_reciprocal_ranks():
    fused = dict(rrf([["a", "b", "c"], ["c", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_orders_by_fused_score_and_is_deterministic_on_ties():
    assert [k for k, _ in rrf([["a", "b"], ["b", "a"]])] == ["a", "b"]
    assert [k for k, _ in rrf([["x"], ["y"]])] == ["x", "y"]
    # An item both lists agree on beats the top of one list alone.
    assert rrf([["a", "both"], ["b", "both"]])[0][0] == "both"


def test_rrf_small_k_rewards_top_ranks_more():
    lists = [["a", "b", "c", "d"], ["d", "c", "b", "a"]]
    assert rrf(lists, k=0)[0][1] > rrf(lists, k=60)[0][1]


def test_rrf_weights_and_validation():
    fused = dict(rrf([["a"], ["b"]], weights=[2.0, 1.0]))
    assert fused["a"] == pytest.approx(2 * fused["b"])
    with pytest.raises(ValueError):
        rrf([["a"]], weights=[1.0, 2.0])
    with pytest.raises(ValueError):
        rrf([["a"]], k=-1)
    assert rrf([]) == [] and rrf([[], []]) == []
