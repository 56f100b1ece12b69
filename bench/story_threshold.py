"""Measure the story-clustering thresholds on a corpus (default: ../shared/data/bbc).

Prints how many candidate pairs MinHash LSH finds, how they split by word Jaccard and by
paragraph alignment, samples of pairs just above and just below each threshold, the number of
story clusters at the chosen thresholds, and the scores of the positive controls (the two seed
articles, the demo's syndicated harbour-rail-strike pair). With ``--write`` the report replaces
the story section of BENCHMARKS.md.

    .venv/bin/python bench/story_threshold.py --write

Paragraph vectors are the ones the builder's story step uses (each paragraph alone), encoded
through the index's embedding cache in ``--index-dir``, so a later ``newsearch index`` of the
same corpus reuses them (and a rerun of this script encodes nothing).
"""

from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path

import numpy as np

from newsearch.indexer.cache import EmbeddingCache, text_key
from newsearch.indexer.corpus import Article, read_articles
from newsearch.indexer.encoders.model import resolve_model
from newsearch.indexer.encoders.sbert import Embedder
from newsearch.indexer.layout import IndexLayout
from newsearch.indexer.stories import (
    StoryConfig,
    assign_stories,
    candidate_pairs,
    encode_candidates,
    paragraph_texts,
    score_pair,
    word_shingles,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BEGIN, END = "<!-- stories:begin -->", "<!-- stories:end -->"


class CachedEncoder:
    """Paragraph encoder through the index's embedding cache (what the builder does)."""

    def __init__(self, index_dir: Path) -> None:
        self.model = resolve_model()
        self.embedder = Embedder(self.model)
        layout = IndexLayout(index_dir)
        layout.root.mkdir(parents=True, exist_ok=True)
        self.cache = EmbeddingCache(layout.cache_path, self.model.sha256, self.model.dim)

    def __call__(self, texts: list[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        unique = dict(zip(keys, texts, strict=True))
        known = self.cache.get_many(list(unique))
        missing = [k for k in unique if k not in known]
        for i in range(0, len(missing), 512):  # cache as we go: an interrupted run keeps them
            if i == 0:
                print(f"encoding {len(missing)} paragraphs (cached for next time) …", flush=True)
            chunk = missing[i : i + 512]
            vecs = self.embedder.encode([unique[k] for k in chunk])
            self.cache.put_many(chunk, vecs)
            known.update(zip(chunk, vecs, strict=True))
        return np.stack([known[k] for k in keys]) if keys else np.zeros((0, self.model.dim))


def pair_line(articles: list[Article], p) -> str:
    ali = "  -  " if p.alignment is None else f"{p.alignment:.3f}"
    a, b = articles[p.a], articles[p.b]
    return (
        f"| {p.jaccard:.3f} | {ali} | {a.id} {a.title[:38]!r} | {b.id} {b.title[:38]!r} | "
        f"{'yes' if p.same_story else 'no'} |"
    )


def control(paths: list[Path], config: StoryConfig, encode: CachedEncoder) -> str:
    arts = read_articles(paths).articles
    vecs = [encode(paragraph_texts(a)) for a in arts]
    shingles = [word_shingles(a) for a in arts]
    p = score_pair(0, 1, shingles, vecs, config)
    return f"jaccard {p.jaccard:.3f}, alignment {p.alignment or 0:.3f}, same story: {p.same_story}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", nargs="?", default=str(SHARED / "data" / "bbc"))
    ap.add_argument("--index-dir", default=str(REPO / "index_data" / "bbc"))
    ap.add_argument("--samples", type=int, default=6)
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = ap.parse_args()
    config = StoryConfig()
    index_dir = Path(args.index_dir)

    started = time.perf_counter()
    articles = read_articles([args.corpus]).articles
    shingles = [word_shingles(a) for a in articles]
    cands = candidate_pairs(shingles, config)
    lsh_s = time.perf_counter() - started
    encode = CachedEncoder(index_dir)
    # Score every candidate with both signals so that the report can show both distributions.
    everything = StoryConfig(copy_jaccard=2.0, rewrite_min_jaccard=0.0)
    vec_list = encode_candidates(articles, shingles, cands, encode, everything)
    scored = [score_pair(i, j, shingles, vec_list, everything) for i, j in cands]
    t0 = time.perf_counter()
    result = assign_stories(articles, encode, config)
    assign_s = time.perf_counter() - t0

    lines = [
        f"Corpus `{args.corpus}`: {len(articles)} articles; MinHash LSH (num_perm "
        f"{config.num_perm}, threshold {config.lsh_threshold}) found {len(cands)} candidate "
        f"pairs in {lsh_s:.1f}s; clustering took {assign_s:.1f}s.",
        "",
        f"Chosen: copy when word Jaccard >= {config.copy_jaccard}; rewrite when paragraph "
        f"alignment >= {config.rewrite_alignment} and Jaccard >= {config.rewrite_min_jaccard}.",
        "",
        f"**{result.clusters} story clusters** for {len(articles)} articles "
        f"({sum(p.same_story for p in result.pairs)} linked pairs; "
        f"{len(articles) - result.clusters} articles folded into another's story).",
        "",
        "Candidate pairs by word Jaccard and by alignment:",
        "",
        f"| Jaccard >= | pairs | of which alignment >= {config.rewrite_alignment} |",
        "|---|---|---|",
    ]
    for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        sel = [p for p in scored if p.jaccard >= t]
        ali = sum((p.alignment or 0) >= config.rewrite_alignment for p in sel)
        lines.append(f"| {t} | {len(sel)} | {ali} |")
    lines += ["", "| alignment >= | pairs (Jaccard >= 0.2) |", "|---|---|"]
    for t in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        n = sum((p.alignment or 0) >= t and p.jaccard >= 0.2 for p in scored)
        lines.append(f"| {t} | {n} |")

    rng = random.Random(0)

    def sample(title: str, pred) -> None:
        sel = [p for p in scored if pred(p)]
        rng.shuffle(sel)
        lines.extend(["", f"{title} ({len(sel)} pairs, up to {args.samples} shown):", ""])
        lines.append("| Jaccard | alignment | article | article | same story |")
        lines.append("|---|---|---|---|---|")
        for p in sorted(sel[: args.samples], key=lambda p: p.alignment or 0):
            q = score_pair(p.a, p.b, shingles, vec_list, config)
            lines.append(pair_line(articles, q))

    ra, cj = config.rewrite_alignment, config.copy_jaccard
    sample(
        f"Just above the alignment threshold ({ra} to {ra + 0.04:.2f}, Jaccard < {cj})",
        lambda p: ra <= (p.alignment or 0) < ra + 0.04 and 0.2 <= p.jaccard < cj,
    )
    sample(
        f"Just below the alignment threshold ({ra - 0.04:.2f} to {ra})",
        lambda p: ra - 0.04 <= (p.alignment or 0) < ra and 0.2 <= p.jaccard < cj,
    )
    sample(
        f"Just above the copy threshold (Jaccard {cj} to {cj + 0.1:.1f})",
        lambda p: cj <= p.jaccard < cj + 0.1,
    )
    sample(
        f"Just below the copy threshold (Jaccard {cj - 0.1:.1f} to {cj}), alignment below {ra}",
        lambda p: cj - 0.1 <= p.jaccard < cj and (p.alignment or 0) < ra,
    )
    seeds, demo = SHARED / "seeds", REPO / "demo" / "articles" / "business"
    lines += ["", "Positive controls (must be one story):", ""]
    if seeds.exists():
        lines.append(f"- seeds (two outlets' rewrites): {control([seeds], config, encode)}")
    pair = sorted(demo.glob("2026-05-02-harbour-rail-strike-*.txt"))
    lines.append(f"- demo harbour-rail-strike pair: {control(pair, config, encode)}")
    report = "\n".join(lines)
    print(report)
    if args.write:
        write_benchmarks(report)


def write_benchmarks(report: str) -> None:
    path = REPO / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = (
        f"{BEGIN}\n## Story clustering threshold\n\n"
        "Reproduce: `.venv/bin/python bench/story_threshold.py --write` "
        f"(load at run: `{Path('/proc/loadavg').read_text().strip()}`)\n\n{report}\n{END}"
    )
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
