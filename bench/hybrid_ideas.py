"""Ideas for a better hybrid on SciFact train, each scored against the tuned hybrid on the
same lists: dense pseudo-relevance feedback, how a paragraph's windows make its dense score,
exact dense scores for BM25's candidates, a dense-confidence weight, the fusion depth, a
learned fusion (logistic regression, 5-fold cross-validation), the paired test of the
tuned settings against the defaults, and sentence vectors beside the window vectors (``--steps
sentences``: encodes every sentence of the corpus, ~5 minutes on SciFact). Train only (809
queries): nothing here reads test.

    .venv/bin/python bench/hybrid_ideas.py --index-dir /work/scratch/quality/scifact
    .venv/bin/python bench/hybrid_ideas.py --index-dir DIR --steps sentences

The index's ``tuned.json`` gives the hybrid being improved on (its fusion and BM25); the
vectors are read whole from the flat FAISS index (SciFact: 11,735 x 384).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from newsearch.indexer.ranked import Ranked
from newsearch.indexer.vectors import WINDOW_BITS
from newsearch.search.evaluate import load_beir, ranking_to_run, score_queries, score_run
from newsearch.search.fusion import (
    Fusion,
    _best_first,
    _convex_total,
    _int_slots,
    bm25_coverage,
    coverage_weight,
)
from newsearch.search.query import clean_query
from newsearch.search.searcher import SearchConfig, Searcher
from newsearch.search.significance import paired_randomization_p
from newsearch.search.tune import articles_by_best_paragraph
from newsearch.search.tuned import load_tuned

DEPTH = 1000


class Lab:
    """Every train query's vector, BM25 list (whole) and ceiling, and all stored vectors."""

    def __init__(self, index_dir: str, dataset: str) -> None:
        tuned = load_tuned(index_dir)
        if tuned is None:
            raise SystemExit(f"{index_dir} has no tuned.json: run `newsearch tune` first")
        self.fusion = tuned.fusion
        self.searcher = Searcher(index_dir, config=tuned.search_config(SearchConfig()))
        self.data = load_beir(dataset, "train", need_corpus=False)
        s = self.searcher
        self.queries = {q: clean_query(self.data.queries[q]) for q in self.data.qrels}
        self.qvec = {q: s.encode_query(t).reshape(-1) for q, t in self.queries.items()}
        self.kw = {q: s.keyword.search(t, s.meta.paragraphs) for q, t in self.queries.items()}
        self.ceiling = {q: s.keyword.ceiling(t) for q, t in self.queries.items()}
        index = s.vectors._index  # the flat index: every vector, and its packed id
        import faiss

        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        self.vectors = index.index.reconstruct_n(0, index.ntotal)
        self.window = ids & ((1 << WINDOW_BITS) - 1)
        self.pids, self.slot = np.unique(ids >> WINDOW_BITS, return_inverse=True)
        self.windows = np.bincount(self.slot)
        rows = s.docstore.paragraphs({int(p) for p in self.pids})
        self.article = {pid: p.article_id for pid, p in rows.items()}

    def per_paragraph(self, q: np.ndarray, how: str = "max", lam: float = 0.0) -> np.ndarray:
        """Each paragraph's dense score from its windows' cosines."""
        sims = self.vectors @ q
        best = np.full(len(self.pids), -9.0)
        np.maximum.at(best, self.slot, sims)
        if how == "max":
            return best
        mean = np.bincount(self.slot, sims) / self.windows
        first = np.full(len(self.pids), -9.0)
        first[self.slot[self.window == 0]] = sims[self.window == 0]
        return {"mean": mean, "first": first, "max+mean": best + lam * mean}.get(
            how, best + lam * first
        )

    def dense(self, q: np.ndarray, depth: int = DEPTH, how: str = "max", lam: float = 0.0):
        scores = self.per_paragraph(q, how, lam)
        order = np.argsort(-scores, kind="stable")[:depth]
        return Ranked(self.pids[order], scores[order])

    def ranking(self, fused: Ranked) -> dict[str, float]:
        return ranking_to_run(
            articles_by_best_paragraph(((int(p), 0) for p in fused.ids), self.article)
        )

    def score(self, run: dict) -> float:
        return score_run(self.data.qrels, run)["ndcg@10"]

    def hybrid_run(self, dense_of=None, depth: int = DEPTH, fusion: Fusion | None = None):
        fusion = fusion or self.fusion
        run = {}
        for q in self.queries:
            kw = self.kw[q]
            kw = Ranked(kw.ids[:depth], kw.scores[:depth])
            d = dense_of(q) if dense_of else self.dense(self.qvec[q], depth)
            run[q] = self.ranking(fusion.fuse(kw, d, bm25_coverage(kw, self.ceiling[q])))
        return run


def prf(lab: Lab, rows: list) -> None:
    """Rocchio on the query vector: q' = (1-beta) q + beta mean(top-k paragraph vectors)."""
    mean_vec = {}

    def vec(pid: int) -> np.ndarray:
        if pid not in mean_vec:
            mean_vec[pid] = lab.vectors[lab.slot == np.searchsorted(lab.pids, pid)].mean(axis=0)
        return mean_vec[pid]

    for source in ("hybrid", "dense"):
        for k in (3, 5, 10):
            for beta in (0.2, 0.35, 0.5):

                def dense_of(q, k=k, beta=beta, source=source):
                    d = lab.dense(lab.qvec[q])
                    if source == "hybrid":
                        kw = Ranked(lab.kw[q].ids[:DEPTH], lab.kw[q].scores[:DEPTH])
                        top = lab.fusion.fuse(kw, d, bm25_coverage(kw, lab.ceiling[q])).ids[:k]
                    else:
                        top = d.ids[:k]
                    fb = np.mean([vec(int(p)) for p in top], axis=0)
                    q2 = (1 - beta) * lab.qvec[q] + beta * fb
                    return lab.dense(q2 / np.linalg.norm(q2))

                rows.append(
                    (
                        "dense PRF",
                        f"from {source} top {k}, beta {beta}",
                        lab.score(lab.hybrid_run(dense_of)),
                    )
                )


def windows(lab: Lab, rows: list) -> None:
    for how, lam in (
        ("mean", 0),
        ("first", 0),
        ("max+mean", 0.5),
        ("max+mean", 1.0),
        ("max+first", 0.5),
    ):
        run = lab.hybrid_run(lambda q, how=how, lam=lam: lab.dense(lab.qvec[q], DEPTH, how, lam))
        rows.append(
            ("windows -> paragraph", f"{how}" + (f" (x{lam:g})" if lam else ""), lab.score(run))
        )


def fill(lab: Lab, rows: list) -> None:
    """BM25's candidates missing from the dense top 1000 get their exact cosine."""

    def dense_of(q):
        scores = lab.per_paragraph(lab.qvec[q])
        d = lab.dense(lab.qvec[q])
        extra = np.setdiff1d(lab.kw[q].ids[:DEPTH], d.ids)
        ids = np.concatenate([d.ids, extra])
        sc = np.concatenate([d.scores, scores[np.searchsorted(lab.pids, extra)]])
        order = np.argsort(-sc, kind="stable")
        return Ranked(ids[order], sc[order])

    rows.append(
        ("dense fill-in", "exact cosines for BM25's top 1000", lab.score(lab.hybrid_run(dense_of)))
    )


def confidence(lab: Lab, rows: list) -> None:
    """Dense weight x min(1, top cosine / tau_d)^2, as coverage weighs BM25."""
    f = lab.fusion
    for tau_d in (0.5, 0.6, 0.7, 0.8):
        run = {}
        for q in lab.queries:
            kw = Ranked(lab.kw[q].ids[:DEPTH], lab.kw[q].scores[:DEPTH])
            d = lab.dense(lab.qvec[q])
            cov = bm25_coverage(kw, lab.ceiling[q])
            wb = (1 - f.alpha) * (coverage_weight(cov, f.tau) if cov is not None else 1.0)
            wd = f.alpha * min(1.0, d.scores[0] / tau_d) ** 2
            keys, pos = _int_slots([kw.ids, d.ids])
            total = _convex_total(len(keys), pos, [kw.scores, d.scores], [wb, wd], f.norm)
            order = _best_first(total)
            run[q] = lab.ranking(Ranked(keys[order], total[order]))
        rows.append(("dense confidence", f"tau_d {tau_d}", lab.score(run)))


def depth(lab: Lab, rows: list) -> None:
    for n in (200, 500, 2000, 6000):
        rows.append(("fusion depth", f"{n} per list", lab.score(lab.hybrid_run(depth=n))))


def learned(lab: Lab, rows: list) -> None:
    """Logistic regression on 9 features of each candidate (z-score and min-max of both
    scores, reciprocal ranks, coverage x BM25, top cosine x dense), trained on the union of
    each list's top 100, 5-fold cross-validation over the train queries."""
    from sklearn.linear_model import LogisticRegression

    def z(x):
        return (x - x.mean()) / (x.std() or 1.0)

    def mm(x):
        return (x - x.min()) / ((x.max() - x.min()) or 1.0)

    feats = {}
    for q in lab.queries:
        kw = Ranked(lab.kw[q].ids[:DEPTH], lab.kw[q].scores[:DEPTH])
        d = lab.dense(lab.qvec[q])
        ids = np.unique(np.concatenate([kw.ids, d.ids]))

        def col(lst, fn, ids=ids):
            val = fn(lst.scores)
            out = np.full(len(ids), val.min() if len(val) else 0.0)
            out[np.searchsorted(ids, lst.ids)] = val
            return out

        def rank(lst, ids=ids):
            out = np.zeros(len(ids))
            out[np.searchsorted(ids, lst.ids)] = 1.0 / (1 + np.arange(len(lst.ids)))
            return out

        cov = bm25_coverage(kw, lab.ceiling[q]) or 0.0
        zb, zd = col(kw, z), col(d, z)
        x = np.column_stack(
            [zb, zd, col(kw, mm), col(d, mm), rank(kw), rank(d),
             coverage_weight(cov, 0.3) * zb, d.scores[0] * zd, cov * zb]
        )  # fmt: skip
        judged = lab.data.qrels[q]
        y = np.array([judged.get(lab.article.get(int(p)), 0) > 0 for p in ids], dtype=int)
        top = np.zeros(len(ids), bool)
        top[np.searchsorted(ids, kw.ids[:100])] = True
        top[np.searchsorted(ids, d.ids[:100])] = True
        feats[q] = (ids, x, y, top)
    qids = sorted(feats)
    folds = np.array_split(np.random.default_rng(0).permutation(len(qids)), 5)
    for c in (0.01, 0.1, 1.0):
        run = {}
        for fold in folds:
            held = {qids[i] for i in fold}
            train = [q for q in qids if q not in held]
            model = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(
                np.vstack([feats[q][1][feats[q][3]] for q in train]),
                np.concatenate([feats[q][2][feats[q][3]] for q in train]),
            )
            for q in held:
                ids, x, _, _ = feats[q]
                order = np.argsort(-model.decision_function(x), kind="stable")
                run[q] = lab.ranking(Ranked(ids[order], np.zeros(len(ids))))
        rows.append(("learned fusion", f"logistic regression C={c:g}, 5-fold CV", lab.score(run)))


def significance(lab: Lab, rows: list) -> None:
    """The tuned hybrid against the defaults (fusion and BM25) on the same queries."""
    tuned = score_queries(lab.data.qrels, lab.hybrid_run())["ndcg@10"]
    s = lab.searcher
    with Searcher(s.layout.root, config=SearchConfig()) as plain:
        run = {}
        for q, text in lab.queries.items():
            hits = plain.candidates(text, DEPTH)
            run[q] = lab.ranking(hits)
    default = score_queries(lab.data.qrels, run)["ndcg@10"]
    qs = sorted(tuned)
    a, b = [tuned[q] for q in qs], [default[q] for q in qs]
    p = paired_randomization_p(a, b)
    gain = float(np.mean(a) - np.mean(b))
    rows.append(
        (
            "tuned vs defaults",
            f"gain {gain:+.4f}, paired randomization p={p:.3g}",
            float(np.mean(a)),
        )
    )


def sentences(lab: Lab, rows: list) -> None:
    """Each paragraph's best sentence (split as semantic highlights split, encoded alone) beside
    its best window: dense = best window + lam x best sentence."""
    from newsearch.search.highlights import sentences as spans

    paragraphs = lab.searcher.docstore.paragraphs({int(p) for p in lab.pids})
    texts, owner = [], []
    for i, pid in enumerate(lab.pids):
        text = paragraphs[int(pid)].text
        for start, end in spans(text):
            texts.append(text[start:end])
            owner.append(i)
    encoder = lab.searcher._query_embedder()
    started = time.perf_counter()
    vectors = np.vstack([encoder.encode(texts[i : i + 256]) for i in range(0, len(texts), 256)])
    took = time.perf_counter() - started
    owners = np.array(owner)
    best_sentence = {}
    for q in lab.queries:
        scores = np.full(len(lab.pids), -9.0)
        np.maximum.at(scores, owners, vectors @ lab.qvec[q])
        best_sentence[q] = scores

    def ranked(scores: np.ndarray) -> Ranked:
        order = np.argsort(-scores, kind="stable")[:DEPTH]
        return Ranked(lab.pids[order], scores[order])

    note = f"{len(texts):,} sentences encoded in {took:.0f} s"
    for lam in (0.5, 1.0):
        combined = {q: lab.per_paragraph(lab.qvec[q]) + lam * best_sentence[q] for q in lab.queries}
        alone = lab.score({q: lab.ranking(ranked(combined[q])) for q in lab.queries})
        rows.append(
            ("sentence vectors: dense alone", f"window + {lam:g} x sentence ({note})", alone)
        )
        run = lab.hybrid_run(lambda q, combined=combined: ranked(combined[q]))
        rows.append(("sentence vectors: hybrid", f"window + {lam:g} x sentence", lab.score(run)))
    window_alone = lab.score({q: lab.ranking(lab.dense(lab.qvec[q])) for q in lab.queries})
    rows.append(("sentence vectors: dense alone", "window only (what ships)", window_alone))


STEPS = {
    "prf": prf,
    "windows": windows,
    "fill": fill,
    "confidence": confidence,
    "depth": depth,
    "learned": learned,
    "significance": significance,
    "sentences": sentences,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index-dir", required=True)
    parser.add_argument("--dataset", default="../shared/data/beir/scifact")
    parser.add_argument(
        "--steps",
        default="prf,windows,fill,confidence,depth,learned,significance",
        help=f"comma-separated, of {', '.join(STEPS)}",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    lab = Lab(args.index_dir, args.dataset)
    base = lab.score(lab.hybrid_run())
    print(f"tuned hybrid on train: {lab.fusion}; BM25 {lab.searcher.config.keyword}")
    bm25_alone = lab.score({q: lab.ranking(lab.kw[q]) for q in lab.queries})
    dense_alone = lab.score({q: lab.ranking(lab.dense(lab.qvec[q])) for q in lab.queries})
    print(f"bm25 alone {bm25_alone:.4f}, dense alone {dense_alone:.4f}")
    rows: list = [("the tuned hybrid", "(baseline)", base)]
    for name in args.steps.split(","):
        STEPS[name.strip()](lab, rows)
    print("\n| idea | setting | nDCG@10 (train) | vs tuned |\n|---|---|---|---|")
    for idea, setting, value in rows:
        print(f"| {idea} | {setting} | {value:.4f} | {value - base:+.4f} |")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
