"""Ranked lists as arrays that still read as (id, score) pairs."""

import pickle

import numpy as np
import pytest

from newsearch.indexer.ranked import Ranked


def test_a_ranked_list_reads_as_its_pairs():
    pairs = [(7, 2.5), (3, 1.0), (9, 1.0)]
    r = Ranked.of(pairs)
    assert r.ids.dtype == np.int64 and r.scores.dtype == np.float64
    assert len(r) == 3 and list(r) == pairs and r.pairs() == pairs
    assert r[0] == (7, 2.5) and r[-1] == (9, 1.0)
    assert isinstance(r[0][0], int) and isinstance(r[0][1], float)
    assert r[1:] == [(3, 1.0), (9, 1.0)] and isinstance(r[1:], Ranked)
    assert dict(r) == {7: 2.5, 3: 1.0, 9: 1.0}
    assert r == Ranked.of(pairs) and r != Ranked.of(pairs[:2]) and r != pairs[::-1]
    assert Ranked.of(r) is r


def test_an_empty_ranked_list_is_falsy_and_equals_an_empty_list():
    for empty in (Ranked.empty(), Ranked.of([])):
        assert not empty and empty == [] and list(empty) == [] and len(empty) == 0


def test_float32_scores_widen_to_the_doubles_a_list_of_them_held():
    """FAISS answers in float32; the old lists held ``tolist()``'s doubles of them."""
    scores = np.array([0.8123456, 0.5, 0.3333333], dtype=np.float32)
    r = Ranked(np.array([1, 2, 3]), scores)
    assert r.scores.tolist() == scores.tolist()


def test_a_ranked_list_survives_pickling_for_cluster_shards():
    r = Ranked.of([(5, 0.25), (1, 0.125)])
    assert pickle.loads(pickle.dumps(r)) == r


def test_ids_and_scores_must_pair_up():
    with pytest.raises(ValueError):
        Ranked(np.array([1, 2]), np.array([0.5]))
