"""Story clustering at wire-service scale and through incremental updates (issue 14).

Prints, and with ``--write`` puts into BENCHMARKS.md (section ``stories-scale``):

* BBC (real paragraph vectors, through an embedding cache): stories, the largest story,
  links by kind (copies, rewrites, pairs vetoed because their facts disagree);
* Reuters-21578 without the model: every candidate pair that the words and facts let through
  is taken to align (constant vectors), an upper bound on linking; stories, the largest
  story, the size distribution, and a bound on any story with the model's vectors: a story
  is a representative and articles linked to it, and this graph holds every real link, so
  no story outgrows a representative's neighbourhood; the neighbourhoods above
  ``--check-above`` are checked again with real paragraph vectors (a few hundred texts);
* the time story assignment adds to a full BBC build (cached vectors) and to a one-article
  update, in-process and as a new ``newsearch index`` process.

    .venv/bin/python bench/stories.py --cache PATH/embeddings.sqlite --write

``--cache``: an embedding cache of the BBC corpus (index texts and paragraphs alone), copied
into the work folder first; without one the BBC build encodes everything (~15,000 texts).
"""

from __future__ import annotations

import argparse
import collections
import glob
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from markdown_section import write_section

from newsearch.indexer import BuildOptions
from newsearch.indexer import story_state as state_mod
from newsearch.indexer.cache import EmbeddingCache
from newsearch.indexer.corpus import read_articles
from newsearch.indexer.embedding import embed_texts
from newsearch.indexer.encoders import document_encoder, resolve_model
from newsearch.indexer.layout import IndexLayout
from newsearch.indexer.progress import NoProgress
from newsearch.indexer.stories import (
    StoryAssignment,
    assign_stories,
    encode_articles,
    pair_alignments,
)
from newsearch.indexer.update import update_index

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SIZES = (1, 2, 3, 5, 10, 20, 50)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def kinds(result: StoryAssignment) -> str:
    counts = collections.Counter(p.kind or "no link" for p in result.pairs)
    return ", ".join(f"{k} {n:,}" for k, n in sorted(counts.items()))


def distribution(story_ids: list[str]) -> str:
    sizes = collections.Counter(collections.Counter(story_ids).values())
    cells, lo = [], 1
    for hi in (*SIZES, 10**9):
        n = sum(c for s, c in sizes.items() if lo <= s <= hi)
        label = f"{lo}" if lo == hi else (f"{lo}-{hi}" if hi < 10**9 else f"> {lo - 1}")
        cells.append(f"{label}: {n:,}")
        lo = hi + 1
    return "; ".join(cells)


def cached_encoder(cache_path: Path):
    model = resolve_model(None)
    cache = EmbeddingCache(cache_path, model.sha256, model.dim, model.precision)

    class Lazy:
        info = model
        real = None

        def encode(self, texts, progress=None):
            if self.real is None:
                self.real = document_encoder(model, device="cpu")
            return self.real.encode(texts, progress=progress)

    lazy = Lazy()
    return lambda texts: embed_texts(texts, lazy, cache, NoProgress())[0]


def bbc_clusters(corpus: Path, cache_path: Path) -> list[str]:
    articles = read_articles([corpus]).articles
    t0 = time.perf_counter()
    result = assign_stories(articles, cached_encoder(cache_path))
    seconds = time.perf_counter() - t0
    largest = collections.Counter(result.story_ids).most_common(1)[0][1]
    return [
        f"- BBC ({len(articles):,} articles): **{result.clusters:,} stories**, largest "
        f"{largest}; {sum(p.same_story for p in result.pairs)} linked pairs; pairs by kind: "
        f"{kinds(result)}; clustering {seconds:.1f} s (vectors cached; load {loadavg()})",
    ]


def reuters_clusters(corpus: Path, vectors_cache: Path, check_above: int) -> list[str]:
    paths = sorted(glob.glob(str(corpus / "reut2-*.sgm")))
    articles = read_articles(paths).articles

    def aligned(texts: list[str]) -> np.ndarray:  # every paragraph alike: alignment 1.0
        out = np.zeros((len(texts), 4), np.float32)
        out[:, 0] = 1.0
        return out

    t0 = time.perf_counter()
    result = assign_stories(articles, aligned)
    seconds = time.perf_counter() - t0
    reps = result.reps or []
    group = collections.Counter(reps)
    adjacent: dict[int, set[int]] = collections.defaultdict(set)
    rewrites: set[tuple[int, int]] = set()
    for p in result.pairs:
        if p.same_story and reps[p.a] == p.a and reps[p.b] == p.b:
            adjacent[p.a].add(p.b)
            adjacent[p.b].add(p.a)
            if p.alignment is not None:
                rewrites.add((p.a, p.b))

    def bound(n: int, linked: set[int]) -> int:
        return group[n] + sum(group[m] for m in linked)

    bounds = {n: bound(n, adjacent[n]) for n in adjacent}
    # The largest neighbourhoods again with the model's vectors (a few hundred texts).
    hubs = [n for n, b in bounds.items() if b > check_above]
    pairs = sorted({(min(n, m), max(n, m)) for n in hubs for m in adjacent[n]} & rewrites)
    need = np.unique(np.array(pairs, np.int64).reshape(-1, 2))
    vectors = encode_articles(articles, need, cached_encoder(vectors_cache))
    real = dict(zip(pairs, pair_alignments(vectors, np.array(pairs)).tolist(), strict=True))
    for n in hubs:
        kept = {m for m in adjacent[n] if real.get((min(n, m), max(n, m)), 1.0) >= 0.8}
        bounds[n] = bound(n, kept)
    top = collections.Counter(result.story_ids).most_common(3)
    return [
        f"- Reuters-21578 ({len(articles):,} articles), every pair the words and facts let "
        f"through taken to align: **{result.clusters:,} stories**, largest {top[0][1]} "
        f"({', '.join(f'{s} {n}' for s, n in top)}); pairs by kind: {kinds(result)}; "
        f"clustering {seconds:.0f} s (load {loadavg()})",
        f"- Reuters story sizes (articles: stories): {distribution(result.story_ids)}",
        f"- Bound on any Reuters story with the model's vectors: **{max(bounds.values())}** "
        f"(a representative, its identical copies and the groups linked to it; the "
        f"{len(hubs)} neighbourhoods above {check_above} re-checked with real paragraph "
        f"vectors, {len(need)} articles encoded)",
    ]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Timed:
    """Wraps a function of ``story_state`` and adds up the seconds spent in it."""

    def __init__(self, name: str) -> None:
        self.name, self.seconds, self.cpu = name, 0.0, 0.0
        self.real = getattr(state_mod, name)

    def __call__(self, *args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return self.real(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0
            self.cpu += time.process_time() - c0


def build_and_update(corpus: Path, cache: Path | None, work: Path, runs: int) -> list[str]:
    folder, ix = work / "bbc", work / "ix"
    shutil.copytree(corpus, folder)
    ix.mkdir()
    if cache is not None:
        shutil.copyfile(cache, IndexLayout(ix).cache_path)
    write = Timed("write_stories")  # the builder and apply look them up at each call
    state_mod.write_stories = write
    t0 = time.perf_counter()
    report = update_index([folder], ix, BuildOptions(export_onnx=False))
    build_s = time.perf_counter() - t0
    state_mod.write_stories = write.real

    target = folder / "business" / "114.txt"  # in a story (WorldCom testimony)
    original = target.read_text(encoding="utf-8")
    story_s, story_cpu, lib_s, cli_s, cli_cpu = [], [], [], [], []
    for i in range(runs):
        upd = Timed("update_stories")
        state_mod.update_stories = upd
        target.write_text(original + f"\n\nEdited {i}: a sentence added.\n", encoding="utf-8")
        t0 = time.perf_counter()
        r = update_index([folder], ix)
        lib_s.append(time.perf_counter() - t0)
        state_mod.update_stories = upd.real
        story_s.append(upd.seconds)
        story_cpu.append(upd.cpu)
        assert r.mode == "incremental" and r.stories is not None
        target.write_text(original + f"\n\nEdited {i}: a sentence changed.\n", encoding="utf-8")
        t0, c0 = time.perf_counter(), children_cpu()
        proc = subprocess.run(
            [sys.executable, "-m", "newsearch.cli.main", "index", str(folder), "-i", str(ix)],
            capture_output=True,
            text=True,
        )
        cli_s.append(time.perf_counter() - t0)
        cli_cpu.append(children_cpu() - c0)
        assert proc.returncode == 0, proc.stderr
    return [
        f"- Full BBC build (index vectors cached): {build_s:.1f} s, of which story "
        f"assignment (clustering + writing the story state) {write.seconds:.1f} s; "
        f"{report.stories:,} stories (load {loadavg()})",
        f"- One edited article (an article in a story), median of {runs}: story assignment "
        f"{statistics.median(story_s) * 1000:.0f} ms wall / "
        f"{statistics.median(story_cpu) * 1000:.0f} ms CPU of an in-process update of "
        f"{statistics.median(lib_s):.2f} s; a new `newsearch index` process "
        f"{statistics.median(cli_s):.2f} s wall, {statistics.median(cli_cpu):.2f} s CPU "
        f"(goal <= 2 s; load {loadavg()})",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bbc", type=Path, default=SHARED / "data" / "bbc")
    ap.add_argument("--reuters", type=Path, default=SHARED / "data" / "news-large" / "reuters21578")
    ap.add_argument("--cache", type=Path, help="embedding cache of the BBC corpus")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-reuters", action="store_true")
    ap.add_argument(
        "--check-above",
        type=int,
        default=30,
        help="re-check Reuters neighbourhoods larger than this with the model's vectors",
    )
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = ap.parse_args()
    lines: list[str] = [f"Load average at start: {loadavg()} (2 cores shared with others)."]
    with tempfile.TemporaryDirectory(prefix="bench-stories-") as tmp:
        work = Path(tmp)
        vectors = work / "vectors.sqlite"
        if args.cache is not None:
            shutil.copyfile(args.cache, vectors)
        lines += bbc_clusters(args.bbc, vectors)
        print("\n".join(lines), flush=True)
        if not args.skip_reuters:
            lines += reuters_clusters(args.reuters, vectors, args.check_above)
            print("\n".join(lines[-3:]), flush=True)
        lines += build_and_update(args.bbc, vectors, work, args.runs)
        print("\n".join(lines[-2:]), flush=True)
    body = "\n".join(
        [
            "## Stories at wire-service scale and through updates (`bench/stories.py`)",
            "",
            "Reproduce: `.venv/bin/python bench/stories.py --cache BBC_CACHE --write` "
            "(BBC_CACHE: the embeddings.sqlite of a BBC index).",
            "",
            *lines,
        ]
    )
    if args.write:
        write_section("stories-scale", body)
        print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
