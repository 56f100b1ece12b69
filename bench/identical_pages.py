"""Result pages before and after a change: the same ids, scores and snippets, or the differences.

A refactor that claims "no behaviour change" is checked with this: dump the pages of a set of
queries with the old code, dump them again with the new code over the same index, compare.

    python bench/identical_pages.py dump --index-dir IDX --corpus ../shared/data/bbc --out old.json
    python bench/identical_pages.py dump --index-dir IDX --corpus ../shared/data/bbc --out new.json
    python bench/identical_pages.py compare old.json new.json

The queries are those of ``bench/speed.py`` (200 by default: half headlines, half first
sentences of paragraphs, seed 0). Every mode (hybrid, bm25, dense) with stories collapsed, and
hybrid with each fusion method and with collapsing off, k=10. ``took_ms`` is dropped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import make_queries

from newsearch.search import Fusion, SearchConfig, Searcher

#: (name, search keyword arguments)
RUNS: list[tuple[str, dict]] = [
    ("hybrid", {"mode": "hybrid"}),
    ("bm25", {"mode": "bm25"}),
    ("dense", {"mode": "dense"}),
    ("hybrid-convex", {"mode": "hybrid", "fusion": Fusion(method="convex")}),
    ("hybrid-rrf", {"mode": "hybrid", "fusion": Fusion(method="rrf")}),
    ("hybrid-no-collapse", {"mode": "hybrid", "collapse": False}),
]


def dump(index_dir: Path, corpus: Path, n: int, out: Path) -> None:
    queries = make_queries([corpus], n)
    pages: dict[str, list] = {}
    # Semantic highlights off, as the library's default has been since issue 15 (older code
    # marked them by default): what is compared is the ranking and the word snippets.
    with Searcher(index_dir, config=SearchConfig(semantic_highlights=False)) as searcher:
        for name, kwargs in RUNS:
            page_list = []
            for q in queries:
                page = searcher.search(q, k=10, **kwargs).to_dict()
                page.pop("took_ms", None)
                page_list.append(page)
            pages[name] = page_list
    out.write_text(json.dumps({"queries": queries, "pages": pages}, ensure_ascii=False))
    print(f"{len(queries)} queries x {len(RUNS)} runs -> {out}")


def compare(a: Path, b: Path) -> int:
    old, new = json.loads(a.read_text()), json.loads(b.read_text())
    if old["queries"] != new["queries"]:
        print("the two dumps hold different queries")
        return 2
    differ = 0
    for name, pages in old["pages"].items():
        other = new["pages"].get(name)
        if other is None:
            print(f"{name}: missing in {b}")
            differ += 1
            continue
        # A field the new code only adds (the schema's rule: add fields, never change one) is
        # not a change of the page: compare the fields both dumps have, and say which were new.
        added = sorted({key for y in other for key in y} - {key for x in pages for key in x})
        if added:
            print(f"{name}: fields only in {b.name} (not compared): {', '.join(added)}")
            other = [{k: v for k, v in y.items() if k not in added} for y in other]
        bad = [i for i, (x, y) in enumerate(zip(pages, other, strict=True)) if x != y]
        print(f"{name:<20} {len(pages) - len(bad)}/{len(pages)} pages identical")
        for i in bad[:3]:
            print(f"   differs: {old['queries'][i][:70]!r}")
        differ += len(bad)
    print("IDENTICAL" if not differ else f"{differ} pages differ")
    return 1 if differ else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--index-dir", type=Path, required=True)
    d.add_argument("--corpus", type=Path, required=True)
    d.add_argument("--queries", type=int, default=200)
    d.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    args = parser.parse_args()
    if args.cmd == "dump":
        dump(args.index_dir, args.corpus, args.queries, args.out)
    else:
        sys.exit(compare(args.old, args.new))


if __name__ == "__main__":
    main()
