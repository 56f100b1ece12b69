"""Facet exactness: ``search(facets=True)`` against brute-force counts, and what facets cost.

For each query (default 200 BBC queries: half headlines, half first sentences, as
``bench/speed.py`` makes them) and each mode, with no filter and with one category filter:

1. the facets the library returns;
2. a brute-force count that uses neither Whoosh nor FAISS: every paragraph of the docstore is
   read and kept when one of the query's stems occurs in it or in its headline (what BM25F
   matches), and the query vector is compared with every stored vector (numpy), keeping the
   ``candidates`` nearest paragraphs; the stories of the kept paragraphs that pass the filter
   are counted per category, source and month, as ``search/facets.py`` defines;
3. in bm25 mode, the count from walking every result page of the same query (pages of 100
   until a short one; a story counts under each value of its hit and of its retrieved
   copies), where the query has at most 1000 matching stories.

Exact means every value's count and the total agree. The index is copied to a temporary
folder first (opening an index takes a reader lease, a write).

    python bench/facets.py --index-dir /work/scratch/bbc --corpus ../shared/data/bbc
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from markdown_section import write_section
from speed import loadavg, machine, make_queries

from newsearch.search import SearchConfig, Searcher
from newsearch.search.facets import month_of
from newsearch.search.filters import Filter
from newsearch.search.query import clean_query
from newsearch.search.searcher import MAX_K
from newsearch.search.snippets import _analyzer, _stem, query_stems


class Corpus:
    """Every paragraph's stems and article, every vector: read once."""

    def __init__(self, searcher: Searcher) -> None:
        import faiss

        store = searcher.docstore
        self.paragraphs = store.paragraphs(store.paragraph_ids())  # type: ignore[attr-defined]
        self.articles = store.articles({p.article_id for p in self.paragraphs.values()})
        expression = _analyzer()[0].expression  # the tokenizer, as snippets use it

        def stems(text: str) -> frozenset[str]:
            return frozenset(s for m in expression.finditer(text) if (s := _stem(m.group())))

        titles = {aid: stems(a.title) for aid, a in self.articles.items()}
        self.stems = {
            pid: stems(f"{p.context} {p.text}" if p.context else p.text) | titles[p.article_id]
            for pid, p in self.paragraphs.items()
        }
        index = faiss.read_index(str(searcher.generation / "vectors.faiss"))
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        base = faiss.downcast_index(index.index)
        self.vectors = base.reconstruct_n(0, base.ntotal)
        self.vector_pids = ids >> 6  # indexer/vectors.py: WINDOW_BITS

    def nearest(self, qvec: np.ndarray, depth: int) -> tuple[list[int], int]:
        """The ``depth`` nearest paragraphs (a paragraph scores by its best window), and how
        many paragraphs tie with the last one kept (an order FAISS may break otherwise)."""
        scores = self.vectors @ qvec
        best: dict[int, float] = {}
        for pid, s in zip(self.vector_pids.tolist(), scores.tolist(), strict=True):
            if s > best.get(pid, -2.0):
                best[pid] = s
        ranked = sorted(best.items(), key=lambda ps: -ps[1])
        kept = ranked[:depth]
        ties = 0
        if len(ranked) > depth:
            edge = kept[-1][1]
            ties = sum(1 for _, s in ranked[depth:] if abs(s - edge) < 1e-6)
        return [pid for pid, _ in kept], ties

    def count(self, pids, filters: Filter) -> dict[str, dict[str, int] | int]:
        keys: set[str] = set()
        values: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for pid in pids:
            a = self.articles[self.paragraphs[pid].article_id]
            if filters.active and not filters.accepts(a):
                continue
            key = a.story_id or a.id
            keys.add(key)
            for name, value in (("category", a.category), ("source", a.source)):
                if value.strip():
                    values[name][value.strip().casefold()].add(key)
            if month_of(a.date):
                values["month"][month_of(a.date)].add(key)
        out: dict[str, dict[str, int] | int] = {"total": len(keys)}
        for name in ("category", "source", "month"):
            out[name] = {v: len(ks) for v, ks in values[name].items()}
        return out


def library_counts(facets) -> dict[str, dict[str, int] | int]:
    out: dict[str, dict[str, int] | int] = {"total": facets.total}
    for name in ("category", "source", "month"):
        out[name] = {v.value.casefold(): v.count for v in getattr(facets, name)}
    return out


def walked_counts(searcher: Searcher, query: str, filters: Filter):
    """Counts from every result page of a bm25 query; None past MAX_K stories."""
    keys: set[str] = set()
    values: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    offset = 0
    while True:
        if offset + 100 > MAX_K:
            return None
        page = searcher.search(query, k=100, offset=offset, mode="bm25", filters=filters)
        for h in page.hits:
            keys.add(h.story_id)
            members = [h] + [c for c in h.also_in if c.score is not None]
            for m in members:
                if m.category.strip():
                    values["category"][m.category.strip().casefold()].add(h.story_id)
        if len(page.hits) < 100:
            break
        offset += 100
    return {"total": len(keys), "category": {v: len(ks) for v, ks in values["category"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True, help="to make the queries")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--walk", type=int, default=60, help="bm25 queries walked page by page")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-facets-"))
    index = work / "index"
    shutil.copytree(args.index_dir, index, symlinks=True)
    queries = make_queries([args.corpus], args.queries)
    rng = random.Random(1)
    load_start = loadavg()
    rows = []
    # Semantic highlights off: they cost the same with and without facets (bench/highlights.py).
    with Searcher(index, config=SearchConfig(semantic_highlights=False)) as searcher:
        corpus = Corpus(searcher)
        categories = sorted({a.category for a in corpus.articles.values() if a.category})
        depth = searcher.config.candidates
        exact = defaultdict(int)
        runs = defaultdict(int)
        ties = defaultdict(int)
        walked = defaultdict(int)
        walked_exact = defaultdict(int)
        cost = defaultdict(list)
        walked_q: list[str] = []
        for q in queries[:3]:  # warm up
            searcher.search(q, k=10, facets=True)
        for q in queries:
            cleaned = clean_query(q)
            stems = query_stems(cleaned)
            words = [pid for pid, s in corpus.stems.items() if s & stems]
            qvec = searcher.encode_query(cleaned)
            nearest, tie = corpus.nearest(qvec, depth)
            chosen = Filter.make(category=rng.choice(categories)) if categories else Filter()
            for mode in ("hybrid", "bm25", "dense"):
                for filters in (Filter(), chosen):
                    pids = (words if mode != "dense" else []) + (nearest if mode != "bm25" else [])
                    want = corpus.count(set(pids), filters)
                    started = time.perf_counter()
                    res = searcher.search(q, k=10, mode=mode, filters=filters, facets=True)
                    with_facets = time.perf_counter() - started
                    if not filters.active:
                        started = time.perf_counter()
                        searcher.search(q, k=10, mode=mode, filters=filters)
                        without = time.perf_counter() - started
                        cost[mode].append((with_facets - without) * 1000)
                    got = library_counts(res.facets)
                    runs[mode] += 1
                    exact[mode] += got == want
                    if got != want:
                        ties[mode] += bool(tie) and mode != "bm25"
                        print(f"differs: {mode} {q[:50]!r} {filters} {got} != {want}")
                    if mode == "bm25" and not filters.active and len(walked_q) < args.walk:
                        walked_q.append(q)
                        w = walked_counts(searcher, q, filters)
                        if w is not None:
                            walked[mode] += 1
                            walked_exact[mode] += w == {
                                "total": got["total"],
                                "category": got["category"],
                            }
        for mode in ("hybrid", "bm25", "dense"):
            rows.append(
                (
                    mode,
                    runs[mode],
                    exact[mode],
                    ties[mode],
                    statistics.median(cost[mode]),
                    walked.get(mode, 0),
                    walked_exact.get(mode, 0),
                )
            )
    load_end = loadavg()
    shutil.rmtree(work, ignore_errors=True)
    command = " ".join(["python", *sys.argv])
    lines = [
        "### Facets: counts against a brute-force count (issue 17)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; "
        f"loadavg {load_start} -> {load_end} (the machine is shared: timings are noisy).",
        "",
        f"Reproduce: `{command}`",
        "",
        f"{len(queries)} queries x (no filter, one random category filter) per mode; candidate "
        f"depth by meaning {depth} paragraphs; every paragraph holding a query word counted.",
        "",
        "| mode | query+filter runs | facets exact (every value and the total) | differing "
        "runs with a tie at the depth boundary | added cost of facets (no filter), median ms | "
        "bm25 queries walked page by page (<= 1000 stories) | of those, equal |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, n, ok, tie, ms, w, we in rows:
        walked_cell = f"{w}" if mode == "bm25" else "-"
        equal_cell = f"{we}" if mode == "bm25" else "-"
        lines.append(
            f"| {mode} | {n} | {ok} ({100 * ok / max(1, n):.1f}%) | {tie} | {ms:.1f} | "
            f"{walked_cell} | {equal_cell} |"
        )
    body = "\n".join(lines) + "\n"
    print(body)
    if not args.no_write:
        write_section("facets", body)


if __name__ == "__main__":
    main()
