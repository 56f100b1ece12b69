"""Choose an index's query-time settings on its own judged queries (``newsearch tune``).

A grid of fusion settings (method, alpha, normalization, tau, RRF's k) and BM25 parameters
(k1, b, headline boost: query-time in this engine, ``indexer/keyword.py``) is scored by nDCG@10
on one qrels split, and the best is what ``search/tuned.py`` saves. Each setting is scored the
way ``Searcher.search(k=100, collapse=False)`` ranks (what ``newsearch eval`` runs), without
running the searcher per setting: every query's dense list is taken once, each BM25 setting's
list and ceiling once, and every fusion setting re-fuses those lists (``Fusion.fuse``, the
searcher's own code) and ranks articles by their best paragraph. ``check`` then runs the real
searcher with the chosen settings on a few queries and counts the rankings that agree.

bm25 mode gets its own BM25 setting: every BM25 setting's lists are also scored alone, and
the best alone is saved apart (``TunedSettings.bm25``): the hybrid's best BM25 ranks worse by
itself (SciFact).

The grid is searched by coordinates, not as a product, to stay within minutes on two cores
(a fusion of two 1,000-paragraph lists and its article ranking take ~2.5 ms; 23 fusions x 12
BM25 settings x 809 SciFact train queries would take ~12 minutes): (1) every fusion with the
default BM25, (2) the ``TOP_FUSIONS`` best of them with every BM25 setting, (3) every fusion
with the best BM25 setting of (2). The defaults are always among the rows, so the chosen
setting is never worse than the defaults on the tuning split.

The best row replaces the defaults only when its per-query gain over them is significant
(``search/significance.py``, p <= ``max_p``); bm25 mode's best alone likewise. On a flat
surface the best of ~200 rows wins partly by noise, and such wins did not carry to held-out
queries (SciFact: bm25 mode's best alone +.0065 on train, p=.066, -.003 on test).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from newsearch.indexer.keyword import KeywordConfig, KeywordIndex
from newsearch.indexer.layout import utc_now

from .evaluate import (
    RUN_DEPTH,
    BeirDataset,
    Qrels,
    check_judged_docs,
    ranking_to_run,
    score_queries,
    score_run,
)
from .fusion import Fusion, bm25_coverage
from .query import clean_query
from .searcher import SearchConfig, Searcher
from .significance import MAX_P, paired_randomization_p
from .tuned import TunedSettings

Hits = list[tuple[int, float]]
#: Fusion settings of stage 1 carried into the BM25 sweep of stage 2.
TOP_FUSIONS = 3
#: Queries the real searcher re-runs with the chosen settings (``check``).
CHECK_QUERIES = 10


@dataclass(frozen=True)
class TuneGrid:
    """The values tried. The defaults (``Fusion()``, ``KeywordConfig()``) are always added."""

    #: The first grid's best sat at its low edge for k1 and the headline boost (0.6, 0.3 on
    #: SciFact train), so the grid reaches below it.
    k1: tuple[float, ...] = (0.4, 0.6, 0.9, 1.2)
    b: tuple[float, ...] = (0.4, 0.75)
    title_boost: tuple[float, ...] = (0.1, 0.3, 0.5)
    idf: tuple[str, ...] = ("whoosh", "lucene")
    #: Dense weight of convex and coverage fusion.
    alpha: tuple[float, ...] = (0.4, 0.5, 0.6, 0.7)
    norm: tuple[str, ...] = ("minmax", "zscore")
    #: Coverage fusion's tau, tried with the alphas of ``coverage_alpha``.
    tau: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5)
    coverage_alpha: tuple[float, ...] = (0.5, 0.6, 0.7)
    rrf_k: tuple[float, ...] = (1, 10, 60)

    def fusions(self) -> list[Fusion]:
        out = [Fusion()]
        out += [Fusion("convex", alpha=a, norm=n) for n in self.norm for a in self.alpha]  # type: ignore[arg-type]
        out += [
            Fusion("coverage", alpha=a, norm=n, tau=t)  # type: ignore[arg-type]
            for t in self.tau
            for n in self.norm
            for a in self.coverage_alpha
        ]
        out += [Fusion("rrf", rrf_k=k) for k in self.rrf_k]
        return list(dict.fromkeys(out))

    def keyword_configs(self) -> list[KeywordConfig]:
        out = [KeywordConfig()]
        out += [
            KeywordConfig(k1=k1, b=b, title_boost=t, idf=idf)
            for idf in self.idf
            for k1 in self.k1
            for b in self.b
            for t in self.title_boost
        ]
        return list(dict.fromkeys(out))


@dataclass(frozen=True)
class TuneRow:
    """One setting scored on the split."""

    fusion: Fusion
    keyword: KeywordConfig
    metrics: dict[str, float]
    stage: int

    @property
    def ndcg10(self) -> float:
        return self.metrics["ndcg@10"]

    def label(self) -> str:
        return TunedSettings(self.fusion, self.keyword).describe()

    def to_dict(self) -> dict[str, Any]:
        return {
            "fusion": self.fusion.__dict__.copy(),
            "keyword": self.keyword.__dict__.copy(),
            "metrics": self.metrics,
            "stage": self.stage,
        }


@dataclass
class TuneReport:
    dataset: str
    split: str
    index_dir: str
    generation: str
    queries: int
    depth: int
    rows: list[TuneRow] = field(default_factory=list)
    #: bm25 (default parameters) and dense alone, on the same lists.
    single: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Every BM25 setting scored alone (bm25 mode), in the order scored (the defaults first).
    alone: list[tuple[KeywordConfig, dict[str, float]]] = field(default_factory=list)
    #: Queries re-run through ``Searcher.search`` with the chosen settings, and how many of
    #: them ranked the same top 100 articles as the tuning computed.
    checked: int = 0
    agreed: int = 0
    missing_docs: int = 0
    seconds: float = 0.0
    #: The largest p-value at which a best setting replaces the defaults (1: always).
    max_p: float = MAX_P
    #: Paired randomization test of the best row against the defaults' row, and of bm25
    #: mode's best alone against the default BM25 alone (None where the best is the defaults).
    p_value: float | None = None
    bm25_p_value: float | None = None

    @property
    def default(self) -> TuneRow:
        return next(r for r in self.rows if r.fusion == Fusion() and r.keyword == KeywordConfig())

    @property
    def best(self) -> TuneRow:
        """Highest nDCG@10; a tie goes to the row scored first (the defaults come first)."""
        return max(self.rows, key=lambda r: r.ndcg10)

    def ranked(self) -> list[TuneRow]:
        return sorted(self.rows, key=lambda r: -r.ndcg10)

    @property
    def adopted(self) -> bool:
        """Whether the best row replaces the defaults: better, and significantly."""
        p = self.p_value
        return self.best.ndcg10 > self.default.ndcg10 and p is not None and p <= self.max_p

    @property
    def chosen(self) -> TuneRow:
        """What is saved: the best row if ``adopted``, else the defaults' row."""
        return self.best if self.adopted else self.default

    @property
    def bm25_adopted(self) -> bool:
        if not self.alone:
            return False
        best, default = self.best_alone[1]["ndcg@10"], self.alone[0][1]["ndcg@10"]
        p = self.bm25_p_value
        return best > default and p is not None and p <= self.max_p

    @property
    def chosen_alone(self) -> tuple[KeywordConfig, dict[str, float]]:
        """bm25 mode's saved BM25: the best alone if ``bm25_adopted``, else the defaults."""
        return self.best_alone if self.bm25_adopted else self.alone[0]

    @property
    def best_alone(self) -> tuple[KeywordConfig, dict[str, float]]:
        """bm25 mode's best BM25 setting; a tie goes to the one scored first (the defaults)."""
        return max(self.alone, key=lambda row: row[1]["ndcg@10"])

    def settings(self) -> TunedSettings:
        """What ``save_tuned`` stores: the chosen row and bm25 mode's chosen BM25 (the
        defaults, written out, where the best was not a significant gain)."""
        chosen = self.chosen
        alone, alone_metrics = self.chosen_alone if self.alone else (None, {"ndcg@10": 0.0})
        return TunedSettings(
            fusion=chosen.fusion,
            keyword=chosen.keyword,
            bm25=alone,
            bm25_ndcg10=round(alone_metrics["ndcg@10"], 6),
            dataset=self.dataset,
            split=self.split,
            queries=self.queries,
            ndcg10=round(chosen.ndcg10, 6),
            default_ndcg10=round(self.default.ndcg10, 6),
            tuned_at=utc_now(),
            generation=self.generation,
            best_ndcg10=round(self.best.ndcg10, 6),
            p_value=None if self.p_value is None else round(self.p_value, 6),
            bm25_p_value=None if self.bm25_p_value is None else round(self.bm25_p_value, 6),
            max_p=self.max_p,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "index_dir": self.index_dir,
            "generation": self.generation,
            "queries": self.queries,
            "depth": self.depth,
            "missing_docs": self.missing_docs,
            "single": self.single,
            "default": self.default.to_dict(),
            "best": self.best.to_dict(),
            "chosen": self.chosen.to_dict(),
            "significance": {
                "test": "paired randomization (sign flips), two-sided",
                "max_p": self.max_p,
                "hybrid": {"p": self.p_value, "adopted": self.adopted},
                "bm25": {"p": self.bm25_p_value, "adopted": self.bm25_adopted},
            },
            "rows": [r.to_dict() for r in self.ranked()],
            "bm25_alone": [
                {"keyword": c.__dict__.copy(), "metrics": m}
                for c, m in sorted(self.alone, key=lambda row: -row[1]["ndcg@10"])
            ],
            "bm25_chosen": (
                {"keyword": self.chosen_alone[0].__dict__.copy(), "metrics": self.chosen_alone[1]}
                if self.alone
                else None
            ),
            "checked": self.checked,
            "agreed": self.agreed,
            "seconds": self.seconds,
        }


class _Lists:
    """Every query's candidate lists at the searcher's first depth, taken once each."""

    def __init__(self, searcher: Searcher, queries: Mapping[str, str], progress: Any) -> None:
        self.searcher = searcher
        self.queries = {qid: clean_query(text) for qid, text in queries.items()}
        self.depth = min(searcher.config.candidates, max(1, searcher.meta.paragraphs))
        self.progress = progress
        self.dense = self._each("dense lists", lambda q: searcher.dense_search(q, self.depth))
        self._articles: dict[int, str] = {}
        self._note(self.dense.values())

    def _each(self, what: str, fn: Any) -> dict[str, Any]:
        if self.progress is not None:
            self.progress.start(what, len(self.queries))
        out = {}
        for qid, text in self.queries.items():
            out[qid] = fn(text)
            if self.progress is not None:
                self.progress.advance(1)
        if self.progress is not None:
            self.progress.finish()
        return out

    def keyword(self, config: KeywordConfig) -> tuple[dict[str, Hits], dict[str, float | None]]:
        """BM25 lists and coverages (best score over the query's ceiling) for ``config``."""
        reader = own = self.searcher.keyword
        if config != self.searcher.config.keyword:
            if not isinstance(own, KeywordIndex):
                raise ValueError("tune scores one local index, not a cluster's shards")
            # The same open index and postings arrays, scored with ``config``.
            reader = own.with_config(config)
        try:
            lists = self._each(
                f"bm25 k1={config.k1:g} b={config.b:g} headline={config.title_boost:g}",
                lambda q: reader.search(q, self.depth),
            )
            coverage = {
                qid: bm25_coverage(lists[qid], reader.ceiling(text))
                for qid, text in self.queries.items()
            }
        finally:
            if reader is not own:
                reader.close()  # its own per-thread Whoosh searcher; the index stays open
        self._note(lists.values())
        return lists, coverage

    def _note(self, lists: Iterable[Hits]) -> None:
        """Remember the article of every paragraph the lists hold (one docstore read)."""
        new = {pid for hits in lists for pid, _ in hits} - self._articles.keys()
        if new:
            rows = self.searcher.docstore.paragraphs(new)
            self._articles.update({pid: p.article_id for pid, p in rows.items()})

    def ranking(self, fused: Hits) -> list[str]:
        return articles_by_best_paragraph(fused, self._articles)


def articles_by_best_paragraph(
    fused: Iterable[tuple[int, float]], article_of: Mapping[int, str], depth: int = RUN_DEPTH
) -> list[str]:
    """The first ``depth`` articles of a fused paragraph list, each ranked by its best
    paragraph, as ``Searcher.search(collapse=False)`` ranks them (paragraphs the docstore does
    not describe are skipped, as the searcher skips them)."""
    out: dict[str, None] = {}
    for pid, _ in fused:
        aid = article_of.get(pid)
        if aid is not None and aid not in out:
            out[aid] = None
            if len(out) >= depth:
                break
    return list(out)


def score_fusion(
    qrels: Qrels,
    lists: _Lists,
    keyword: Mapping[str, Hits],
    coverage: Mapping[str, float | None],
    fusion: Fusion | None,
) -> dict[str, float]:
    """nDCG@10, R@100, MRR@10 of one fusion (None: ``keyword`` alone) over the lists."""
    return score_run(qrels, _run(lists, keyword, coverage, fusion))


def ndcg_per_query(qrels: Qrels, run: Mapping[str, Mapping[str, float]]) -> list[float]:
    """nDCG@10 of every judged query (in sorted query id order) for a paired test."""
    scores = score_queries(qrels, run)["ndcg@10"]
    return [scores[qid] for qid in sorted(scores)]


def _run(
    lists: _Lists,
    keyword: Mapping[str, Hits],
    coverage: Mapping[str, float | None],
    fusion: Fusion | None,
) -> dict[str, dict[str, float]]:
    run = {}
    for qid in lists.queries:
        if fusion is None:
            fused = keyword[qid]
        else:
            fused = fusion.fuse(keyword[qid], lists.dense[qid], coverage[qid])
        run[qid] = ranking_to_run(lists.ranking(fused))
    return run


def tune(
    searcher: Searcher,
    dataset: BeirDataset,
    grid: TuneGrid | None = None,
    progress: Any = None,
    check: int = CHECK_QUERIES,
    max_p: float = MAX_P,
) -> TuneReport:
    """Score ``grid`` on ``dataset``'s judged queries over ``searcher``'s index (open it with an
    explicit ``SearchConfig()`` so no earlier tuning leaks in); the best row is
    ``report.best``, what replaces the defaults ``report.chosen`` (the best if its gain has
    p <= ``max_p``; 1 adopts any gain), ``report.settings()`` what to save. ``progress``:
    the indexer's Progress protocol (start/advance/finish)."""
    if not 0.0 < max_p <= 1.0:
        raise ValueError(f"max_p must be above 0 and at most 1, got {max_p}")
    started = time.perf_counter()
    grid = grid or TuneGrid()
    report = TuneReport(
        dataset=str(dataset.root),
        split=dataset.split,
        index_dir=str(searcher.layout.root),
        generation=searcher.generation.name,
        queries=len(dataset.qrels),
        depth=0,
        missing_docs=check_judged_docs(searcher, dataset.qrels),
        max_p=max_p,
    )
    lists = _Lists(searcher, dataset.queries, progress)
    report.depth = lists.depth
    qrels = dataset.qrels
    fusions = grid.fusions()
    scored: set[tuple[Fusion, KeywordConfig]] = set()

    def sweep(stage: int, config: KeywordConfig, kw: Any, cov: Any, which: list[Fusion]) -> None:
        if progress is not None:
            progress.start(f"stage {stage}: fusions", len(which))
        for fusion in which:
            if (fusion, config) not in scored:
                scored.add((fusion, config))
                metrics = score_fusion(qrels, lists, kw, cov, fusion)
                report.rows.append(TuneRow(fusion, config, metrics, stage))
            if progress is not None:
                progress.advance(1)
        if progress is not None:
            progress.finish()

    # 1. Every fusion with the default BM25.
    default_kw = KeywordConfig()
    kw, cov = lists.keyword(default_kw)
    report.single["bm25"] = score_fusion(qrels, lists, kw, cov, None)
    report.alone.append((default_kw, report.single["bm25"]))
    report.single["dense"] = score_fusion(qrels, lists, lists.dense, cov, None)
    sweep(1, default_kw, kw, cov, fusions)
    top = [r.fusion for r in sorted(report.rows, key=lambda r: -r.ndcg10)[:TOP_FUSIONS]]

    # 2. The best fusions with every BM25 setting; keep the lists of the best one.
    best_kw, best_lists, best_score = default_kw, (kw, cov), report.best.ndcg10
    for config in grid.keyword_configs():
        if config == default_kw:
            continue
        kw2, cov2 = lists.keyword(config)
        report.alone.append((config, score_fusion(qrels, lists, kw2, cov2, None)))
        sweep(2, config, kw2, cov2, top)
        score = max(r.ndcg10 for r in report.rows if r.keyword == config)
        if score > best_score:
            best_kw, best_lists, best_score = config, (kw2, cov2), score

    # 3. Every fusion with that BM25 setting.
    if best_kw != default_kw:
        sweep(3, best_kw, *best_lists, fusions)

    # Is the best a significant gain over the defaults? (The best row's BM25 is best_kw.)
    best = report.best
    if (best.fusion, best.keyword) != (report.default.fusion, default_kw):
        report.p_value = paired_randomization_p(
            ndcg_per_query(qrels, _run(lists, *best_lists, best.fusion)),
            ndcg_per_query(qrels, _run(lists, kw, cov, report.default.fusion)),
        )
    alone = report.best_alone[0]
    if alone != default_kw:
        kw_alone, cov_alone = best_lists if alone == best_kw else lists.keyword(alone)
        report.bm25_p_value = paired_randomization_p(
            ndcg_per_query(qrels, _run(lists, kw_alone, cov_alone, None)),
            ndcg_per_query(qrels, _run(lists, kw, cov, None)),
        )

    if check > 0:
        report.checked, report.agreed = _check(searcher, lists, report.chosen, check)
    report.seconds = round(time.perf_counter() - started, 1)
    return report


def _check(searcher: Searcher, lists: _Lists, row: TuneRow, n: int) -> tuple[int, int]:
    """Run the first ``n`` queries through the real searcher with ``row``'s settings: how many
    rank the same top ``RUN_DEPTH`` articles as the tuning computed for them."""
    config = SearchConfig(fusion=row.fusion, keyword=row.keyword)
    with Searcher(searcher.layout.root, config=config) as real:
        if real.generation != searcher.generation:  # a new build was published meanwhile
            return 0, 0
        agreed = 0
        queries = list(lists.queries.items())[:n]
        for qid, text in queries:
            hits = real.search(text, k=RUN_DEPTH, collapse=False)
            kw = real.keyword.search(text, lists.depth)
            coverage = bm25_coverage(kw, real.keyword.ceiling(text))
            fused = row.fusion.fuse(kw, lists.dense[qid], coverage)
            agreed += [h.article_id for h in hits] == lists.ranking(fused)
    return len(queries), agreed
