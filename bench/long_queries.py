"""Argument-length queries: a local proxy for BEIR ArguAna, and what a long query costs.

    .venv/bin/python bench/long_queries.py make --work /work/scratch-quality/long
    .venv/bin/newsearch index /work/scratch-quality/long/corpus -i /work/scratch-quality/long/ix
    .venv/bin/newsearch eval /work/scratch-quality/long/queries \\
        --corpus /work/scratch-quality/long/corpus -i /work/scratch-quality/long/ix --split test
    .venv/bin/python bench/long_queries.py latency --index-dir /work/scratch-quality/bbc

``make`` writes the proxy, "BBC continuations": ArguAna's queries are whole arguments (median
~1,100 characters) and the answer is a document on the same point that shares some of the
argument's words but not its text. Here the query is the second half of a BBC article (its
later paragraphs, quotes kept, 800-5,000 characters) and the answer is the article, of which
the index holds only the headline and the first half. So the query's text is not in the index
(no leak: the answer must be found by its topic, names and wording, not by copying), it is as
long as an argument and reads like one (claims, quoted speech, numbers), and it has one judged
answer. Articles whose paragraphs occur in another BBC article (the corpus's duplicates) are
not used: a full copy of the article would answer the query by its own text. The selection
is fixed by rule (every article with at least 6 paragraphs whose second half has 800-5,000
characters, every third one in path order), before any result is seen.

Its limits (it checks direction, it tunes nothing): a continuation shares more names and
numbers with its first half than a counter-argument does with an argument (BM25 is favoured
against ArguAna), there is one answer per query, and the corpus is news, not debate.

``latency`` times BM25 and hybrid search for queries of 500-10,000 characters made of BBC
article text (quoted speech included), with the number of indexable and distinct words: a long
query must cost what its distinct words cost. Run it under another checkout's interpreter to
time that checkout's code on the same index.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

LOADAVG = Path("/proc/loadavg")
MIN_PARAGRAPHS = 6
MIN_CHARS, MAX_CHARS = 800, 5000
EVERY = 3


def loadavg() -> str:
    return " ".join(LOADAVG.read_text().split()[:3]) if LOADAVG.exists() else "n/a"


def blocks(path: Path) -> tuple[str, list[str]]:
    """Headline and the blank-line separated paragraphs of one BBC file."""
    lines = path.read_text(encoding="latin-1").split("\n")
    head, body = lines[0].strip(), "\n".join(lines[1:])
    return head, [" ".join(b.split()) for b in body.split("\n\n") if b.strip()]


def make(corpus: Path, work: Path) -> None:
    files = sorted(p.relative_to(corpus).as_posix() for p in corpus.glob("*/*.txt"))
    parsed = {rel: blocks(corpus / rel) for rel in files}
    owners: dict[str, set[str]] = {}
    for rel, (_, paras) in parsed.items():
        for p in paras:
            owners.setdefault(p, set()).add(rel)
    eligible = []
    for rel, (_, paras) in parsed.items():
        if len(paras) < MIN_PARAGRAPHS or any(len(owners[p]) > 1 for p in paras):
            continue
        half = (len(paras) + 1) // 2
        query = " ".join(paras[half:])
        if MIN_CHARS <= len(query) <= MAX_CHARS:
            eligible.append((rel, half, query))
    picked = eligible[::EVERY]
    out_corpus, out_queries = work / "corpus", work / "queries"
    (out_queries / "qrels").mkdir(parents=True, exist_ok=True)
    cut = {rel: half for rel, half, _ in picked}
    for rel, (head, paras) in parsed.items():
        target = out_corpus / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        kept = paras[: cut[rel]] if rel in cut else paras
        target.write_text(head + "\n\n" + "\n\n".join(kept) + "\n", encoding="utf-8")
    with (out_queries / "queries.jsonl").open("w") as f:
        for i, (rel, _, query) in enumerate(picked):
            f.write(json.dumps({"_id": f"cont-{i:03d}", "text": query, "source": rel}) + "\n")
    with (out_queries / "qrels" / "test.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for i, (rel, _, _) in enumerate(picked):
            f.write(f"cont-{i:03d}\t{rel}\t1\n")
    lengths = sorted(len(q) for _, _, q in picked)
    quoted = sum('"' in q for _, _, q in picked)
    print(
        f"{len(picked)} queries (of {len(eligible)} eligible articles, every {EVERY}rd), "
        f"characters min {lengths[0]}, median {lengths[len(lengths) // 2]}, max {lengths[-1]}; "
        f"{sum(n > 2000 for n in lengths)} over 2,000; {quoted} with quotes. Written to {work}"
    )


def long_texts(corpus: Path, sizes: list[int], per_size: int) -> dict[int, list[str]]:
    """Queries of each size made of consecutive BBC article bodies (quotes kept), cut at a
    word boundary: text of the indexed articles themselves, as a pasted article would be."""
    files = sorted(corpus.glob("*/*.txt"))
    out: dict[int, list[str]] = {}
    for size in sizes:
        texts = []
        for i in range(per_size):
            parts, n, j = [], 0, i * 37
            while n < size:
                _, paras = blocks(files[j % len(files)])
                parts.append(" ".join(paras))
                n += len(parts[-1]) + 1
                j += 1
            text = " ".join(parts)[:size]
            texts.append(text[: text.rfind(" ")])
        out[size] = texts
    return out


def score_once(kw, text: str) -> float:
    """Milliseconds the numpy scorer takes for the query's distinct words alone (what it would
    cost if the scorer weighed a repeated word instead of adding it again): the share of a
    long query's time that repeats cost. Same reader, same cached postings."""
    words = list(dict.fromkeys(kw._terms("text", text.replace('"', " "))))
    reader = kw._searcher().reader()
    fields = {"text": 1.0, "title": kw.config.title_boost}
    t = time.perf_counter()
    kw._bm25(reader).search(reader, words, fields, kw.config.k1, kw.config.b, 1000)
    return (time.perf_counter() - t) * 1000


def latency(index_dir: Path, corpus: Path, sizes: list[int], per_size: int, repeat: int) -> None:
    from newsearch.search import Searcher

    texts = long_texts(corpus, sizes, per_size)
    print(f"load average before: {loadavg()}")
    print(
        "| characters | indexable words | distinct | phrases run | BM25 ms "
        "| BM25 ms, each word scored once | hybrid ms |"
    )
    print("|---|---|---|---|---|---|---|")
    with Searcher(index_dir) as searcher:
        kw = searcher.keyword
        searcher.search("warm up the model and the postings", k=10)
        for size, queries in texts.items():
            for q in queries:  # first pass decodes postings: not timed
                kw.search(q, 100)
            bm25, once, hybrid = [], [], []
            for _ in range(repeat):
                for q in queries:
                    t = time.perf_counter()
                    kw.search(q, 1000)
                    bm25.append((time.perf_counter() - t) * 1000)
                    once.append(score_once(kw, q))
                    t = time.perf_counter()
                    searcher.search(q, k=10, mode="hybrid")
                    hybrid.append((time.perf_counter() - t) * 1000)
            words = statistics.median(len(kw._terms("text", q.replace('"', " "))) for q in queries)
            distinct = statistics.median(
                len(set(kw._terms("text", q.replace('"', " ")))) for q in queries
            )
            phrases = statistics.median(len(kw.phrase_clauses(q)) for q in queries)
            print(
                f"| {size:,} | {words:.0f} | {distinct:.0f} | {phrases:.0f} | "
                f"{statistics.median(bm25):.1f} | {statistics.median(once):.1f} | "
                f"{statistics.median(hybrid):.1f} |"
            )
    print(f"load average after: {loadavg()}; medians over {per_size} queries x {repeat}")


def cut_2000(text: str) -> str:
    """The query as the old 2,000-character limit cut it (at the last space after 1,000)."""
    if len(text) <= 2000:
        return text
    space = text[:2001].rfind(" ", 1000)
    return text[:space] if space > 0 else text[:2000]


def ablate(index_dir: Path, dataset: Path) -> None:
    """Which part of the long-query change moves the proxy: each variant scores every query's
    BM25 list with the numpy scorer directly (no phrases: the proxy is all long queries) and
    fuses it with the same dense list, articles ranked by their best paragraph."""
    from newsearch.indexer.bm25 import whoosh_idf
    from newsearch.search import Fusion, Searcher
    from newsearch.search.evaluate import ranking_to_run, read_qrels, score_run

    queries = {
        r["_id"]: r["text"]
        for r in map(json.loads, (dataset / "queries.jsonl").read_text().splitlines())
    }
    qrels = read_qrels(dataset / "qrels" / "test.tsv")
    print(f"load average before: {loadavg()}")
    with Searcher(index_dir) as searcher:
        kw = searcher.keyword
        depth = min(max(searcher.config.candidates, 500), searcher.meta.paragraphs)
        reader = kw._searcher().reader()
        arrays = kw._bm25(reader)
        fields = {"text": 1.0, "title": kw.config.title_boost}

        def bm25(words: list[str]) -> list[tuple[int, float]]:
            return arrays.search(reader, words, fields, kw.config.k1, kw.config.b, depth)

        def distinct(text: str) -> list[str]:
            return list(dict.fromkeys(kw._terms("text", text)))

        def ceiling(words: list[str]) -> float:
            """KeywordIndex.max_score over exactly these words (a repeat counts again)."""
            total, n = 0.0, reader.doc_count_all()
            for word in words:
                for field, boost in fields.items():
                    df = reader.doc_frequency(field, word)
                    if df and boost > 0:
                        total += boost * whoosh_idf(n, df) * (kw.config.k1 + 1)
            return total

        def scored(words: list[str]) -> tuple[list[tuple[int, float]], float]:
            return bm25(words), ceiling(words)

        lists = {}
        for qid, text in queries.items():
            plain = text.replace('"', " ")
            variants = {
                "2,000-char cut, each word once (main before)": scored(distinct(cut_2000(plain))),
                "2,000-char cut, weighted by count": scored(kw.query_terms(cut_2000(plain))),
                "whole query, each word once": scored(distinct(plain)),
                "whole query, weighted by count (this branch)": scored(kw.query_terms(plain)),
            }
            lists[qid] = (variants, searcher.dense_search(text, depth))
        pids = {p for v, d in lists.values() for run in (*v.values(), (d, 0)) for p, _ in run[0]}
        article_of = {p: x.article_id for p, x in searcher.docstore.paragraphs(pids).items()}

    def score(name: str | None, fuse) -> dict[str, float]:
        run = {}
        for qid, (variants, dense) in lists.items():
            hits, top = variants[name] if name else ([], 0.0)
            coverage = hits[0][1] / top if hits and top else None
            fused = fuse(hits, dense, coverage)
            ranked = list(dict.fromkeys(article_of[p] for p, _ in fused))[:100]
            run[qid] = ranking_to_run(ranked)
        return score_run(qrels, run)

    fusions = {
        "bm25": lambda kw_, dn, c: kw_,
        "coverage (old default)": lambda kw_, dn, c: Fusion().fuse(kw_, dn, c),
        "convex a=0.6": lambda kw_, dn, c: Fusion("convex").fuse(kw_, dn),
        "rrf k=1": lambda kw_, dn, c: Fusion("rrf").fuse(kw_, dn),
    }
    print("| BM25 list (nDCG@10 / MRR@10) | " + " | ".join(fusions) + " |")
    print("|---|" + "---|" * len(fusions))
    names = list(next(iter(lists.values()))[0])
    for name in names:
        cells = [score(name, fuse) for fuse in fusions.values()]
        print(
            f"| {name} | "
            + " | ".join(f"{r['ndcg@10']:.4f} / {r['mrr@10']:.4f}" for r in cells)
            + " |"
        )
    r = score(None, lambda kw_, dn, c: dn)
    print(f"| dense alone | {r['ndcg@10']:.4f} / {r['mrr@10']:.4f} |" + " |" * 3)
    last = names[-1]
    covs = sorted(v[last][0][0][1] / v[last][1] for v, _ in lists.values() if v[last][0])
    print(
        f"coverage (best score / max_score) of the weighted whole query: median "
        f"{covs[len(covs) // 2]:.3f}, max {covs[-1]:.3f}; tau {Fusion().tau}"
    )
    print(f"load average after: {loadavg()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="stage", required=True)
    mk = sub.add_parser("make", help="write the BBC-continuations proxy")
    mk.add_argument("--corpus", type=Path, default=Path("/work/shared/data/bbc"))
    mk.add_argument("--work", type=Path, required=True)
    lat = sub.add_parser("latency", help="time long queries on an index of BBC")
    lat.add_argument("--index-dir", type=Path, required=True)
    lat.add_argument("--corpus", type=Path, default=Path("/work/shared/data/bbc"))
    lat.add_argument("--sizes", default="500,2000,5000,10000")
    lat.add_argument("--queries", type=int, default=8)
    lat.add_argument("--repeat", type=int, default=3)
    ab = sub.add_parser("ablate", help="which part of the change moves the proxy")
    ab.add_argument("--index-dir", type=Path, required=True)
    ab.add_argument("--queries", type=Path, required=True, help="the proxy's queries folder")
    args = ap.parse_args(argv)
    if args.stage == "make":
        make(args.corpus, args.work)
    elif args.stage == "ablate":
        ablate(args.index_dir, args.queries)
    else:
        sizes = [int(s) for s in args.sizes.split(",")]
        latency(args.index_dir, args.corpus, sizes, args.queries, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
