"""``newsearch serve --cluster DIR [--ray ADDRESS]``: the same HTTP API over a cluster
directory as over one index of the same articles, and a dead shard is a 503 naming it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from urllib.parse import quote

import pytest
from conftest import DEMO, REPO, write
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


def test_a_served_cluster_moves_to_its_rebuild_without_a_restart(one_and_two, tmp_path) -> None:
    one, _ = one_and_two
    corpus = tmp_path / "corpus"
    shutil.copytree(DEMO, corpus)
    cluster = tmp_path / "cluster"
    seed = one / "embeddings.sqlite"
    build_cluster([corpus], cluster, 2, BuildOptions(vector_index="flat"), seed_cache=seed)
    path = "/search?q=quasarbloom&mode=bm25&k=3"
    with serving(cluster, "--cluster", str(cluster)) as srv:
        s, before = srv.get(path)
        assert s == 200 and before["hits"] == []
        write(corpus / "science" / "2026-12-02-quasarbloom.txt", "Quasarbloom seen\n\nQuasarbloom.")
        rebuilt = subprocess.run(
            [*CLI, "index", corpus, "--index-dir", cluster, "--shards", "2", "-q"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=600,
        )
        assert rebuilt.returncode == 0, rebuilt.stderr
        after = srv.wait_for(lambda: (lambda r: r[1]["hits"] and r[1])(srv.get(path)), 120, 0.2)
        assert after["hits"][0]["article_id"].endswith("quasarbloom.txt")
        assert after["generation"] != before["generation"]
        # A page token of the build that went out of service is refused, as a superseded
        # generation's is; the new build's article count is served.
        s, gone = srv.get(f"{path}&offset=3&generation={before['generation']}")
        assert s == 410, gone
        s, st = srv.get("/status")
        assert st["ready"] and st["articles"] == 33 and st["generation"] == after["generation"]
        # A new build that cannot be opened is refused; the one in service stays.
        manifest = json.loads((cluster / "cluster.json").read_text())
        manifest["shards"][1]["path"] = "shards/missing"
        (cluster / "cluster.json").write_text(json.dumps(manifest))
        st = srv.wait_for(lambda: (lambda r: r[1]["refused"] and r[1])(srv.get("/status")), 60)
        assert st["ready"] and st["generation"] == after["generation"]
        assert "missing" in st["refused"]["reason"]
        s, again = srv.get(path)
        assert s == 200 and again["hits"] == after["hits"]


CLI = [sys.executable, "-m", "newsearch.cli.main"]


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

#: Shared by the scripts below, which run inside the cluster's network namespace (the servers
#: listen on its loopback there). Serve names a replica's process after its application and
#: deployment: ``ray::ServeReplica:<prefix>-shard-001:shard-001`` (``.<method>`` added while
#: it runs one).
COMMON = r"""
import json, os, shutil, signal, sys, threading, time
sys.path.insert(0, sys.argv[1])
from urllib.parse import quote
import psutil
from serving import Server

def replica_titles(shard):
    # (pid, application) of each replica of the shard. A replica's title gains ".<method>"
    # while it runs one (a health check, its graceful shutdown): that is still the replica.
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            title = " ".join(p.info["cmdline"] or []).strip()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        parts = title.split(":")  # ray::ServeReplica:<app>:<deployment>[.<method>]
        if len(parts) == 5 and parts[2] == "ServeReplica" and parts[4].split(".")[0] == shard:
            found.append((p.pid, parts[3]))
    return found

def replicas(shard):
    return sorted(pid for pid, _ in replica_titles(shard))

def apps(shard):
    # The Serve applications that run a replica of the shard now.
    return sorted({app for _, app in replica_titles(shard)})

def bare(answer):
    if isinstance(answer, dict):
        answer.pop("took_ms", None); answer.pop("generation", None)
    return answer

def ready(server):
    return server.wait_for(
        lambda: (lambda r: r[0] == 200 and r[1]["ready"] and r[1])(server.get("/status")),
        timeout=300, every=0.5)

def serve_states(address):
    # A driver of this script's own asks Serve's controller for the replica states.
    import ray
    from ray import serve
    if not ray.is_initialized():
        ray.init(address=address, _node_ip_address=address.split(":")[0],
                 logging_level="ERROR", log_to_driver=False)
    return {d: dict(x.replica_states) for a in serve.status().applications.values()
            for d, x in a.deployments.items()}

def wait(check, timeout, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    return check()
"""

#: One replica per shard: the same JSON as one index; shard-001's only replica killed while
#: its directory is away (so Serve cannot start it again) -> 503 naming it; the directory
#: back -> Serve starts the replica again and the same query answers as before, no restart.
ONE_REPLICA_SCRIPT = (
    COMMON
    + r"""
one, two, address, queries = sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
out = {"differ": []}
server = Server(two, "--cluster", two, "--ray", address, startup=300)
try:
    out["status"] = ready(server)
    single = Server(one)
    try:
        for q in queries:
            for mode in ("bm25", "dense", "hybrid"):
                path = f"/search?q={quote(q)}&mode={mode}"
                (sa, a), (sb, b) = single.get(path), server.get(path)
                if sa != 200 or sb != 200 or bare(a) != bare(b):
                    out["differ"].append([q, mode, sb])
    finally:
        single.stop()
    path = f"/search?q={quote(queries[0])}"
    before = bare(server.get(path)[1])
    out["replicas"] = [len(replicas("shard-000")), len(replicas("shard-001"))]
    shard = os.path.join(two, "shards", "shard-001")
    os.rename(shard, shard + ".away")
    try:
        victim = replicas("shard-001")[0]
        os.kill(victim, signal.SIGKILL)
        s, body = server.request("GET", path)[::2]
        out["after_kill"] = [s, body.decode()]
        out["post_after_kill"] = list(server.post("/search", {"q": queries[1]}))
        out["healthz"] = list(server.get("/healthz"))
    finally:
        os.rename(shard + ".away", shard)
    t = time.monotonic()
    got = wait(lambda: (lambda r: r[0] == 200 and r)(server.get(path)), timeout=180)
    out["recovered_s"] = round(time.monotonic() - t, 1)
    out["recovered_same"] = bool(got) and bare(got[1]) == before
    out["new_replica"] = [p for p in replicas("shard-001") if p != victim] != []
    out["alive"] = server.proc.poll() is None
finally:
    server.stop()
    out["exit"] = server.proc.returncode
wait(lambda: not replicas("shard-000") and not replicas("shard-001"), timeout=60)
out["left_after_stop"] = len(replicas("shard-000") + replicas("shard-001"))
print(json.dumps(out))
"""
)


@pytest.mark.cluster
def test_ray_serve_shards_serve_the_same_json_and_a_dead_one_is_a_503(
    ray_cluster, one_and_two
) -> None:
    one, two = one_and_two
    script = [sys.executable, "-c", ONE_REPLICA_SCRIPT, REPO / "tests", one, two]
    got = ray_cluster.run(
        [*script, ray_cluster.address, json.dumps(QUERIES[:3])], timeout=900, cwd=REPO
    )
    assert got.returncode == 0, got.stderr[-3000:]
    out = json.loads(got.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in out.items() if k != "status"}))  # recovered_s (-rA)
    assert out["differ"] == []
    assert out["status"]["cluster"]["ray"] == ray_cluster.address
    assert len(out["status"]["cluster"]["shards"]) == 2
    assert out["replicas"] == [1, 1]  # one Serve replica process per shard
    status, body = out["after_kill"]
    assert status == 503 and "\n" not in body.strip()
    assert json.loads(body) == {
        "error": "shard shard-001 is not answering (no live replica within 5 s)"
    }
    assert out["post_after_kill"][0] == 503 and "shard-001" in out["post_after_kill"][1]["error"]
    assert out["healthz"] == [200, {"ok": True}]
    # Serve started the shard again by itself: same answer, another process, same server.
    assert out["recovered_same"] and out["new_replica"] and out["alive"], out
    assert out["left_after_stop"] == 0  # the server deleted its deployments on exit


#: Two replicas per shard; a load of two request threads runs while one replica of shard-001
#: is SIGKILLed and until Serve reports two running replicas again.
REPLICAS_SCRIPT = (
    COMMON
    + r"""
two, address, queries = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
out = {}
server = Server(two, "--cluster", two, "--ray", address, "--replicas", "2", startup=300)
try:
    ready(server)
    paths = [f"/search?q={quote(q)}&mode={m}" for q in queries for m in ("bm25", "hybrid")]
    expected = {p: bare(server.get(p)[1]) for p in paths}
    out["before"] = serve_states(address)
    victims = replicas("shard-001")
    out["holders"] = len(victims)
    results, stop = [], threading.Event()
    def load():
        i = 0
        while not stop.is_set():
            p = paths[i % len(paths)]; i += 1
            s, a = server.get(p)
            results.append(s == 200 and bare(a) == expected[p])
    workers = [threading.Thread(target=load) for _ in range(2)]
    for w in workers: w.start()
    time.sleep(1.5)
    os.kill(victims[0], signal.SIGKILL)
    t = time.monotonic()
    out["replacing"] = bool(
        wait(lambda: serve_states(address)["shard-001"] != {"RUNNING": 2}, 60, every=0.2)
    )
    back = wait(lambda: serve_states(address)["shard-001"] == {"RUNNING": 2}, timeout=180)
    out["back_s"] = round(time.monotonic() - t, 1) if back else None
    time.sleep(2)  # requests go on to the replaced replica too
    stop.set()
    for w in workers: w.join(60)
    out["requests"], out["good"] = len(results), sum(results)
    out["after"] = serve_states(address)
    now = replicas("shard-001")
    out["now"] = len(now)
    out["victim_gone"] = victims[0] not in now
    out["alive"] = server.proc.poll() is None
finally:
    server.stop()
print(json.dumps(out))
"""
)


@pytest.mark.cluster
def test_two_replicas_lose_no_request_and_serve_replaces_the_dead_one(
    ray_cluster, one_and_two
) -> None:
    _, two = one_and_two
    script = [sys.executable, "-c", REPLICAS_SCRIPT, REPO / "tests", two, ray_cluster.address]
    got = ray_cluster.run([*script, json.dumps(QUERIES[:2])], timeout=900, cwd=REPO)
    assert got.returncode == 0, got.stderr[-3000:]
    out = json.loads(got.stdout.strip().splitlines()[-1])
    print(json.dumps(out))  # requests, back_s: shown with -rA
    assert out["before"] == {"shard-000": {"RUNNING": 2}, "shard-001": {"RUNNING": 2}}
    assert out["holders"] == 2
    assert out["replacing"]  # Serve saw the replica die and started another
    assert out["back_s"] is not None, out  # ... and has two running again, by itself
    assert out["after"] == out["before"] and out["now"] == 2 and out["victim_gone"]
    assert out["requests"] > 0 and out["good"] == out["requests"], out
    assert out["alive"]


#: --workers 2 over Ray: the parent deploys the shards once; each worker process connects to
#: Ray as a driver of its own and calls the same deployments.
WORKERS_SCRIPT = (
    COMMON
    + r"""
from concurrent.futures import ThreadPoolExecutor
one, two, address, queries = sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
host, port = address.rsplit(":", 1)
out = {}
server = Server(two, "--cluster", two, "--ray", address, "--workers", "2", startup=300)
try:
    ready(server)
    def to_gcs(pid):
        try:
            return any(c.raddr and c.raddr.ip.removeprefix("::ffff:") == host
                       and c.raddr.port == int(port)
                       for c in psutil.Process(pid).net_connections(kind="tcp"))
        except psutil.NoSuchProcess:
            return False
    kids = lambda: [c.pid for c in psutil.Process(server.proc.pid).children()]
    out["workers_on_ray"] = len(wait(lambda: (lambda k: len(k) >= 2 and k)(
        [pid for pid in kids() if to_gcs(pid)]), timeout=120) or [])
    out["replicas"] = [len(replicas("shard-000")), len(replicas("shard-001"))]
    paths = [f"/search?q={quote(q)}&mode={m}" for q in queries for m in ("bm25", "hybrid")]
    single = Server(one)
    try:
        expected = {p: bare(single.get(p)[1]) for p in paths}
    finally:
        single.stop()
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda p: (p, server.get(p)), paths * 10))
    out["requests"] = len(got)
    out["good"] = sum(s == 200 and bare(a) == expected[p] for p, (s, a) in got)
    out["alive"] = server.proc.poll() is None
finally:
    server.stop()
wait(lambda: not replicas("shard-000") and not replicas("shard-001"), timeout=60)
out["left_after_stop"] = len(replicas("shard-000") + replicas("shard-001"))
print(json.dumps(out))
"""
)


@pytest.mark.cluster
def test_workers_over_ray_share_one_deployment_per_shard(ray_cluster, one_and_two) -> None:
    one, two = one_and_two
    script = [sys.executable, "-c", WORKERS_SCRIPT, REPO / "tests", one, two]
    got = ray_cluster.run(
        [*script, ray_cluster.address, json.dumps(QUERIES[:2])], timeout=900, cwd=REPO
    )
    assert got.returncode == 0, got.stderr[-3000:]
    out = json.loads(got.stdout.strip().splitlines()[-1])
    assert out["workers_on_ray"] == 2, out  # both worker processes connected to the GCS
    assert out["replicas"] == [1, 1]  # deployed once (by the parent), not once per worker
    assert out["requests"] == 40 and out["good"] == 40, out
    assert out["alive"] and out["left_after_stop"] == 0


#: A cluster served on Ray, rebuilt with one article more: the server deploys the new build
#: beside the old one, swaps, and deletes the old deployments after the grace period.
FOLLOW_SCRIPT = (
    COMMON
    + r"""
import subprocess
corpus, cluster, address = sys.argv[2], sys.argv[3], sys.argv[4]
out = {}
server = Server(cluster, "--cluster", cluster, "--ray", address, startup=300)
try:
    ready(server)
    path = "/search?q=quasarbloom&mode=bm25&k=3"
    s, before = server.get(path)
    out["before"] = [s, before["hits"]]
    out["apps_before"] = apps("shard-001")
    os.makedirs(os.path.join(corpus, "science"), exist_ok=True)
    with open(os.path.join(corpus, "science", "2026-12-02-quasarbloom.txt"), "w") as f:
        f.write("Quasarbloom seen\n\nQuasarbloom.")
    cli = [sys.executable, "-m", "newsearch.cli.main"]
    got = subprocess.run([*cli, "index", corpus, "--index-dir", cluster, "--shards", "2", "-q"],
                         capture_output=True, text=True, timeout=600)
    out["rebuilt"] = [got.returncode, got.stderr[-500:]]
    after = wait(lambda: (lambda r: r[1]["hits"] and r[1])(server.get(path)), timeout=300)
    out["found"] = bool(after) and after["hits"][0]["article_id"].endswith("quasarbloom.txt")
    out["new_generation"] = bool(after) and after["generation"] != before["generation"]
    out["old_token"] = server.get(f"{path}&offset=3&generation={before['generation']}")[0]
    # The old build's deployments are deleted after the grace period (request timeout + 5 s).
    wait(lambda: len(apps("shard-001")) == 1, timeout=120)
    out["apps_after"] = apps("shard-001")
    out["alive"] = server.proc.poll() is None
finally:
    server.stop()
wait(lambda: not replicas("shard-000") and not replicas("shard-001"), timeout=60)
out["left_after_stop"] = len(replicas("shard-000") + replicas("shard-001"))
print(json.dumps(out))
"""
)


@pytest.mark.cluster
def test_a_cluster_served_on_ray_moves_to_its_rebuild(ray_cluster, one_and_two, tmp_path) -> None:
    one, _ = one_and_two
    corpus = tmp_path / "corpus"
    shutil.copytree(DEMO, corpus)
    cluster = tmp_path / "cluster"
    seed = one / "embeddings.sqlite"
    build_cluster([corpus], cluster, 2, BuildOptions(vector_index="flat"), seed_cache=seed)
    script = [sys.executable, "-c", FOLLOW_SCRIPT, REPO / "tests", corpus, cluster]
    got = ray_cluster.run([*script, ray_cluster.address], timeout=900, cwd=REPO)
    assert got.returncode == 0, got.stderr[-3000:]
    out = json.loads(got.stdout.strip().splitlines()[-1])
    assert out["before"] == [200, []] and len(out["apps_before"]) == 1
    assert out["rebuilt"][0] == 0, out["rebuilt"]
    assert out["found"] and out["new_generation"] and out["old_token"] == 410, out
    # One application of shard-001 again, and not the old one: the new build's.
    assert len(out["apps_after"]) == 1 and out["apps_after"] != out["apps_before"], out
    assert out["alive"] and out["left_after_stop"] == 0
