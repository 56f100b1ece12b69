"""BM25 hits and ceiling of every judged short query, as JSON: run under two checkouts'
interpreters and compare, to show a change to long queries leaves short ones untouched.

    .venv/bin/python bench/short_query_dump.py --index-dir IX --queries Q.jsonl > after.json
    /work/main/.venv/bin/python bench/short_query_dump.py --index-dir IX --queries Q.jsonl \\
        > before.json
    cmp before.json after.json

Hits and ceiling are what hybrid search takes from BM25 (the dense half does not read the
query's words), so equal dumps mean equal bm25, dense and hybrid rankings for those queries.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from newsearch.indexer.keyword import KeywordIndex


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index-dir", type=Path, required=True, help="a newsearch index")
    ap.add_argument("--queries", type=Path, action="append", required=True, help="JSONL")
    ap.add_argument("--depth", type=int, default=100)
    args = ap.parse_args(argv)
    current = (args.index_dir / "CURRENT").read_text().strip()
    index = KeywordIndex(args.index_dir / "generations" / current / "keyword")
    out = {}
    for path in args.queries:
        for line in path.read_text().splitlines():
            if line.strip():
                q = json.loads(line)
                hits = index.search(q["text"], args.depth)
                out[q["_id"]] = {
                    "hits": [[pid, round(score, 9)] for pid, score in hits],
                    "ceiling": round(index.ceiling(q["text"]) or 0.0, 9),
                }
    json.dump(out, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
