"""Retrieval quality on a BEIR-format dataset: the numbers the field publishes, measured here.

A BEIR dataset is a folder with ``corpus.jsonl`` (``_id``, ``title``, ``text``),
``queries.jsonl`` (``_id``, ``text``) and ``qrels/<split>.tsv`` (query-id, corpus-id, score,
with a header line). The corpus is indexed by the ordinary indexer, so a BEIR ``_id`` is an
article id and an article hit is a judged document; a document scores by its best paragraph,
exactly as ``Searcher.search`` ranks articles. The metrics themselves come from ``ir-measures``
(trec_eval underneath), never from code written here.

The corpus may also be any source the indexer reads (a folder of news articles, say), given
apart from the queries: the qrels then name newsearch article ids, for a folder the path
relative to it (``business/001.txt``). Judged news sets hold copies of one story, so articles
are ranked one by one, not collapsed into stories: a collapsed page would hide judged copies.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import ir_measures
from ir_measures import RR, R, nDCG

from newsearch.indexer import BuildOptions, IndexLayout, build_index
from newsearch.indexer.errors import NewsearchError

from .fusion import Fusion
from .searcher import MODES, Searcher

#: The three measures BEIR and MTEB report for retrieval (MRR@10 is trec_eval's RR cut at 10).
MEASURES = {"ndcg@10": nDCG @ 10, "recall@100": R @ 100, "mrr@10": RR @ 10}
#: Documents retrieved per query: enough for Recall@100.
RUN_DEPTH = 100

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


class DatasetError(NewsearchError):
    """The folder is not a BEIR dataset, or the split asked for is not in it."""


@dataclass
class BeirDataset:
    """The files of one BEIR dataset and the judged queries of one split."""

    root: Path
    split: str
    queries: dict[str, str]
    qrels: Qrels
    #: What to index: the dataset's own corpus.jsonl unless a source was given apart.
    corpus_path: Path | None = None

    @property
    def corpus(self) -> Path:
        return self.corpus_path or self.root / "corpus.jsonl"


@dataclass
class ModeResult:
    """One row of the report: a search mode, its mean metrics and how long the queries took."""

    mode: str
    metrics: dict[str, float]
    queries: int
    seconds: float
    fusion: dict[str, object] | None = None
    #: BM25 parameters of the bm25 and hybrid rows.
    keyword: dict[str, object] | None = None


@dataclass
class EvalReport:
    dataset: str
    split: str
    index_dir: str
    queries: int
    results: list[ModeResult] = field(default_factory=list)
    #: Relevant documents of the qrels that the index does not hold (mistyped ids, say).
    missing_docs: int = 0
    #: The index's tuned settings when the searcher used them (``search/tuned.py``).
    tuned: dict[str, object] | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "split": self.split,
            "index_dir": self.index_dir,
            "queries": self.queries,
            "missing_docs": self.missing_docs,
            "tuned": self.tuned,
            "results": [r.__dict__ for r in self.results],
        }


def load_beir(
    root: str | os.PathLike[str],
    split: str = "test",
    corpus: str | os.PathLike[str] | None = None,
    *,
    need_corpus: bool = True,
) -> BeirDataset:
    """Read queries and qrels of ``split``; only queries judged in that split are kept.

    ``corpus`` is a source to index instead of the dataset's corpus.jsonl (a folder of
    articles, a JSONL file); the qrels must then use newsearch article ids. Without
    ``need_corpus`` (the index is already built: ``newsearch tune``) the folder needs only
    queries.jsonl and the qrels.
    """
    root = Path(root)
    corpus_path = Path(corpus) if corpus is not None else None
    queries_path = root / "queries.jsonl"
    qrels_path = root / "qrels" / f"{split}.tsv"
    if corpus_path is not None and not corpus_path.exists():
        raise DatasetError(f"corpus {corpus_path} does not exist")
    needed_files = [corpus_path or root / "corpus.jsonl"] if need_corpus else []
    for needed in (*needed_files, queries_path):
        if not needed.exists():
            raise DatasetError(f"{root} is not a BEIR dataset: {needed.name} is missing")
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv"))
        raise DatasetError(
            f"no qrels for split {split!r} in {root}"
            + (f" (splits: {', '.join(have)})" if have else "")
        )
    qrels = read_qrels(qrels_path)
    all_queries = read_queries(queries_path)
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise DatasetError(
            f"{len(missing)} judged queries of {qrels_path.name} are not in queries.jsonl "
            f"(first: {missing[0]!r})"
        )
    queries = {qid: all_queries[qid] for qid in qrels}
    return BeirDataset(
        root=root, split=split, queries=queries, qrels=qrels, corpus_path=corpus_path
    )


def read_qrels(path: Path) -> Qrels:
    """``query-id  corpus-id  score`` rows; a header line is skipped."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or (lineno == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue
            if len(row) < 3:
                raise DatasetError(f"{path}:{lineno}: expected query-id, corpus-id, score")
            qid, did, score = row[0].strip(), row[1].strip(), row[-1].strip()
            try:
                qrels.setdefault(qid, {})[did] = int(score)
            except ValueError:
                raise DatasetError(f"{path}:{lineno}: score {score!r} is not a number") from None
    return qrels


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                queries[str(record["_id"])] = str(record["text"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise DatasetError(f"{path}:{lineno}: not a BEIR query record") from None
    return queries


def ensure_index(
    dataset: BeirDataset,
    index_dir: str | os.PathLike[str],
    options: BuildOptions | None = None,
    rebuild: bool = False,
    progress: object | None = None,
) -> bool:
    """Index the dataset's corpus into ``index_dir`` unless an index of it is already there.

    Returns whether it built. An index of some other corpus is never silently replaced.
    """
    layout = IndexLayout(index_dir)
    corpus = str(dataset.corpus.resolve())
    if layout.exists() and not rebuild:
        meta = layout.read_meta(layout.current())
        if meta.sources != [corpus]:
            raise DatasetError(
                f"the index at {index_dir} holds {', '.join(meta.sources)}, not {corpus}: "
                "choose another --index-dir, or pass --rebuild to replace it"
            )
        if options is not None and meta.embed_headline != options.embed_headline:
            raise DatasetError(
                f"the index at {index_dir} was built with embed_headline="
                f"{meta.embed_headline}: pass --rebuild to rebuild it the other way"
            )
        if options is not None and options.int8 is not None:
            asked = "int8" if options.int8 else "fp32"
            if asked != meta.model.precision:
                raise DatasetError(
                    f"the index at {index_dir} holds {meta.model.precision} vectors, not "
                    f"{asked}: pass --rebuild to rebuild it in {asked}, or another --index-dir"
                )
        return False
    build_index([corpus], index_dir, options or BuildOptions(), progress=progress)  # type: ignore[arg-type]
    return True


def score_run(qrels: Qrels, run: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Mean nDCG@10, Recall@100 and MRR@10 over every judged query.

    A judged query missing from the run, or with no hits, counts as 0 (trec_eval would
    silently average over the answered queries only).
    """
    per_query = score_queries(qrels, run)
    n = len(next(iter(per_query.values()), {}))
    return {name: (sum(v.values()) / n if n else 0.0) for name, v in per_query.items()}


def score_queries(
    qrels: Qrels, run: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """Each measure of ``score_run`` per judged query (query id -> value; a judged query the
    run misses or answers with nothing is 0), for paired tests between two runs."""
    judged = {q: docs for q, docs in qrels.items() if any(r > 0 for r in docs.values())}
    per_query: dict[str, dict[str, float]] = {name: dict.fromkeys(judged, 0.0) for name in MEASURES}
    names = {measure: name for name, measure in MEASURES.items()}
    answered = {q: dict(docs) for q, docs in run.items() if q in judged and docs}
    for metric in ir_measures.iter_calc(list(MEASURES.values()), judged, answered):
        per_query[names[metric.measure]][metric.query_id] = metric.value
    return per_query


def ranking_to_run(doc_ids: Iterable[str]) -> dict[str, float]:
    """Scores that reproduce our order exactly: trec_eval re-sorts by score and breaks ties
    by document id, which would reorder tied fused scores."""
    ids = list(dict.fromkeys(doc_ids))
    return {doc: float(len(ids) - i) for i, doc in enumerate(ids)}


def run_queries(
    searcher: Searcher,
    queries: Mapping[str, str],
    mode: str,
    depth: int = RUN_DEPTH,
    fusion: Fusion | None = None,
    advance: Callable[[int], None] | None = None,
) -> Run:
    """Search every query; the run maps query id -> article id -> score (best first).

    Articles, not stories: qrels judge documents, and copies of a story are judged each.
    """
    run: Run = {}
    for qid, text in queries.items():
        hits = searcher.search(text, k=depth, mode=mode, fusion=fusion, collapse=False)
        run[qid] = ranking_to_run(h.article_id for h in hits)
        if advance:
            advance(1)
    return run


def check_judged_docs(searcher: Searcher, qrels: Qrels) -> int:
    """How many relevant judged documents the index lacks; an error when it holds none, which
    means the qrels name documents some other way than the index does (``001.txt`` for
    ``business/001.txt``) and every score would be a meaningless zero."""
    relevant = {doc for docs in qrels.values() for doc, grade in docs.items() if grade > 0}
    held = set(searcher.docstore.articles(relevant))
    if relevant and not held:
        raise DatasetError(
            f"none of the {len(relevant)} relevant documents of the qrels is in the index "
            f"(first: {sorted(relevant)[0]!r}): qrels must use the index's article ids"
        )
    return len(relevant - held)


def evaluate(
    searcher: Searcher,
    dataset: BeirDataset,
    modes: Iterable[str] | None = None,
    fusion: Fusion | None = None,
    progress: object | None = None,
) -> EvalReport:
    """Run the judged queries through each mode and score them.

    ``progress`` is the indexer's Progress protocol (start/advance/finish), so the CLI's bars
    work for both building and evaluating.
    """
    report = EvalReport(
        dataset=str(dataset.root),
        split=dataset.split,
        index_dir=str(searcher.layout.root),
        queries=len(dataset.qrels),
        missing_docs=check_judged_docs(searcher, dataset.qrels),
        tuned=searcher.tuned.to_json() if searcher.tuned is not None else None,
    )
    used = fusion or searcher.config.fusion
    for mode in modes or MODES:
        if mode not in MODES:
            raise DatasetError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if progress is not None:
            progress.start(f"{mode} queries", len(dataset.queries))  # type: ignore[attr-defined]
        started = time.perf_counter()
        run = run_queries(
            searcher,
            dataset.queries,
            mode,
            fusion=used,
            advance=progress.advance if progress is not None else None,  # type: ignore[attr-defined]
        )
        seconds = time.perf_counter() - started
        if progress is not None:
            progress.finish()  # type: ignore[attr-defined]
        report.results.append(
            ModeResult(
                mode=mode,
                metrics=score_run(dataset.qrels, run),
                queries=len(run),
                seconds=round(seconds, 2),
                fusion=used.__dict__.copy() if mode == "hybrid" else None,
                keyword=searcher.config.keyword_for(mode).__dict__.copy()
                if mode != "dense"
                else None,
            )
        )
    return report
