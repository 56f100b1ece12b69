import random

import pytest

from newsearch.indexer.ranked import Ranked
from newsearch.search.fusion import Fusion, convex, coverage_weight, normalize, rrf


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


def test_normalize_minmax_and_zscore():
    assert normalize([3.0, 2.0, 1.0]) == [1.0, 0.5, 0.0]
    assert normalize([5.0, 5.0]) == [1.0, 1.0]
    z = normalize([3.0, 2.0, 1.0], "zscore")
    assert z[1] == pytest.approx(0.0) and z[0] == pytest.approx(-z[2]) and z[0] > 0
    assert normalize([], "zscore") == []
    with pytest.raises(ValueError):
        normalize([1.0], "softmax")


def test_convex_weights_normalized_scores_and_floors_missing_ids():
    keyword = [("a", 10.0), ("b", 5.0), ("c", 0.0)]
    dense = [("c", 0.9), ("d", 0.5), ("a", 0.1)]
    fused = dict(convex([keyword, dense], [0.5, 0.5]))
    assert fused["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0)
    assert fused["c"] == pytest.approx(0.5 * 0.0 + 0.5 * 1.0)
    # "b" was not retrieved by dense: it gets dense's floor (0 after min-max).
    assert fused["b"] == pytest.approx(0.25)
    assert fused["d"] == pytest.approx(0.5 * 0.0 + 0.5 * 0.5)


@pytest.mark.parametrize("norm", ["minmax", "zscore"])
def test_convex_equals_the_formula_on_random_lists(norm):
    """The numpy sum gives exactly the floats and the order of the formula written plainly
    (ties: first seen first; an id twice in one list: its last score)."""
    rng = random.Random(7)
    for _ in range(200):
        runs = [
            [(rng.randint(0, 60), rng.choice([rng.random() * 9, 0.5])) for _ in range(n)]
            for n in (rng.randint(0, 50), rng.randint(0, 50))
        ]
        weights = [rng.random(), rng.random()]
        tables = []
        for run in runs:
            values = normalize([s for _, s in run], norm)
            tables.append(
                (dict(zip([k for k, _ in run], values, strict=True)), min(values, default=0.0))
            )
        seen = list(dict.fromkeys(k for run in runs for k, _ in run))
        want = {
            k: sum(w * t.get(k, f) for w, (t, f) in zip(weights, tables, strict=True)) for k in seen
        }
        expected = sorted(want.items(), key=lambda kv: (-kv[1], seen.index(kv[0])))
        assert convex(runs, weights, norm) == expected


@pytest.mark.parametrize(
    "fusion",
    [Fusion(), Fusion("convex", norm="zscore"), Fusion("rrf", rrf_k=60), Fusion("rrf")],
    ids=["coverage", "convex-zscore", "rrf-60", "rrf-1"],
)
def test_ranked_arrays_fuse_to_the_floats_and_order_of_lists(fusion):
    """The searchers' arrays take the numpy path; it must rank exactly as the list path
    (same floats, ties first seen: keyword before dense), which the formula tests pin."""
    rng = random.Random(11)
    for _ in range(300):
        runs = []
        for n in (rng.randint(0, 60), rng.randint(0, 60)):
            ids = rng.sample(range(90), n)  # unique in a list, shared between the two
            scores = sorted((rng.choice([rng.random() * 9, 0.5]) for _ in range(n)), reverse=True)
            runs.append(list(zip(ids, scores, strict=True)))
        coverage = rng.choice([None, 0.0, 0.05, 0.2, 0.9])
        want = fusion.fuse(runs[0], runs[1], coverage)
        got = fusion.fuse(Ranked.of(runs[0]), Ranked.of(runs[1]), coverage)
        assert isinstance(want, list) and isinstance(got, Ranked)
        assert got.pairs() == want


def test_fusion_alpha_moves_from_keyword_to_dense():
    keyword = [("kw", 9.0), ("both", 6.0), ("x", 1.0)]
    dense = [("dn", 0.8), ("both", 0.75), ("y", 0.2)]
    assert Fusion("convex", alpha=0.0).fuse(keyword, dense)[0][0] == "kw"
    assert Fusion("convex", alpha=1.0).fuse(keyword, dense)[0][0] == "dn"
    assert Fusion("convex", alpha=0.5, norm="zscore").fuse(keyword, dense)[0][0] == "both"
    assert Fusion("rrf", rrf_k=60).fuse(keyword, dense)[0][0] == "both"


def test_fusion_rejects_bad_settings():
    bad_settings = ({"method": "max"}, {"alpha": 1.5}, {"rrf_k": -1}, {"norm": "rank"})
    for bad in (*bad_settings, {"tau": 0.0}, {"tau": 1.5}):
        with pytest.raises(ValueError):
            Fusion(**bad)


def test_coverage_weight_is_full_from_tau_and_fades_quadratically_below():
    assert coverage_weight(0.3, tau=0.3) == 1.0
    assert coverage_weight(0.9, tau=0.3) == 1.0  # a phrase match may exceed the ceiling
    assert coverage_weight(0.15, tau=0.3) == pytest.approx(0.25)
    assert coverage_weight(0.0, tau=0.3) == 0.0 and coverage_weight(-1.0, tau=0.3) == 0.0
    with pytest.raises(ValueError):
        coverage_weight(0.5, tau=0.0)


# BM25's best hit is a near-miss ("kw"); dense ranks the story ("dn") first and "both" close.
KEYWORD = [("kw", 9.0), ("both", 6.0), ("x", 1.0)]
DENSE = [("dn", 0.8), ("both", 0.75), ("y", 0.2)]


def test_coverage_fusion_is_convex_fusion_when_bm25_covers_the_query():
    convex_fusion = Fusion("convex", alpha=0.6)
    coverage = Fusion("coverage", alpha=0.6, tau=0.3)
    assert Fusion().method == "coverage" and Fusion().needs_coverage
    assert not convex_fusion.needs_coverage and not Fusion("rrf").needs_coverage
    for covered in (0.3, 0.5, 1.0, None):  # None: the caller could not tell, plain convex
        assert coverage.fuse(KEYWORD, DENSE, covered) == convex_fusion.fuse(KEYWORD, DENSE)
    assert convex_fusion.fuse(KEYWORD, DENSE, 0.0) == convex_fusion.fuse(KEYWORD, DENSE)


def test_coverage_fusion_trusts_dense_when_bm25_covers_little_of_the_query():
    coverage = Fusion("coverage", alpha=0.6, tau=0.3)
    # Convex fusion puts the item both lists hold first; so does a well-covered query.
    assert coverage.fuse(KEYWORD, DENSE, 0.5)[0][0] == "both"
    # A paraphrase (coverage well below tau): BM25 nearly drops out, dense's order stands.
    low = coverage.fuse(KEYWORD, DENSE, 0.05)
    assert [key for key, _ in low][:2] == ["dn", "both"]
    w = 0.4 * (0.05 / 0.3) ** 2  # BM25's weight left
    assert dict(low)["kw"] == pytest.approx(w * 1.0) and dict(low)["dn"] == pytest.approx(0.6)
    # No BM25 coverage at all: the dense list's min-max scores alone.
    none = dict(coverage.fuse(KEYWORD, DENSE, 0.0))
    assert none == pytest.approx(dict(convex([DENSE, KEYWORD], [0.6, 0.0])))


def test_with_overrides_fills_the_tuned_defaults_and_says_none_when_nothing_is_given():
    from newsearch.errors import QueryError

    assert Fusion.with_overrides() is None
    assert Fusion.with_overrides(alpha=0.3) == Fusion(alpha=0.3)
    assert Fusion.with_overrides("rrf", rrf_k=5) == Fusion(method="rrf", rrf_k=5)
    with pytest.raises(QueryError, match="alpha"):
        Fusion.with_overrides(alpha=2.0)
    with pytest.raises(QueryError, match="unknown fusion"):
        Fusion.with_overrides("borda")
