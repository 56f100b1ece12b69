"""What a result page costs above its ids, first visit and again: ``bench/speed.py``'s queries
(half headlines, half first sentences) run through one ``Searcher`` twice. The first pass meets
docstore rows and words for the first time (what a new query mostly does); the second finds
them remembered. Medians in ms, k=10, the product's defaults.

    .venv/bin/python bench/page_cost.py --index-dir /work/scratch/bbc --corpus ../shared/data/bbc
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from speed import loadavg, make_queries

from newsearch.search.searcher import Searcher


def median_ms(fn, queries: list[str]) -> float:
    took = []
    for q in queries:
        started = time.perf_counter()
        fn(q)
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


def measure(index_dir: str, mode: str, queries: list[str]) -> tuple[float, float, float]:
    """Page medians on a new searcher (first visit, again) and the ids' median."""
    with Searcher(index_dir) as searcher:  # nothing of the docstore read yet
        searcher.search("warm up the encoder", k=10, mode=mode)

        def page(q: str) -> object:
            return searcher.search(q, k=10, mode=mode)

        first, again = median_ms(page, queries), median_ms(page, queries)
        return first, again, median_ms(lambda q: searcher.candidates(q, 100, mode=mode), queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    queries = make_queries([Path(args.corpus)], args.queries)
    print(f"load {loadavg()}")
    for mode in ("bm25", "hybrid"):
        first, again, ids = measure(args.index_dir, mode, queries)
        print(f"{mode}: page first visit {first:.2f} ms, again {again:.2f} ms; ids {ids:.2f} ms")
    print(f"load {loadavg()}")


if __name__ == "__main__":
    main()
