"""A cluster directory searched in this process (cluster/searcher.py, cluster/generation.py):
two shards answer exactly as one index over the same articles, page for page."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import DEMO

from newsearch.cluster.build import build_cluster
from newsearch.cluster.manifest import ClusterManifest
from newsearch.cluster.searcher import ClusterSearcher, open_searcher
from newsearch.indexer import BuildOptions, build_index
from newsearch.indexer.keyword import KeywordConfig
from newsearch.indexer.layout import DOCSTORE_FILE, IndexLayout
from newsearch.search import Fusion, SearchConfig, Searcher
from newsearch.search.filters import Filter

QUERIES = [
    "harbour rail strike",
    "central bank interest rates",
    '"water rationing" during the heatwave',
    "new species found in a deep sea canyon",
    "election debate on housing and taxes",
    "satellite launch",
    "nurses strike over staffing",
    "chip factory",
]


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster_searcher")
    opts = BuildOptions(vector_index="flat")
    build_index([DEMO], root / "one", opts)
    report = build_cluster(
        [DEMO], root / "two", 2, opts, seed_cache=root / "one" / "embeddings.sqlite"
    )
    return root / "one", root / "two", report


def _page(searcher, query: str, **kw) -> dict:
    page = searcher.search(query, k=10, **kw).to_dict()
    page.pop("took_ms")
    return page


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_two_shards_give_the_pages_of_one_index(one_and_two, mode: str) -> None:
    one, two, _ = one_and_two
    with Searcher(one) as a, ClusterSearcher(two) as b:
        for q in QUERIES:
            assert _page(a, q, mode=mode) == _page(b, q, mode=mode), q


def test_fusions_filters_and_uncollapsed_pages_match_too(one_and_two) -> None:
    one, two, _ = one_and_two
    runs = [
        {"fusion": Fusion(method="rrf")},
        {"fusion": Fusion(method="convex")},
        {"collapse": False},
        {"filters": Filter.make(category=["business"])},
    ]
    with Searcher(one) as a, ClusterSearcher(two) as b:
        for kw in runs:
            for q in QUERIES[:4]:
                assert _page(a, q, **kw) == _page(b, q, **kw), (q, kw)


def test_bm25_mode_of_its_own_reaches_the_shards(one_and_two) -> None:
    """bm25 mode's own parameters (tuned apart, ``SearchConfig.keyword_alone``) are sent to
    the shards with each search: the pages of one index with the same settings, and not the
    pages of the hybrid's BM25."""
    one, two, _ = one_and_two
    alone = KeywordConfig(k1=0.3, b=0.2, title_boost=2.0, idf="lucene")
    config = SearchConfig(keyword_alone=alone)
    with (
        Searcher(one, config=config) as a,
        ClusterSearcher(two, config=config) as b,
        ClusterSearcher(two, config=SearchConfig()) as plain,
    ):
        differ = 0
        for q in QUERIES:
            assert _page(a, q, mode="bm25") == _page(b, q, mode="bm25"), q
            assert _page(a, q) == _page(b, q), q  # hybrid keeps the shards' own BM25
            ours, theirs = b.candidates(q, mode="bm25"), plain.candidates(q, mode="bm25")
            differ += ours.scores.tolist() != theirs.scores.tolist()
        assert differ == len(QUERIES)


def test_shards_hold_disjoint_articles_with_the_stories_of_one_index(one_and_two) -> None:
    one, two, report = one_and_two
    manifest = ClusterManifest.load(two)
    assert len(manifest.shards) == 2 and all(s.articles for s in manifest.shards)

    def rows(index_dir):
        gen = IndexLayout(index_dir).generations / IndexLayout(index_dir).current_name()
        with sqlite3.connect(gen / DOCSTORE_FILE) as conn:
            arts = dict(conn.execute("SELECT id, story_id FROM articles"))
            pids = dict(conn.execute("SELECT pid, article_id FROM paragraphs"))
        return arts, pids

    arts_one, pids_one = rows(one)
    arts_two: dict[str, str] = {}
    pids_two: dict[int, str] = {}
    for shard in manifest.shard_dirs(two):
        arts, pids = rows(shard)
        assert not arts.keys() & arts_two.keys()
        arts_two.update(arts)
        pids_two.update(pids)
    assert arts_two == arts_one  # same articles, same story ids
    assert pids_two == pids_one  # paragraph ids as one index numbers them
    # Seeded with the single index's cache: the shards embedded nothing.
    assert report.embedded == 0 and report.reused > 0


def test_stats_are_global_so_a_shard_alone_scores_differently(one_and_two) -> None:
    """The merge is not trivially equal: a shard on its own statistics scores otherwise."""
    one, two, _ = one_and_two
    with Searcher(one) as a, ClusterSearcher(two) as b:
        q = "harbour rail strike"
        full = dict(a.keyword_search(q, 1000))
        alone: dict[int, float] = {}
        for part in b._state.shards.call("keyword_local", q, 1000):  # own statistics each
            alone.update(part)
        common = full.keys() & alone.keys()
        assert common and any(abs(full[p] - alone[p]) > 1e-9 for p in common)
        merged = dict(b.keyword_search(q, 50))
        assert all(merged[p] == full[p] for p in merged)


def test_open_searcher_picks_the_backend_and_manifest_is_json(one_and_two) -> None:
    one, two, _ = one_and_two
    with open_searcher(two) as s:
        assert isinstance(s, ClusterSearcher)
        assert s.meta.articles == 32 and s.refresh() is False
    with open_searcher(one) as s:
        assert not isinstance(s, ClusterSearcher)
    raw = json.loads((two / "cluster.json").read_text())
    assert raw["partition"].startswith("components of story-candidate pairs")
    assert "dfs_query_then_fetch" in raw["global_stats"]


def test_a_missing_shard_is_a_clear_error_naming_it(one_and_two, tmp_path) -> None:
    """Never a partial answer presented as complete: a cluster with a shard gone does not
    open, and the error names the shard."""
    import shutil

    from newsearch.errors import NewsearchError

    _, two, _ = one_and_two
    broken = tmp_path / "broken"
    shutil.copytree(two, broken)
    shutil.rmtree(broken / "shards" / "shard-001")
    with pytest.raises(NewsearchError, match="shard-001"):
        ClusterSearcher(broken)
