"""Tune BM25 k1/b/title boost, the fusion method and its parameter, and the candidate depth on
the *train* qrels of a BEIR dataset, and print the tables as Markdown.

    .venv/bin/python bench/tune_fusion.py /work/shared/data/beir/scifact \
        --index-dir index_data/eval-scifact [--split train]

Each single searcher is run once per query at the deepest depth tried, and every fusion
setting is then computed from those lists, truncated to the depth being tried: the same
ranking ``Searcher.search`` makes (fuse paragraphs, then rank an article by its best
paragraph) for a fraction of the cost. ``newsearch tune`` (``search/tune.py``) is the product
form of this script: it scores a grid of the same query-time settings and saves the best for
the index; this script keeps the depth and BM25 tables of the original study. The test split
is refused: tuning on it would make the reported test numbers meaningless.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from newsearch.indexer.docstore import Docstore
from newsearch.indexer.keyword import KeywordConfig
from newsearch.indexer.layout import DOCSTORE_FILE, KEYWORD_DIR, IndexLayout
from newsearch.search import Fusion, SearchConfig, Searcher
from newsearch.search.evaluate import RUN_DEPTH, load_beir, ranking_to_run, score_run
from newsearch.search.tune import articles_by_best_paragraph

sys.path.insert(0, str(Path(__file__).parent))
from bm25_replica import BM25Replica
from markdown_section import write_section

Hits = list[tuple[int, float]]
LOADAVG = Path("/proc/loadavg")


def score(qrels, lists: dict[str, Hits], article_of: dict[int, str]) -> dict[str, float]:
    run = {q: ranking_to_run(articles_by_best_paragraph(h, article_of)) for q, h in lists.items()}
    return score_run(qrels, run)


def keyword_lists(bm25: BM25Replica, queries: dict[str, str], config: KeywordConfig, depth: int):
    return {q: bm25.search(text, config, depth) for q, text in queries.items()}


def row(label: str, m: dict[str, float]) -> str:
    return f"| {label} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} | {m['mrr@10']:.4f} |"


def header(first: str) -> list[str]:
    return [f"| {first} | nDCG@10 | R@100 | MRR@10 |", "|---|---|---|---|"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--split", default="train")
    ap.add_argument("--k1", type=float, nargs="+", default=[0.9, 1.2, 1.5, 2.0])
    ap.add_argument("--b", type=float, nargs="+", default=[0.6, 0.75, 0.9])
    ap.add_argument("--title-boost", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    ap.add_argument("--depths", type=int, nargs="+", default=[100, 200, 500, 1000])
    ap.add_argument("--skip-dense", action="store_true", help="BM25 tables only.")
    ap.add_argument("--write", action="store_true", help="Put the tables into BENCHMARKS.md.")
    ap.add_argument("--generation", type=Path, help="Read this generation folder (BM25 only).")
    args = ap.parse_args(argv)
    if args.split == "test":
        ap.error("tune on train (or dev) qrels only; test is for the one final report")

    started = time.perf_counter()
    data = load_beir(args.dataset, args.split)
    layout = IndexLayout(args.index_dir)
    generation = args.generation or layout.current()
    docstore = Docstore(generation / DOCSTORE_FILE)
    article_of = {
        pid: p.article_id for pid, p in docstore.paragraphs(docstore.paragraph_ids()).items()
    }
    out: list[str] = [
        f"Tuning on {args.dataset.name} {args.split}: {len(data.queries)} queries, "
        f"index {generation}",
        "",
    ]

    def emit(lines: list[str]) -> None:
        out.extend(lines)
        print("\n".join(lines), flush=True)

    bm25 = BM25Replica(generation / KEYWORD_DIR)
    sample = list(data.queries.values())[:25]
    for cfg in (KeywordConfig(), KeywordConfig(k1=2.0, b=0.3, title_boost=1.0)):
        emit(
            [
                f"replica vs Whoosh on 25 queries, {cfg}: max score difference "
                f"{bm25.check(sample, cfg):.1e}"
            ]
        )

    # 1. BM25: k1 and b at the default title boost, then the title boost at the best k1/b.
    base = KeywordConfig()
    best_cfg, best_ndcg = base, -1.0
    lines = ["", f"BM25 k1/b (title boost {base.title_boost}):", "", *header("k1, b")]
    for k1 in args.k1:
        for b in args.b:
            cfg = KeywordConfig(k1=k1, b=b, title_boost=base.title_boost)
            m = score(data.qrels, keyword_lists(bm25, data.queries, cfg, RUN_DEPTH), article_of)
            lines.append(row(f"{k1}, {b}", m))
            if m["ndcg@10"] > best_ndcg:
                best_cfg, best_ndcg = cfg, m["ndcg@10"]
    emit(lines)
    lines = ["", f"BM25 title boost (k1={best_cfg.k1}, b={best_cfg.b}):", "", *header("boost")]
    for boost in args.title_boost:
        cfg = KeywordConfig(k1=best_cfg.k1, b=best_cfg.b, title_boost=boost)
        m = score(data.qrels, keyword_lists(bm25, data.queries, cfg, RUN_DEPTH), article_of)
        lines.append(row(str(boost), m))
        if m["ndcg@10"] > best_ndcg:
            best_cfg, best_ndcg = cfg, m["ndcg@10"]
    emit(lines)
    emit(["", f"best BM25 on {args.split}: {best_cfg}"])
    # The surface is flat near the top; fusion is tuned with the BM25 the searcher will use.
    best_cfg = KeywordConfig()
    emit(["", f"fusion below uses the default BM25: {best_cfg}"])
    if args.skip_dense:
        return 0

    # 2. Both lists once, at the deepest depth; every fusion setting reuses them.
    depth = max(args.depths)
    kw = keyword_lists(bm25, data.queries, best_cfg, depth)
    with Searcher(args.index_dir, config=SearchConfig(keyword=best_cfg)) as searcher:
        dense = {q: searcher.dense_search(text, depth) for q, text in data.queries.items()}
    emit(["", *header("single searcher"), row("bm25", score(data.qrels, kw, article_of))])
    emit([row("dense", score(data.qrels, dense, article_of))])

    fusions: list[tuple[str, Callable[[], Fusion]]] = []
    for k in (1, 5, 10, 20, 40, 60, 100):
        fusions.append((f"rrf k={k}", lambda k=k: Fusion("rrf", rrf_k=k)))
    for norm in ("minmax", "zscore"):
        for alpha in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            fusions.append(
                (
                    f"convex {norm} a={alpha}",
                    lambda n=norm, a=alpha: Fusion("convex", alpha=a, norm=n),
                )
            )
    best: tuple[float, str, int] = (-1.0, "", 0)
    lines = ["", "Hybrid fusion by candidate depth (paragraphs per searcher):", ""]
    lines += ["| fusion | " + " | ".join(f"nDCG@10 d={d}" for d in args.depths) + " |"]
    lines += ["|---|" + "---|" * len(args.depths)]
    for label, make in fusions:
        fusion = make()
        cells = []
        for d in args.depths:
            fused = {q: fusion.fuse(kw[q][:d], dense[q][:d]) for q in data.queries}
            m = score(data.qrels, fused, article_of)
            cells.append(f"{m['ndcg@10']:.4f}")
            if m["ndcg@10"] > best[0]:
                best = (m["ndcg@10"], label, d)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    emit(lines)
    emit(["", f"best hybrid on {args.split}: {best[1]} at depth {best[2]}: nDCG@10 {best[0]:.4f}"])
    emit(
        [
            "",
            f"({time.perf_counter() - started:.0f}s, load {LOADAVG.read_text()[:14]})",
        ]
    )
    if args.write:
        command = "python bench/tune_fusion.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        write_section(
            f"{args.dataset.name}-{args.split}-tuning",
            "\n".join(
                [
                    f"## Tuning on BEIR {args.dataset.name} {args.split} qrels",
                    "",
                    "```",
                    f".venv/bin/{command}",
                    "```",
                    "",
                    *out,
                ]
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
