"""SciFact train around the tuning grid's old low edge: every BM25 setting of a finer grid
(Lucene idf) with a few coverage and convex z-score fusions, nDCG@10 of BM25 alone and of the
best fusion. Train only: it says where ``TuneGrid`` should reach, nothing about test.

    .venv/bin/python bench/tune_edges.py --index-dir /work/scratch/quality/scifact
"""

from __future__ import annotations

import argparse
import itertools

from newsearch.indexer.keyword import KeywordConfig
from newsearch.search.evaluate import load_beir
from newsearch.search.fusion import Fusion
from newsearch.search.searcher import SearchConfig, Searcher
from newsearch.search.tune import _Lists, score_fusion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--dataset", default="../shared/data/beir/scifact")
    args = parser.parse_args()
    data = load_beir(args.dataset, "train", need_corpus=False)
    fusions = [
        Fusion("coverage", alpha=a, norm="zscore", tau=t)
        for a in (0.5, 0.55, 0.6, 0.65)
        for t in (0.1, 0.2)
    ] + [Fusion("convex", alpha=a, norm="zscore") for a in (0.55, 0.6, 0.65)]
    with Searcher(args.index_dir, config=SearchConfig()) as searcher:
        lists = _Lists(searcher, data.queries, None)
        grid = itertools.product((0.3, 0.4, 0.5, 0.6, 0.75), (0.3, 0.4, 0.5), (0.1, 0.2, 0.3))
        print("| k1 | b | headline | bm25 alone | best fusion | its nDCG@10 |")
        print("|---|---|---|---|---|---|")
        for k1, b, boost in grid:
            config = KeywordConfig(k1=k1, b=b, title_boost=boost, idf="lucene")
            kw, cov = lists.keyword(config)
            alone = score_fusion(data.qrels, lists, kw, cov, None)["ndcg@10"]
            scored = [(score_fusion(data.qrels, lists, kw, cov, f)["ndcg@10"], f) for f in fusions]
            best, fusion = max(scored, key=lambda x: x[0])
            how = f"{fusion.method} a={fusion.alpha:g}" + (
                f" tau={fusion.tau:g}" if fusion.method == "coverage" else ""
            )
            print(f"| {k1:g} | {b:g} | {boost:g} | {alone:.4f} | {how} | {best:.4f} |", flush=True)


if __name__ == "__main__":
    main()
