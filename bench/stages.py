"""Where a hybrid query's time goes: CPU milliseconds per stage of ``Searcher.search``.

    .venv/bin/python bench/stages.py INDEX_DIR CORPUS [--queries 200]

Each stage is the searcher's own method, called in the order ``search`` calls them, on the
queries of ``bench/speed.py`` (half headlines, half first sentences; seed 0), timed with
``time.process_time`` (every thread of the process: comparable under load, unlike wall
time). ``highlights`` is the semantic-highlight encoding of a page's bare paragraphs, which
``search`` does only when asked; ``page`` is a whole ``search(q, k=10)`` as the library runs
it by default. Run it with old and new code on one index to compare a change.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import loadavg, make_queries

from newsearch.search.collapse import collapse_stories
from newsearch.search.searcher import Searcher, _with_snippets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index_dir", type=Path)
    parser.add_argument("corpus", type=Path, nargs="+")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    queries = make_queries(args.corpus, args.queries)
    times: dict[str, list[float]] = {}

    @contextmanager
    def timed(name: str) -> Iterator[None]:
        started = time.process_time()
        yield
        times.setdefault(name, []).append((time.process_time() - started) * 1000)

    load = loadavg()
    with Searcher(args.index_dir) as s:
        s.search("warm up", k=10)
        encode = getattr(s._query_embedder(), "encode", None)
        for q in queries:
            with s._one_generation():
                with timed("query encoding"):
                    qvec = s.encode_query(q)
                with timed("keyword, 1000"):
                    kw = s.keyword_search(q, 1000)
                with timed("coverage ceiling"):
                    ceiling = s.keyword.ceiling(q)
                with timed("dense, 1000"):
                    dense = s._dense(qvec, 1000)
                cover = kw[0][1] / ceiling if kw and ceiling else None
                with timed("fusion"):
                    fused = s.config.fusion.fuse(kw, dense, cover)
                with timed("grouping"):
                    hits = s._group(fused, kw, dense, 10, by_story=True)
                with timed("story collapse"):
                    hits = collapse_stories(hits, s.docstore, 10)
                with timed("snippets"):
                    _with_snippets(hits, q)
                with timed("semantic highlights + snippets (when asked)"):
                    _with_snippets(hits, q, qvec, encode)
            with timed("page: search(q, k=10)"):
                s.search(q, k=10)
    print(
        f"{len(queries)} queries, CPU ms per query; load average {load} before, {loadavg()} after"
    )
    print("| stage | p50 | p90 |\n|---|---|---|")
    for name, values in times.items():
        ranked = sorted(values)
        p90 = ranked[int(len(ranked) * 0.9)]
        print(f"| {name} | {statistics.median(values):.2f} | {p90:.2f} |")


if __name__ == "__main__":
    main()
