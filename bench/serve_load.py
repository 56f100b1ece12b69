"""Load on ``newsearch serve`` while articles change, against the same queries in process.

    .venv/bin/python bench/serve_load.py --index-dir IDX --corpus CORPUS_COPY \\
        [--clients 16] [--seconds 30] [--edit-every 2] [--rounds 2] [--write]

CORPUS_COPY is a writable copy of the indexed corpus (never the shared data): one of its
articles is rewritten every ``--edit-every`` seconds and the watcher applies each change as a
new generation, in both runs. Each round runs, on the same cores:

1. HTTP: ``newsearch serve --watch CORPUS_COPY`` in its own process; ``--clients`` threads in
   this process, each with a keep-alive connection, send ``GET /search`` for the BBC judged
   queries (round-robin) for ``--seconds``. Every answer that is not a 200, and every failed
   request, is an error.
2. In process: the same threads call ``Searcher.search`` on a ``LiveIndex`` that follows the
   same watcher (``newsearch.server.watcher.Watcher``) for the same time.

It prints requests/s, p50/p95/p99 latency, errors and generations seen for each, with the
load average, and with ``--write`` puts the table (medians over rounds) into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from markdown_section import write_section  # noqa: E402

QUERIES = REPO / "bench" / "queries" / "bbc-news" / "queries.jsonl"
_GENERATION = re.compile(rb'"generation":"([^"]+)"')


@dataclass
class Run:
    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    non_200: int = 0
    generations: set[str] = field(default_factory=set)
    edits: int = 0
    load: str = ""

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def line(self) -> str:
        return (
            f"{self.name:<11} {self.rps:7.1f} req/s  p50 {self.pct(0.5):6.1f}  p95 "
            f"{self.pct(0.95):6.1f}  p99 {self.pct(0.99):6.1f} ms  errors {self.errors}  "
            f"non-200 {self.non_200}  generations {len(self.generations)}  edits {self.edits}  "
            f"load {self.load}"
        )


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def queries() -> list[str]:
    return [json.loads(line)["text"] for line in QUERIES.read_text().splitlines() if line.strip()]


class Editor:
    """Rewrites one article every ``every`` seconds (a counter line at its end)."""

    def __init__(self, corpus: Path, every: float) -> None:
        self.path = sorted((corpus / "business").glob("*.txt"))[0]
        self.original = self.path.read_bytes()
        self.every = every
        self.edits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.edits += 1
            text = self.original + f"\n\nUpdate {self.edits}: figures revised.\n".encode()
            tmp = self.path.with_suffix(".tmp-edit")
            tmp.write_bytes(text)
            tmp.replace(self.path)

    def __enter__(self) -> Editor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def hammer(
    clients: int, seconds: float, one: Callable[[int, str], tuple[bool, bool, str]], run: Run
) -> None:
    """``clients`` threads calling ``one(client, query)`` until the time is up."""
    qs = queries()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(i: int) -> None:
        n = i * 7
        mine: list[float] = []
        errors = non_200 = 0
        gens: set[str] = set()
        while time.monotonic() < deadline:
            q = qs[n % len(qs)]
            n += 1
            t = time.perf_counter()
            try:
                ok, status_ok, gen = one(i, q)
            except Exception:
                errors += 1
                continue
            mine.append(time.perf_counter() - t)
            if not ok:
                errors += 1
            if not status_ok:
                non_200 += 1
            if gen:
                gens.add(gen)
        with lock:
            run.latencies += mine
            run.errors += errors
            run.non_200 += non_200
            run.generations |= gens

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_run(args: argparse.Namespace) -> Run:
    port = free_port()
    log = open(Path(args.index_dir).parent / "serve-load.log", "wb")  # noqa: SIM115
    cmd = [sys.executable, "-m", "newsearch.cli.main", "serve", "-i", str(args.index_dir)]
    cmd += ["--port", str(port), "--watch", str(args.corpus), "--debounce", "0.5"]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    local = threading.local()

    def conn() -> http.client.HTTPConnection:
        c = getattr(local, "conn", None)
        if c is None:
            c = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        return c

    def one(i: int, q: str) -> tuple[bool, bool, str]:
        c = conn()
        try:
            c.request("GET", "/search?" + urlencode({"q": q, "k": args.k, "mode": args.mode}))
            resp = c.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            c.close()
            local.conn = None
            raise
        m = _GENERATION.search(body)
        return resp.status == 200, resp.status == 200, m.group(1).decode() if m else ""

    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if one(0, "warm up")[0]:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        for q in queries()[:20]:
            one(0, q)
        run = Run("HTTP", args.seconds)
        with Editor(args.corpus, args.edit_every) as editor:
            time.sleep(args.edit_every * 1.5)  # the first edit lands before measuring
            hammer(args.clients, args.seconds, one, run)
            run.edits = editor.edits
        run.load = loadavg()
        return run
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def inprocess_run(args: argparse.Namespace) -> Run:
    from newsearch.search.live import LiveIndex
    from newsearch.server.config import ServerConfig
    from newsearch.server.watcher import Watcher

    live = LiveIndex(args.index_dir)
    live.start(poll=0.2)
    watcher = Watcher(
        ServerConfig(index_dir=str(args.index_dir), watch=[str(args.corpus)], debounce=0.5),
        on_applied=live.refresh,
        say=lambda line: None,
    )
    watcher.start()

    def one(i: int, q: str) -> tuple[bool, bool, str]:
        with live.use() as s:
            s.search(q, k=args.k, mode=args.mode)
            return True, True, s.generation.name

    try:
        for q in queries()[:20]:
            one(0, q)
        run = Run("in-process", args.seconds)
        with Editor(args.corpus, args.edit_every) as editor:
            time.sleep(args.edit_every * 1.5)
            hammer(args.clients, args.seconds, one, run)
            run.edits = editor.edits
        run.load = loadavg()
        return run
    finally:
        watcher.stop()
        live.close()


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, required=True, help="writable copy of the corpus")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--edit-every", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--mode", default="hybrid")
    ap.add_argument("--write", action="store_true", help="write the table into BENCHMARKS.md")
    ap.add_argument("--note", default="", help="a paragraph to add under the table")
    args = ap.parse_args()
    if Path(args.corpus).resolve().is_relative_to((REPO.parent / "shared").resolve()):
        sys.exit("--corpus must be a writable copy, not the shared data")

    rounds: list[tuple[Run, Run]] = []
    for r in range(args.rounds):
        print(f"round {r + 1}/{args.rounds}, load {loadavg()}", flush=True)
        h = http_run(args)
        print(h.line(), flush=True)
        p = inprocess_run(args)
        print(p.line(), flush=True)
        rounds.append((h, p))

    def row(runs: list[Run]) -> str:
        return (
            f"| {runs[0].name} | {median([x.rps for x in runs]):.1f} "
            f"| {median([x.pct(0.5) for x in runs]):.1f} "
            f"| {median([x.pct(0.95) for x in runs]):.1f} "
            f"| {median([x.pct(0.99) for x in runs]):.1f} | {sum(x.errors for x in runs)} "
            f"| {sum(x.non_200 for x in runs)} | {sum(len(x.generations) for x in runs)} "
            f"| {sum(x.edits for x in runs)} | {', '.join(x.load for x in runs)} |"
        )

    https, procs = [h for h, _ in rounds], [p for _, p in rounds]
    ratio = median([h.rps for h in https]) / median([p.rps for p in procs])
    tail = median([h.pct(0.99) / h.pct(0.5) for h in https])
    table = "\n".join(
        [
            "| | req/s | p50 ms | p95 ms | p99 ms | errors | non-200 | generations served | "
            "edits | load avg (1/5/15 min) |",
            "|---|---|---|---|---|---|---|---|---|---|",
            row(https),
            row(procs),
        ]
    )
    summary = (
        f"HTTP throughput = {ratio:.0%} of in-process; HTTP p99 = {tail:.1f}x p50 "
        f"(goals: >= 80 %, <= 4x, 0 errors)."
    )
    print(table)
    print(summary)
    if args.write:
        body = (
            "## `newsearch serve` under load while articles change\n\n"
            f"{args.clients} concurrent clients for {args.seconds:g} s per run, {args.rounds} "
            f"rounds (medians; errors, generations and edits summed), `{args.mode}` queries, "
            f"k={args.k}, the 90 judged BBC queries round-robin; one article rewritten every "
            f"{args.edit_every:g} s and applied by the watcher in both runs. HTTP: "
            "`newsearch serve --watch` (one uvicorn process), clients with keep-alive "
            "connections in another process; in-process: the same threads calling "
            "`Searcher.search` through `LiveIndex`. Same 2 cores, shared with other jobs "
            f"(load averages in the table). {os.cpu_count()} CPUs.\n\n"
            f"{table}\n\n{summary}\n\n"
            + (f"{args.note}\n\n" if args.note else "")
            + "Reproduce: copy the corpus somewhere writable, index it, then\n"
            "`.venv/bin/python bench/serve_load.py --index-dir IDX --corpus COPY --write`.\n"
        )
        write_section("serve-load", body)


if __name__ == "__main__":
    main()
