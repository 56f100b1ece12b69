"""Scale-out benchmark: a cold cluster build with 1 and 2 Ray workers, query latency over 1 and
2 shards, and the memory of each Ray node, on the real two-node local cluster of the tests.

    python bench/cluster.py --corpus ../shared/data/bbc/tech --queries 100

Both builds start with empty embedding caches (a cold build: embedding is what scales out).
"1 worker" is ``--shards 1`` (one task on one node), "2 workers" is ``--shards 2`` (a task on
each node, one CPU each). Query latency is in this process, over the cluster directory (the
shards are searched one after the other here, so 2 shards cost more per query than 1; the
point of shards is that each fits one machine). RAM per node: the peak, sampled every 0.2 s,
of the summed RSS of every process of that node's ``ray start`` session (raylet, object
store, workers with the encoder loaded). Writes a section of BENCHMARKS.md.

    python bench/cluster.py --corpus ../shared/data/bbc/tech --queries 100 --serving \
        --seed-cache ../scratch/bbc/embeddings.sqlite

``--serving`` measures the serving path instead: query p50 over 1 and 2 shards, each shard a
Ray Serve deployment with one replica on the two-node cluster (``ClusterSearcher(...,
ray_address=...)``, the path ``newsearch serve --ray`` takes), beside the same shards opened
in the querying process, query by query in one run. The shards are built in this process
from a copy of ``--seed-cache`` (no embedding: only the serving path is measured).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

from ray_cluster import LocalRayCluster, session_pids  # noqa: E402
from speed import loadavg, make_queries, pct, write_benchmarks  # noqa: E402

from newsearch.cluster.searcher import ClusterSearcher  # noqa: E402


def rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class NodeMemory:
    """Peak summed RSS of each node's session while running."""

    def __init__(self, cluster: LocalRayCluster) -> None:
        self.sids = {"head": cluster.procs[0].pid, "worker": cluster.procs[1].pid}
        self.peak = dict.fromkeys(self.sids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, sid in self.sids.items():
                self.peak[name] = max(self.peak[name], rss(session_pids(sid)))
            self._stop.wait(0.2)

    def __enter__(self) -> NodeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def build(cluster: LocalRayCluster, corpus: list[str], out: Path, shards: int) -> dict:
    started = time.perf_counter()
    args = ["index", *corpus, "--index-dir", out, "--ray", cluster.address]
    got = cluster.run(
        [sys.executable, "-m", "newsearch.cli.main", *args, "--shards", str(shards), "--json"],
        timeout=3600,
        cwd=REPO,
    )
    if got.returncode != 0:
        raise SystemExit(got.stderr[-3000:])
    report = json.loads(got.stdout)
    report["wall"] = time.perf_counter() - started
    return report


#: Runs inside the cluster's network namespace: p50 per mode, in process vs Ray Serve.
SERVING_SCRIPT = r"""
import json, sys, time
import numpy as np
from newsearch.cluster.searcher import ClusterSearcher
cluster, address, queries = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
out = {}
t = time.perf_counter()
with ClusterSearcher(cluster) as local, ClusterSearcher(cluster, ray_address=address) as served:
    out["open_s"] = time.perf_counter() - t
    for mode in ("bm25", "dense", "hybrid"):
        took = {"local": [], "serve": []}
        for q in queries[:5]:
            local.search(q, k=10, mode=mode), served.search(q, k=10, mode=mode)
        for q in queries:  # one after the other, query by query: the same load for both
            for name, s in (("local", local), ("serve", served)):
                t = time.perf_counter()
                s.search(q, k=10, mode=mode)
                took[name].append((time.perf_counter() - t) * 1000)
        out[mode] = {k: float(np.percentile(v, 50)) for k, v in took.items()}
print(json.dumps(out))
"""


def serving(args: argparse.Namespace, work: Path) -> None:
    import shutil

    from newsearch.cluster.build import build_cluster
    from newsearch.indexer import BuildOptions

    queries = make_queries([Path(c) for c in args.corpus], args.queries)
    work.mkdir(parents=True, exist_ok=True)
    seed = None
    if args.seed_cache:
        seed = work / "seed.sqlite"
        shutil.copyfile(args.seed_cache, seed)
    for shards in (1, 2):
        build_cluster(args.corpus, work / f"s{shards}", shards, BuildOptions(), seed_cache=seed)
    rows: list[tuple[str, str, str, str, str, str]] = []
    cluster = LocalRayCluster()
    try:
        cluster.start()
        got = {}
        for shards in (1, 2):
            run = cluster.run(
                [
                    sys.executable,
                    "-c",
                    SERVING_SCRIPT,
                    work / f"s{shards}",
                    cluster.address,
                    json.dumps(queries),
                ],
                timeout=1800,
                cwd=REPO,
            )
            if run.returncode != 0:
                raise SystemExit(run.stderr[-3000:])
            got[shards] = json.loads(run.stdout.strip().splitlines()[-1])
            got[shards]["load"] = loadavg()
    finally:
        cluster.stop()
    for mode in ("bm25", "dense", "hybrid"):
        one, two = got[1][mode], got[2][mode]
        rows.append(
            (
                f"query p50, {mode}, ms",
                f"{one['local']:.1f}",
                f"{one['serve']:.1f}",
                f"{two['local']:.1f}",
                f"{two['serve']:.1f}",
                f"{got[1]['load']} / {got[2]['load']}",
            )
        )
        print("  " + " | ".join(rows[-1]), flush=True)
    rows.append(
        (
            "open (deploy + first call), s",
            "",
            f"{got[1]['open_s']:.1f}",
            "",
            f"{got[2]['open_s']:.1f}",
            "",
        )
    )
    command = "python bench/cluster.py " + " ".join(sys.argv[1:])
    lines = [
        "### Serving a cluster through Ray Serve: query p50 over 1 vs 2 shards",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on this 2-core machine,",
        "shared with other engineers' work (load column: 1/5/15-min averages after the 1-shard",
        f"and the 2-shard runs). {len(queries)} queries (headlines and first sentences), k=10,",
        "each query run in process and through Ray Serve one after the other. 'Ray Serve': each",
        "shard a deployment with one replica on the two-node cluster, called through deployment",
        "handles from the querying process (the path `newsearch serve --ray` takes); 'in",
        "process': the same shards opened by the querying process.",
        "",
        f"Reproduce: `{command}`",
        "",
        "| measure | 1 shard, in process | 1 shard, Ray Serve | 2 shards, in process "
        "| 2 shards, Ray Serve | loadavg |",
        "| --- | --- | --- | --- | --- | --- |",
        *[f"| {' | '.join(r)} |" for r in rows],
        "",
    ]
    write_benchmarks(Path(args.output), "cluster-serve", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", nargs="+", required=True)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--workdir", default="/tmp/newsearch-bench-cluster")
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    parser.add_argument("--serving", action="store_true", help="the serving path only")
    parser.add_argument("--seed-cache", help="--serving: an embeddings.sqlite to copy")
    args = parser.parse_args()
    work = Path(args.workdir) / time.strftime("%H%M%S")
    if args.serving:
        serving(args, work)
        return
    rows: list[tuple[str, str, str, str]] = []

    def add(what: str, one: str, two: str) -> None:
        rows.append((what, one, two, loadavg()))
        print(f"  {what:<44} {one:>18} {two:>18}   load {rows[-1][3]}", flush=True)

    cluster = LocalRayCluster()
    try:
        t0 = time.perf_counter()
        cluster.start()
        add("cluster start (2 nodes), s", f"{time.perf_counter() - t0:.1f}", "")
        reports, memory = {}, {}
        for shards in (1, 2):
            with NodeMemory(cluster) as mem:
                reports[shards] = build(cluster, args.corpus, work / f"s{shards}", shards)
            memory[shards] = dict(mem.peak)
        r1, r2 = reports[1], reports[2]
        add("articles / paragraphs", f"{r1['articles']} / {r1['paragraphs']}", "same")
        add("texts embedded (cold)", str(r1["embedded"]), str(r2["embedded"]))
        add("cold build wall, s", f"{r1['wall']:.1f}", f"{r2['wall']:.1f}")
        tp1, tp2 = r1["embedded"] / r1["wall"], r2["embedded"] / r2["wall"]
        add("build throughput, texts embedded / s", f"{tp1:.1f}", f"{tp2:.1f} ({tp2 / tp1:.2f}x)")
        add(
            "slowest shard task, s",
            f"{max(s['seconds'] for s in r1['shards']):.1f}",
            f"{max(s['seconds'] for s in r2['shards']):.1f}",
        )
        for node in ("head", "worker"):
            add(
                f"peak RSS, {node} node (all its processes), MB",
                f"{memory[1][node] / 1e6:.0f}",
                f"{memory[2][node] / 1e6:.0f}",
            )
    finally:
        cluster.stop()

    queries = make_queries([Path(c) for c in args.corpus], args.queries)
    for mode in ("bm25", "dense", "hybrid"):
        p50 = {}
        for shards in (1, 2):
            with ClusterSearcher(work / f"s{shards}") as s:
                for q in queries[:5]:
                    s.search(q, k=10, mode=mode)
                took = []
                for q in queries:
                    t = time.perf_counter()
                    s.search(q, k=10, mode=mode)
                    took.append((time.perf_counter() - t) * 1000)
            p50[shards] = pct(took, 50)
        add(f"query p50, {mode}, {len(queries)} queries, ms", f"{p50[1]:.1f}", f"{p50[2]:.1f}")

    command = "python bench/cluster.py " + " ".join(sys.argv[1:])
    lines = [
        "### Scale-out on Ray: 1 vs 2 workers, 1 vs 2 shards",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on this 2-core machine,",
        "shared with other engineers' work (see the load column): two Ray nodes of one CPU each",
        "on one machine, so '2 workers' has at most the machine's two cores and competes with",
        "everything else running.",
        "",
        f"Reproduce: `{command}`",
        "",
        "| measure | 1 worker / 1 shard | 2 workers / 2 shards | loadavg 1/5/15 min |",
        "| --- | --- | --- | --- |",
        *[f"| {w} | {a} | {b} | {load} |" for w, a, b, load in rows],
        "",
    ]
    write_benchmarks(Path(args.output), "cluster", "\n".join(lines))


if __name__ == "__main__":
    main()
