"""``newsearch serve --cluster DIR [--ray ADDRESS]``: the same HTTP API over a cluster
directory as over one index of the same articles, and a dead shard is a 503 naming it."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import quote

import pytest
from conftest import DEMO, REPO
from serving import SERVE, serving

from newsearch.cluster.build import build_cluster
from newsearch.indexer import BuildOptions, build_index

QUERIES = [
    "harbour rail strike",
    "central bank interest rates",
    '"water rationing" during the heatwave',
    "new species found in a deep sea canyon",
    "satellite launch",
]


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory):
    root = tmp_path_factory.mktemp("server_cluster")
    opts = BuildOptions(vector_index="flat")
    build_index([DEMO], root / "one", opts)
    build_cluster([DEMO], root / "two", 2, opts, seed_cache=root / "one" / "embeddings.sqlite")
    return root / "one", root / "two"


def _bare(answer: dict) -> dict:
    """An answer without what differs between any two servers (time, generation name)."""
    return {k: v for k, v in answer.items() if k not in ("took_ms", "generation")}


def test_a_cluster_serves_the_json_of_one_index(one_and_two) -> None:
    one, two = one_and_two
    with serving(one) as single, serving(two, "--cluster", str(two)) as sharded:
        for q in QUERIES:
            for mode in ("bm25", "dense", "hybrid"):
                path = f"/search?q={quote(q)}&mode={mode}&k=10"
                (sa, a), (sb, b) = single.get(path), sharded.get(path)
                assert sa == sb == 200, (a, b)
                assert b["hits"] and _bare(a) == _bare(b), (q, mode)
        body = {"q": QUERIES[0], "k": 5, "fusion": "rrf", "category": ["business"]}
        (sa, a), (sb, b) = single.post("/search", body), sharded.post("/search", body)
        assert sa == sb == 200 and _bare(a) == _bare(b)
        # The next page, pinned to the cluster's generation token, is the next page of one index.
        s, first = sharded.get(f"/search?q={quote(QUERIES[1])}&k=3")
        s2, nxt = sharded.get(
            f"/search?q={quote(QUERIES[1])}&k=3&offset=3&generation={first['generation']}"
        )
        _, expected = single.get(f"/search?q={quote(QUERIES[1])}&k=3&offset=3")
        assert s == s2 == 200 and _bare(nxt) == _bare(expected)
        # An article and its story read through the shards as from one index.
        hit = first["hits"][0]
        article_id, story_id = hit["article_id"], hit["story_id"]
        for path in (f"/articles/{quote(article_id)}", f"/stories/{quote(story_id)}"):
            (sa, a), (sb, b) = single.get(path), sharded.get(path)
            assert sa == sb == 200 and _bare(a) == _bare(b), path
        # /status: a cluster, its shards, and the totals of one index.
        _, st_one = single.get("/status")
        s, st = sharded.get("/status")
        assert s == 200 and st["ready"] and st_one["cluster"] is None
        assert st["articles"] == st_one["articles"] == 32
        shards = st["cluster"]["shards"]
        assert [x["name"] for x in shards] == ["shard-000", "shard-001"]
        assert sum(x["articles"] for x in shards) == 32 and st["cluster"]["ray"] is None
        # The page renders the same results.
        _, top = sharded.get(f"/search?q={quote(QUERIES[0])}&k=1")
        s, html = sharded.get(f"/?q={quote(QUERIES[0])}")
        assert s == 200 and top["hits"][0]["title"].split()[0] in html


def _serve_fails(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SERVE, *args, "--port", "0"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_cluster_options_refuse_what_they_cannot_serve(one_and_two) -> None:
    one, two = one_and_two
    runs = [
        (("--cluster", str(one)), "no cluster at"),
        (("-i", str(one), "--ray", "auto"), "--ray serves a cluster directory"),
        (("--cluster", str(two), "--watch", str(DEMO)), "--watch follows one index"),
        (("--cluster", str(two), "--replicas", "2"), "--replicas needs --ray"),
    ]
    for args, message in runs:
        got = _serve_fails(*args)
        assert got.returncode != 0 and message in got.stderr, got.stderr
        assert "Traceback" not in got.stderr and len(got.stderr.strip().splitlines()) == 1


# -- on the real two-node Ray cluster -------------------------------------------------------

#: Runs inside the cluster's network namespace (the server listens on its loopback there):
#: serve the cluster with --ray, compare with one index, kill shard-001's actor process.
RAY_SCRIPT = r"""
import json, os, signal, sys, time
sys.path.insert(0, sys.argv[5])
from urllib.parse import quote
import psutil
from serving import Server

one, two, address, queries = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
out = {"differ": []}
server = Server(two, "--cluster", two, "--ray", address, startup=300)
try:
    s, st = server.wait_for(lambda: (lambda r: r[0] == 200 and r[1]["ready"] and r)(
        server.get("/status")), timeout=300, every=0.5)
    out["status"] = st
    single = Server(one)
    try:
        for q in queries:
            for mode in ("bm25", "dense", "hybrid"):
                path = f"/search?q={quote(q)}&mode={mode}"
                (sa, a), (sb, b) = single.get(path), server.get(path)
                a.pop("took_ms"), b.pop("took_ms"), a.pop("generation"), b.pop("generation")
                if sa != 200 or sb != 200 or a != b:
                    out["differ"].append([q, mode, sb])
    finally:
        single.stop()
    # The actor process that holds shard-001 open (its docstore), killed as a crash would.
    victims = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            title = " ".join(p.info["cmdline"] or [])
            if "ShardServer" in title and any(
                "shard-001" in f.path for f in p.open_files()
            ):
                victims.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    out["victims"] = len(victims)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    time.sleep(2)
    s, body = server.request("GET", f"/search?q={quote(queries[0])}")[::2]
    out["after_kill"] = [s, body.decode()]
    out["post_after_kill"] = list(server.post("/search", {"q": queries[1]}))
    out["healthz"] = list(server.get("/healthz"))
    out["alive"] = server.proc.poll() is None
finally:
    server.stop()
    out["exit"] = server.proc.returncode
print(json.dumps(out))
"""


@pytest.mark.cluster
def test_ray_shards_serve_the_same_json_and_a_dead_one_is_a_503(ray_cluster, one_and_two) -> None:
    one, two = one_and_two
    script = [sys.executable, "-c", RAY_SCRIPT, one, two, ray_cluster.address]
    got = ray_cluster.run([*script, json.dumps(QUERIES[:3]), REPO / "tests"], timeout=600, cwd=REPO)
    assert got.returncode == 0, got.stderr[-3000:]
    out = json.loads(got.stdout.strip().splitlines()[-1])
    assert out["differ"] == []
    assert out["status"]["cluster"]["ray"] == ray_cluster.address
    assert len(out["status"]["cluster"]["shards"]) == 2
    assert out["victims"] == 1
    status, body = out["after_kill"]
    assert status == 503 and "\n" not in body.strip()
    assert json.loads(body) == {"error": "shard shard-001 is not answering (its actor died)"}
    assert out["post_after_kill"][0] == 503 and "shard-001" in out["post_after_kill"][1]["error"]
    assert out["healthz"] == [200, {"ok": True}] and out["alive"]


#: Two actors per shard; requests run while one replica of shard-001 is killed, then the other.
REPLICAS_SCRIPT = r"""
import json, os, signal, sys, threading, time
sys.path.insert(0, sys.argv[4])
from urllib.parse import quote
import psutil
from serving import Server

two, address, queries = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out = {}
server = Server(two, "--cluster", two, "--ray", address, "--replicas", "2", startup=300)

def holders(shard):
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            title = " ".join(p.info["cmdline"] or [])
            if "ShardServer" in title and any(shard in f.path for f in p.open_files()):
                found.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found

try:
    server.wait_for(lambda: (lambda r: r[0] == 200 and r[1]["ready"])(server.get("/status")),
                    timeout=300, every=0.5)
    paths = [f"/search?q={quote(q)}&mode={m}" for q in queries for m in ("bm25", "hybrid")]
    expected = {}
    for p in paths:
        s, a = server.get(p)
        a.pop("took_ms"); expected[p] = a
    out["holders"] = len(holders("shard-001"))
    results, stop = [], threading.Event()
    def load():
        i = 0
        while not stop.is_set():
            p = paths[i % len(paths)]; i += 1
            s, a = server.get(p)
            if isinstance(a, dict):
                a.pop("took_ms", None)
            results.append(s == 200 and a == expected[p])
    workers = [threading.Thread(target=load) for _ in range(2)]
    for w in workers: w.start()
    time.sleep(1.5)
    os.kill(holders("shard-001")[0], signal.SIGKILL)
    time.sleep(3)
    stop.set()
    for w in workers: w.join(60)
    out["requests"], out["good"] = len(results), sum(results)
    out["left"] = len(holders("shard-001"))
    for pid in holders("shard-001"):
        os.kill(pid, signal.SIGKILL)
    time.sleep(2)
    out["after_both"] = list(server.get(paths[0]))
    out["alive"] = server.proc.poll() is None
finally:
    server.stop()
print(json.dumps(out))
"""


@pytest.mark.cluster
def test_two_replicas_per_shard_lose_no_request_when_one_dies(ray_cluster, one_and_two) -> None:
    _, two = one_and_two
    script = [sys.executable, "-c", REPLICAS_SCRIPT, two, ray_cluster.address]
    got = ray_cluster.run([*script, json.dumps(QUERIES[:2]), REPO / "tests"], timeout=600, cwd=REPO)
    assert got.returncode == 0, got.stderr[-3000:]
    out = json.loads(got.stdout.strip().splitlines()[-1])
    assert out["holders"] == 2 and out["left"] == 1
    assert out["requests"] > 0 and out["good"] == out["requests"], out
    status, body = out["after_both"]
    assert status == 503 and "shard-001" in body["error"] and out["alive"]
