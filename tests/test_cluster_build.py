"""The distributed build on a real two-node Ray cluster (tests/ray_cluster.py): tasks land on
both nodes, `newsearch index --ray` builds shards there, and the cluster answers as one index."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import DEMO, REPO
from ray_cluster import HEAD_IP, WORKER_IP

from newsearch.cluster.manifest import ClusterManifest
from newsearch.cluster.searcher import ClusterSearcher
from newsearch.indexer import BuildOptions, build_index
from newsearch.search import Searcher

pytestmark = pytest.mark.cluster

NODES_SCRIPT = """
import json, sys, time, ray
from newsearch.cluster.runtime import connected

@ray.remote(num_cpus=1, scheduling_strategy="SPREAD")
def where():
    time.sleep(2)  # both tasks at once: one CPU per node puts them on different nodes
    ctx = ray.get_runtime_context()
    return ctx.get_node_id(), ray.util.get_node_ip_address()

with connected(sys.argv[1]) as r:
    alive = [n["NodeManagerAddress"] for n in r.nodes() if n["Alive"]]
    print(json.dumps({"nodes": alive, "ran": r.get([where.remote() for _ in range(2)])}))
"""

SERVE_SCRIPT = """
import json, os, sys, time
import ray
from newsearch.cluster.deployments import ShardUnavailable
from newsearch.cluster.searcher import ClusterSearcher
from newsearch.search import Searcher

one, cluster, address = sys.argv[1:4]
queries = json.loads(sys.argv[4])
out = {"differ": []}
with Searcher(one) as a, ClusterSearcher(cluster, ray_address=address, shard_timeout=2) as b:
    out["nodes"] = sorted({n["NodeID"] for n in ray.nodes() if n["Alive"]})
    for q in queries:
        for mode in ("bm25", "dense", "hybrid"):
            pa, pb = a.search(q, k=10, mode=mode).to_dict(), b.search(q, k=10, mode=mode).to_dict()
            pa.pop("took_ms"), pb.pop("took_ms")
            if pa != pb:
                out["differ"].append([q, mode])
    # Serve's replica actor of shard-001, killed while the shard cannot be opened again.
    named = ray.util.list_named_actors(all_namespaces=True)
    replica = [x for x in named if "SERVE_REPLICA" in x["name"] and "shard-001" in x["name"]]
    out["replicas"] = len(replica)
    shard = os.path.join(cluster, "shards", "shard-001")
    os.rename(shard, shard + ".away")
    try:
        ray.kill(ray.get_actor(replica[0]["name"], namespace=replica[0]["namespace"]))
        try:
            b.search(queries[0], k=10)
            out["after_kill"] = "answered"
        except ShardUnavailable as exc:
            out["after_kill"] = str(exc)
    finally:
        os.rename(shard + ".away", shard)
    deadline = time.monotonic() + 180
    while True:  # Serve starts the replica again once it can open the shard
        try:
            page = b.search(queries[0], k=10).to_dict()
            break
        except ShardUnavailable:
            if time.monotonic() > deadline:
                raise
    expected = a.search(queries[0], k=10).to_dict()
    page.pop("took_ms"), expected.pop("took_ms")
    out["recovered"] = page == expected
print(json.dumps(out))
"""


def test_tasks_run_on_both_nodes_and_nothing_listens_outside(ray_cluster) -> None:
    got = ray_cluster.run([sys.executable, "-c", NODES_SCRIPT, ray_cluster.address], timeout=300)
    assert got.returncode == 0, got.stderr[-2000:]
    report = json.loads(got.stdout.strip().splitlines()[-1])
    assert sorted(report["nodes"]) == [HEAD_IP, WORKER_IP]
    assert len({node for node, _ in report["ran"]}) == 2
    assert sorted(ip for _, ip in report["ran"]) == [HEAD_IP, WORKER_IP]
    # The cluster's sockets live in its own network namespace: none in this machine's.
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    pids = ray_cluster.pids()
    assert len(pids) >= 4  # two `ray start`s, a GCS, two raylets at least
    assert not [line for line in listening.splitlines() if any(f"pid={p}," in line for p in pids)]


def test_cli_builds_shards_on_the_cluster_that_search_as_one_index(ray_cluster, tmp_path) -> None:
    cluster_dir = tmp_path / "cluster"
    cli = [sys.executable, "-m", "newsearch.cli.main"]
    got = ray_cluster.run(
        [
            *cli,
            "index",
            DEMO,
            "--index-dir",
            cluster_dir,
            "--ray",
            ray_cluster.address,
            "--shards",
            "2",
            "--json",
        ],
        timeout=900,
        cwd=REPO,
    )
    assert got.returncode == 0, got.stderr[-3000:]
    report = json.loads(got.stdout)
    assert [s["shard"] for s in report["shards"]] == [0, 1]
    assert len({s["node"] for s in report["shards"]}) == 2  # one shard built on each node
    manifest = ClusterManifest.load(cluster_dir)
    assert sum(s.articles for s in manifest.shards) == report["articles"] == 32

    one = tmp_path / "one"
    build_index([DEMO], one, BuildOptions())
    queries = ["harbour rail strike", '"water rationing" heatwave', "new species deep sea"]
    with Searcher(one) as single, ClusterSearcher(cluster_dir) as sharded:
        for q in queries:
            for mode in ("bm25", "dense", "hybrid"):
                a = single.search(q, k=10, mode=mode).to_dict()
                b = sharded.search(q, k=10, mode=mode).to_dict()
                a.pop("took_ms"), b.pop("took_ms")
                assert a == b, (q, mode)
    # The CLI's query sees a cluster directory as one index.
    got = subprocess.run(
        [*cli, "query", queries[0], "--index-dir", cluster_dir, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert got.returncode == 0, got.stderr
    with Searcher(one) as single:
        # `newsearch query` marks sentences by meaning (the library only when asked).
        marked = single.search(queries[0], k=10, highlights=True)
        expected = json.loads(json.dumps(marked.to_dict()))
    page = json.loads(got.stdout)
    page.pop("took_ms"), expected.pop("took_ms")
    assert page == expected

    # Served by one Ray Serve deployment per shard: the same pages; a shard whose replica died
    # (and cannot start again) is an error naming it; Serve brings it back by itself.
    script = [sys.executable, "-c", SERVE_SCRIPT, one, cluster_dir, ray_cluster.address]
    got = ray_cluster.run(
        [*script, json.dumps(queries)],
        timeout=600,
        cwd=REPO,
    )
    assert got.returncode == 0, got.stderr[-3000:]
    served = json.loads(got.stdout.strip().splitlines()[-1])
    assert served["differ"] == []
    assert served["replicas"] == 1
    assert served["after_kill"] == "shard shard-001 is not answering (no live replica within 2 s)"
    assert served["recovered"]


def test_ray_auto_starts_its_own_local_instance(ray_cluster, tmp_path) -> None:
    """--ray auto: a new local Ray instance in the CLI process (inside the test namespace,
    so it listens nowhere outside), never the cluster already running there."""
    out = tmp_path / "auto"
    args = ["index", DEMO / "sport", "--index-dir", out, "--ray", "auto", "--shards", "2"]
    got = ray_cluster.run(
        [sys.executable, "-m", "newsearch.cli.main", *args, "--json"], timeout=600, cwd=REPO
    )
    assert got.returncode == 0, got.stderr[-3000:]
    report = json.loads(got.stdout)
    assert report["ray"] == "auto" and report["articles"] == 4
    nodes = {s["node"] for s in report["shards"]}
    assert len(nodes) == 1  # one local node, not the two of the running cluster
    with ClusterSearcher(out) as s:
        assert s.search("cup final", k=1).hits[0].article_id.endswith("win-cup-final.txt")


BBC = REPO.parent / "shared" / "data" / "bbc"
#: An embedding cache of the BBC corpus the lead's builds leave (optional: a cold build
#: embeds ~11k texts, ~10 min of CPU, twice).
BBC_CACHE = REPO.parent / "scratch" / "bbc" / "embeddings.sqlite"


@pytest.mark.slow
@pytest.mark.shared
def test_bbc_two_shards_on_the_cluster_rank_as_one_index(ray_cluster, tmp_path) -> None:
    """The issue's equality test: 200 BBC queries (bench/speed.py's: headlines and first
    sentences), each mode, top 10 ids and order identical between 2 shards and 1 index."""
    import sqlite3

    from conftest import require_shared

    require_shared(BBC)
    sys.path.insert(0, str(REPO / "bench"))
    from speed import make_queries

    one = tmp_path / "one"
    one.mkdir()
    seed: list[str] = []
    if BBC_CACHE.exists():
        with sqlite3.connect(BBC_CACHE) as src, sqlite3.connect(one / "embeddings.sqlite") as dst:
            src.backup(dst)
        seed = ["--seed-cache", str(one / "embeddings.sqlite")]
    build_index([BBC], one, BuildOptions(vector_index="flat"))
    cluster_dir = tmp_path / "cluster"
    args = ["index", BBC, "--index-dir", cluster_dir, "--ray", ray_cluster.address]
    got = ray_cluster.run(
        [sys.executable, "-m", "newsearch.cli.main", *args, "--shards", "2", "--json", *seed],
        timeout=1800,
        cwd=REPO,
    )
    assert got.returncode == 0, got.stderr[-3000:]
    report = json.loads(got.stdout)
    assert report["articles"] == 2225 and len(report["shards"]) == 2
    queries = make_queries([BBC], 200)
    assert len(queries) == 200
    differ = []
    with Searcher(one) as single, ClusterSearcher(cluster_dir) as sharded:
        assert sharded.meta.paragraphs == single.meta.paragraphs
        for mode in ("bm25", "dense", "hybrid"):
            for q in queries:
                a = [h.article_id for h in single.search(q, k=10, mode=mode).hits]
                b = [h.article_id for h in sharded.search(q, k=10, mode=mode).hits]
                if a != b:
                    differ.append((mode, q))
    assert differ == []
