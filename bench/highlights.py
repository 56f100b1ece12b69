"""What semantic highlights cost: a page with them against the same page without them.

For each query (BBC, as ``bench/speed.py`` makes them) in dense and hybrid mode, a page of 10
is searched with ``SearchConfig(semantic_highlights=True)`` and with it off, alternately, on
one index and one query encoder; the table gives the median and p95 of the added time, how
many shown paragraphs held no query word (and got a sentence marked), and how many sentences
were encoded per page. The index is copied to a temporary folder first.

    python bench/highlights.py --index-dir /work/scratch/bbc --corpus ../shared/data/bbc
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from markdown_section import write_section
from speed import loadavg, machine, make_queries, pct

from newsearch.search import SearchConfig, Searcher
from newsearch.search.highlights import sentences
from newsearch.search.snippets import SEMANTIC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-highlights-"))
    index = work / "index"
    shutil.copytree(args.index_dir, index, symlinks=True)
    queries = make_queries([args.corpus], args.queries)
    load_start = loadavg()
    rows = []
    with Searcher(index) as on:
        encoder = on._query_embedder()
        off = Searcher(index, config=SearchConfig(semantic_highlights=False), embedder=encoder)
        for q in queries[:3]:
            on.search(q, k=10)
            off.search(q, k=10)
        for mode in ("dense", "hybrid"):
            added: list[float] = []
            marked = encoded = pages = 0
            for q in queries:
                t = time.perf_counter()
                res = on.search(q, k=10, mode=mode)
                with_ms = (time.perf_counter() - t) * 1000
                t = time.perf_counter()
                off.search(q, k=10, mode=mode)
                without_ms = (time.perf_counter() - t) * 1000
                added.append(with_ms - without_ms)
                pages += 1
                for h in res.hits:
                    for p in h.paragraphs:
                        if any(m.kind == SEMANTIC for m in p.snippet.matches):
                            marked += 1
                            full = f"{p.context} {p.text}" if p.context else p.text
                            n = len(sentences(full))
                            encoded += n if n > 1 else 0
            rows.append(
                f"| {mode} | {pages} | {statistics.median(added):.1f} | {pct(added, 95):.1f} | "
                f"{marked / pages:.1f} | {encoded / pages:.1f} |"
            )
            print(rows[-1], flush=True)
        off.close()
    load_end = loadavg()
    shutil.rmtree(work, ignore_errors=True)
    command = " ".join(["python", *sys.argv])
    body = "\n".join(
        [
            "### Semantic highlights: added time per page (issue 17)",
            "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; "
            f"loadavg {load_start} -> {load_end} (shared machine: timings are noisy).",
            "",
            f"Reproduce: `{command}`",
            "",
            "| mode | pages of 10 | added ms, median | added ms, p95 | paragraphs marked by "
            "meaning per page | sentences encoded per page |",
            "| --- | --- | --- | --- | --- | --- |",
            *rows,
        ]
    )
    print(body)
    if not args.no_write:
        write_section("semantic-highlights", body)


if __name__ == "__main__":
    main()
