"""Stable pages: do pages of one generation ever repeat or skip a story?

For each query (BBC, half headlines, half first sentences, as ``bench/speed.py`` makes them)
and each mode, pages of several sizes are walked and concatenated, and compared with one big
page of the same query: a repeat is a story seen twice, a skip a story of the big page missing
from the pages, a reorder the same stories in another order. Then the same while a writer
thread publishes new generations as fast as it can (each adds an article written from one of
the queries, so it ranks near the top): every reader session pins one ``Searcher`` (the
generation it opened) for all its pages.

The index is copied to a temporary folder first; the corpus folder is only read.

    python bench/pages.py --index-dir /work/scratch/bbc --corpus ../shared/data/bbc
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from markdown_section import write_section
from speed import loadavg, machine, make_queries

from newsearch import update_index
from newsearch.search import SearchConfig, Searcher

SIZES = (1, 4, 7, 10, 25)
#: Snippet sentences do not change the ranking: not encoded here (bench/highlights.py).
PLAIN = SearchConfig(semantic_highlights=False)
DEEP_SIZES = (50, 100, 250)


class Tally:
    def __init__(self) -> None:
        self.pages = self.walks = self.repeats = self.skips = self.reorders = 0

    def check(self, searcher: Searcher, query: str, mode: str, n: int, sizes) -> None:
        whole = [h.story_id for h in searcher.search(query, k=n, mode=mode).hits]
        for k in sizes:
            paged: list[str] = []
            for offset in range(0, n, k):
                page = searcher.search(query, k=min(k, n - offset), offset=offset, mode=mode)
                self.pages += 1
                paged += [h.story_id for h in page.hits]
                if len(page.hits) < min(k, n - offset):
                    break
            self.walks += 1
            self.repeats += len(paged) - len(set(paged))
            self.skips += len(set(whole) - set(paged))
            self.reorders += paged != whole and set(paged) == set(whole)

    def row(self, what: str, extra: str = "") -> str:
        return (
            f"| {what} | {self.walks} | {self.pages} | {self.repeats} | {self.skips} | "
            f"{self.reorders} | {extra} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--depth", type=int, default=30, help="stories per walk")
    parser.add_argument("--deep-queries", type=int, default=6)
    parser.add_argument("--concurrent-seconds", type=float, default=180)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    index = work / "index"
    shutil.copytree(args.index_dir, index, symlinks=True)
    queries = make_queries([args.corpus], args.queries)
    load_start = loadavg()
    rows = []
    started = time.perf_counter()
    with Searcher(index, config=PLAIN) as searcher:
        for mode in ("hybrid", "bm25", "dense"):
            t = Tally()
            for q in queries:
                t.check(searcher, q, mode, args.depth, SIZES)
            rows.append(t.row(f"{mode}, sizes {', '.join(map(str, SIZES))}, first {args.depth}"))
            print(rows[-1], flush=True)
        deep = Tally()
        for q in queries[: args.deep_queries]:
            for mode in ("hybrid", "bm25", "dense"):
                deep.check(searcher, q, mode, 500, DEEP_SIZES)
        rows.append(deep.row(f"all modes, sizes {', '.join(map(str, DEEP_SIZES))}, first 500"))
        print(rows[-1], flush=True)
    static_s = time.perf_counter() - started

    # -- under concurrent updates ---------------------------------------------------------
    extra = work / "extra" / "business"
    extra.mkdir(parents=True)
    stop = threading.Event()
    published: list[str] = []
    errors: list[str] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            q = queries[n % len(queries)]
            (extra / f"bench-extra-{n:04d}.txt").write_text(
                f"{q}\n\n{q} Reported again, update {n}.\n", encoding="utf-8"
            )
            try:
                update_index([args.corpus, work / "extra"], index)
            except Exception as exc:  # reported in the table, never hidden
                errors.append(repr(exc))
                return
            published.append((index / "CURRENT").read_text().strip())
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    live = Tally()
    sessions = moved = 0
    deadline = time.monotonic() + args.concurrent_seconds
    i = 0
    try:
        while time.monotonic() < deadline:
            with Searcher(index, config=PLAIN) as pinned:  # one reader session: one generation
                sessions += 1
                for _ in range(3):
                    q = queries[i % len(queries)]
                    mode = ("hybrid", "bm25", "dense")[i % 3]
                    live.check(pinned, q, mode, 20, (1, 4, 7))
                    i += 1
                current = (index / "CURRENT").read_text().strip()
                moved += current != pinned.generation.name
    finally:
        stop.set()
        thread.join()
    rows.append(
        live.row(
            "concurrent updates: all modes, sizes 1, 4, 7, first 20",
            f"{len(published)} generations published during the run; {sessions} reader "
            f"sessions, {moved} of them outlived by a newer generation; writer errors: "
            f"{len(errors)}",
        )
    )
    print(rows[-1], flush=True)
    load_end = loadavg()
    shutil.rmtree(work, ignore_errors=True)
    command = " ".join(["python", *sys.argv])
    body = "\n".join(
        [
            "### Stable pages: repeats and skips (issue 17)",
            "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; "
            f"loadavg {load_start} -> {load_end} (shared machine). Static part "
            f"{static_s:.0f} s.",
            "",
            f"Reproduce: `{command}`",
            "",
            f"{len(queries)} BBC queries. A walk: pages of one size concatenated, against one "
            "page of the whole depth. Skips: stories of the big page missing from the walk; "
            "reorders: the same stories in another order.",
            "",
            "| what | walks | pages | repeats | skips | reorders | notes |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("stable-pages", body)


if __name__ == "__main__":
    main()
