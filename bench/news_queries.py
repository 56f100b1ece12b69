"""Judged BBC news queries (bench/queries/bbc-news): quality per query type for each search mode
and each way of fusing BM25 with dense retrieval, on the tuning and the held-out queries, and
(optionally) the same fusions on SciFact train, printed as Markdown.

    .venv/bin/python bench/news_queries.py --index-dir /work/ix/bbc \\
        --scifact /work/shared/data/beir/scifact \\
        --scifact-index /work/wt-issue4/index_data/eval-scifact [--write]

Each query's BM25 and dense paragraph lists are taken once, as deep as ``Searcher.search``
takes them, and every fusion is computed from them; an article ranks by its best paragraph.
The default hybrid ranking computed this way is first checked against ``Searcher.search``
(articles, not stories, as ``newsearch eval`` ranks them), so the table is the engine's.
``newsearch eval bench/queries/bbc-news --corpus ../shared/data/bbc --split dev`` gives the
overall row of the default modes. Queries carry a ``fold``: tune (60) or heldout (30), fixed
before any result was seen; settings are chosen on tune only.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from newsearch.search import Fusion, SearchConfig, Searcher
from newsearch.search.evaluate import (
    Qrels,
    load_beir,
    ranking_to_run,
    read_qrels,
    score_run,
)
from newsearch.search.fusion import convex

sys.path.insert(0, str(Path(__file__).parent))
from markdown_section import write_section

Hits = list[tuple[int, float]]
#: (BM25 list, dense list, BM25 coverage) of one query; coverage None where the engine has
#: none (no hit, or a long query: ``KeywordIndex.ceiling``), as ``Searcher.search`` passes it.
Lists = tuple[Hits, Hits, float | None]
Fuse = Callable[[Hits, Hits, float | None], Hits]
DATASET = Path(__file__).parent / "queries" / "bbc-news"
TYPES = ("keyword", "entity", "paraphrase")
RUN_DEPTH = 100
LOADAVG = Path("/proc/loadavg")


def loadavg() -> str:
    return " ".join(LOADAVG.read_text().split()[:3]) if LOADAVG.exists() else "n/a"


def collect(searcher: Searcher, queries: dict[str, str]) -> tuple[dict[str, Lists], dict]:
    """Both lists of every query at the searcher's candidate depth, and pid -> article id."""
    depth = min(max(searcher.config.candidates, 5 * RUN_DEPTH), searcher.meta.paragraphs)
    lists: dict[str, Lists] = {}
    for qid, text in queries.items():
        kw, dense = searcher.keyword_search(text, depth), searcher.dense_search(text, depth)
        ceiling = searcher.keyword.ceiling(text)
        lists[qid] = (kw, dense, kw[0][1] / ceiling if kw and ceiling else None)
    pids = {pid for kw, dense, _ in lists.values() for pid, _ in kw + dense}
    article_of = {pid: p.article_id for pid, p in searcher.docstore.paragraphs(pids).items()}
    return lists, article_of


def articles(fused: Hits, article_of: dict[int, str]) -> list[str]:
    return list(dict.fromkeys(article_of[pid] for pid, _ in fused))[:RUN_DEPTH]


def run(lists: dict[str, Lists], article_of: dict[int, str], fuse: Fuse) -> dict:
    return {
        q: ranking_to_run(articles(fuse(kw, dn, c), article_of)) for q, (kw, dn, c) in lists.items()
    }


def library(fusion: Fusion) -> Fuse:
    return lambda kw, dn, c: fusion.fuse(kw, dn, c)


def linear_coverage(tau: float, alpha: float = 0.6) -> Fuse:
    """The shape tried and not kept: BM25's weight linear in coverage up to tau."""
    return lambda kw, dn, c: convex(
        [kw, dn], [(1 - alpha) * (1.0 if c is None else min(1.0, c / tau)), alpha]
    )


def agreement(article_of: dict[int, str], k: int = 10, alpha: float = 0.6) -> Fuse:
    """The other signal tried: BM25's weight times the share of the two top-k article lists
    that agree (paraphrases: BM25 and dense rarely agree)."""

    def fuse(kw: Hits, dn: Hits, c: float | None) -> Hits:
        a, b = set(articles(kw, article_of)[:k]), set(articles(dn, article_of)[:k])
        return convex([kw, dn], [(1 - alpha) * len(a & b) / k, alpha])

    return fuse


def variants(article_of: dict[int, str]) -> dict[str, Fuse]:
    out: dict[str, Fuse] = {
        "bm25": lambda kw, dn, c: kw,
        "dense": lambda kw, dn, c: dn,
        "**hybrid default: coverage tau=0.3**": library(Fusion()),
    }
    for a in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        label = f"convex minmax a={a}" + (" (old default)" if a == 0.6 else "")
        out[label] = library(Fusion("convex", alpha=a))
    for a in (0.5, 0.6, 0.7):
        out[f"convex zscore a={a}"] = library(Fusion("convex", alpha=a, norm="zscore"))
    for k in (1, 10, 60):
        out[f"rrf k={k}"] = library(Fusion("rrf", rrf_k=k))
    for tau in (0.25, 0.3, 0.35, 0.4, 0.5):
        out[f"coverage, squared, tau={tau}"] = library(Fusion("coverage", tau=tau))
        out[f"coverage, linear, tau={tau}"] = linear_coverage(tau)
    out["agreement@10, linear"] = agreement(article_of)
    return out


def subset(qrels: Qrels, ids: list[str]) -> Qrels:
    return {q: qrels[q] for q in ids}


def check_against_searcher(searcher: Searcher, queries: dict[str, str], computed: dict) -> None:
    for qid, text in queries.items():
        hits = searcher.search(text, k=RUN_DEPTH, collapse=False).hits
        engine = ranking_to_run(h.article_id for h in hits)
        if list(engine) != list(computed[qid]):
            raise SystemExit(f"fusion recomputed here differs from Searcher.search on {qid}")


def headline_check(searcher: Searcher, corpus: Path, n: int, seed: int = 7) -> list[str]:
    """Known-item search by headline: n random articles' headlines as queries, the article
    itself the answer. Not judged by hand, not tuned on: a check that keyword-like queries
    the set was not written for keep their ranking."""
    files = sorted(p.relative_to(corpus).as_posix() for p in corpus.glob("*/*.txt"))
    picked = random.Random(seed).sample(files, n)
    queries, qrels = {}, {}
    for i, rel in enumerate(picked):
        title = (corpus / rel).read_text(encoding="latin-1").split("\n", 1)[0].strip()
        queries[f"h{i}"], qrels[f"h{i}"] = title, {rel: 1}
    lists, article_of = collect(searcher, queries)
    cov = sorted(c or 0.0 for _, _, c in lists.values())
    lines = [
        f"Headline check: {n} random BBC headlines (seed {seed}) as queries, the article the "
        f"answer; BM25 coverage median {cov[n // 2]:.2f}, {sum(c < Fusion().tau for c in cov)} "
        f"of {n} below tau={Fusion().tau}.",
        "",
        "| run | MRR@10 | nDCG@10 |",
        "|---|---|---|",
    ]
    fuses = variants(article_of)
    for label in ("bm25", "dense", "convex minmax a=0.6 (old default)"):
        m = score_run(qrels, run(lists, article_of, fuses[label]))
        lines.append(f"| {label} | {m['mrr@10']:.3f} | {m['ndcg@10']:.3f} |")
    m = score_run(qrels, run(lists, article_of, library(Fusion())))
    lines.append(f"| hybrid default: coverage tau=0.3 | {m['mrr@10']:.3f} | {m['ndcg@10']:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--index-dir", type=Path, required=True, help="index of ../shared/data/bbc")
    ap.add_argument("--corpus", type=Path, default=Path("/work/shared/data/bbc"))
    ap.add_argument("--scifact", type=Path, help="BEIR scifact folder: also score its train split")
    ap.add_argument("--scifact-index", type=Path, help="index of scifact's corpus.jsonl")
    ap.add_argument("--headlines", type=int, default=200, help="headline queries (0: none)")
    ap.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    ap.add_argument("--section", default="bbc-news", help="BENCHMARKS.md section to write")
    args = ap.parse_args(argv)

    started, load_before = time.perf_counter(), loadavg()
    records = [
        json.loads(line)
        for line in (args.dataset / "queries.jsonl").read_text().splitlines()
        if line.strip()
    ]
    qrels = read_qrels(args.dataset / "qrels" / "dev.tsv")
    queries = {r["_id"]: r["text"] for r in records}
    ids = {
        (t, f): [r["_id"] for r in records if t in (None, r["type"]) and f in (None, r["fold"])]
        for t in (None, *TYPES)
        for f in (None, "tune", "heldout")
    }
    with Searcher(args.index_dir, config=SearchConfig()) as searcher:
        lists, article_of = collect(searcher, queries)
        fuses = variants(article_of)
        runs = {label: run(lists, article_of, fuse) for label, fuse in fuses.items()}
        check_against_searcher(searcher, queries, runs["**hybrid default: coverage tau=0.3**"])
        headline = headline_check(searcher, args.corpus, args.headlines) if args.headlines else []

    scifact: dict[str, float] = {}
    if args.scifact and args.scifact_index:
        data = load_beir(args.scifact, "train")  # tuning data only: never the test split
        with Searcher(args.scifact_index) as searcher:
            sf_lists, sf_article_of = collect(searcher, data.queries)
        sf_fuses = variants(sf_article_of)
        for label, fuse in sf_fuses.items():
            scifact[label] = score_run(data.qrels, run(sf_lists, sf_article_of, fuse))["ndcg@10"]

    counts = {t: len(ids[(t, None)]) for t in TYPES}
    cov = {t: sorted(lists[q][2] or 0.0 for q in ids[(t, None)]) for t in TYPES}
    out = [
        "## Judged BBC news queries: fusion per query type",
        "",
        "Reproduce (about 6 min on 2 loaded cores; the indexes are only read):",
        "",
        "```",
        ".venv/bin/python bench/news_queries.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        ".venv/bin/newsearch eval bench/queries/bbc-news --corpus ../shared/data/bbc "
        f"--index-dir {args.index_dir} --split dev",
        "```",
        "",
        f"{len(records)} queries over the 2,225 BBC articles ("
        + ", ".join(f"{counts[t]} {t}" for t in TYPES)
        + "),"
        " judged by reading (bench/queries/bbc-news/README.md); 60 tune, 30 held out (stratified "
        "by type, fixed before any run). Articles ranked one by one (no story collapsing); "
        "fusion recomputed from each searcher's list at the searcher's depth and checked equal "
        "to `Searcher.search` for the default. BM25 coverage (best BM25 score / the query's "
        "ceiling) by type: "
        + ", ".join(f"{t} {cov[t][0]:.2f}-{cov[t][-1]:.2f}" for t in TYPES)
        + ".",
        "",
        "All 90 queries, by type (nDCG@10 / Recall@100 / MRR@10):",
        "",
        "| run | all | keyword | entity | paraphrase |",
        "|---|---|---|---|---|",
    ]
    main_rows = ["bm25", "dense", "convex minmax a=0.6 (old default)", "rrf k=1"]
    main_rows.append("**hybrid default: coverage tau=0.3**")
    for label in main_rows:
        cells = []
        for t in (None, *TYPES):
            m = score_run(subset(qrels, ids[(t, None)]), runs[label])
            cells.append(f"{m['ndcg@10']:.3f} / {m['recall@100']:.3f} / {m['mrr@10']:.3f}")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out += [
        "",
        "Every variant, nDCG@10 on the tune and held-out queries"
        + (
            ", and SciFact train (809 queries; the fusion tuned there was convex a=0.6)"
            if scifact
            else ""
        )
        + ":",
        "",
        "| run | tune all | kw | ent | para | held-out all | kw | ent | para |"
        + (" SciFact train |" if scifact else ""),
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if scifact else ""),
    ]
    for label in fuses:
        cells = []
        for fold in ("tune", "heldout"):
            for t in (None, *TYPES):
                cells.append(
                    f"{score_run(subset(qrels, ids[(t, fold)]), runs[label])['ndcg@10']:.3f}"
                )
        sf = [f"{scifact[label]:.4f}"] if scifact else []
        out.append(f"| {label} | " + " | ".join(cells + sf) + " |")
    out += ["", *headline, ""]
    took = time.perf_counter() - started
    out.append(f"({took:.0f}s; load average {load_before} before, {loadavg()} after)")
    text = "\n".join(out)
    print(text)
    if args.write:
        write_section(args.section, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
