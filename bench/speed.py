"""Speed benchmark: indexing throughput, query latency, shell-query start-up, vs a peer.

    .venv/bin/python bench/speed.py --corpus ../shared/data/bbc --name bbc \\
        [--seed-cache /path/to/embeddings.sqlite]

What it measures, on one corpus, in one run (``/proc/loadavg`` is recorded with every timing:
the machine is shared, and numbers taken under load are not comparable):

1. Encoder throughput on a sample of ~N paragraphs (default 500): the bare encoder a build
   uses (``document_encoder``: the ONNX export on a CPU) on exactly the texts the indexer
   embeds, against a full cold ``build_index`` of the same articles (parse, Whoosh, FAISS,
   docstore, embedding cache) with that encoder, both in one process with the model already
   loaded; sentence-transformers on the same texts for comparison; and the peak RSS of that
   process.
2. The full index: build time (the embedding cache may be seeded with ``--seed-cache`` so that
   the corpus is not re-embedded; the table says how many texts were embedded), peak RSS, size
   on disk.
3. Query latency in process over Q queries (default 200, half headlines, half paragraph
   sentences) for bm25 / dense / hybrid: p50 and p95.
4. ``newsearch query`` in a new process: median of R runs (default 10).
5. The same for the peer (``bench/peer.py``: bm25s + FAISS + RRF on the same paragraphs and
   vectors).

The table is printed and written into BENCHMARKS.md between markers for the corpus name.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from peer import PEER_K, Peer, build_peer  # noqa: E402

from newsearch.indexer import BuildOptions, Embedder, build_index, read_articles  # noqa: E402
from newsearch.indexer.corpus.sgml import DOCUMENT as SGML_DOC  # noqa: E402
from newsearch.indexer.docstore import Docstore  # noqa: E402
from newsearch.indexer.embedding import embedding_text  # noqa: E402
from newsearch.indexer.encoders import document_encoder  # noqa: E402
from newsearch.indexer.encoders.model import resolve_model  # noqa: E402
from newsearch.indexer.encoders.onnx import export_dir, export_onnx, open_encoder  # noqa: E402
from newsearch.indexer.encoders.windows import WindowSplitter  # noqa: E402
from newsearch.indexer.layout import VECTORS_FILE, IndexLayout  # noqa: E402
from newsearch.indexer.vectors import (  # noqa: E402
    HNSW_EF_SEARCH,
    HNSW_M,
    IVF_MIN_VECTORS,
    VectorIndex,
    write_index,
)
from newsearch.search import Searcher  # noqa: E402


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Row:
    what: str
    ours: str
    peer: str = ""
    load: str = ""


@dataclass
class Report:
    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, ours: str, peer: str = "", load: str | None = None) -> None:
        row = Row(what, ours, peer, load if load is not None else loadavg())
        self.rows.append(row)
        print(f"  {what:<52} {ours:>22} {peer:>22}   load {row.load}", flush=True)


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run_child(cmd: list[str], **kw) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds, peak RSS (bytes, of the largest child so far) and the result."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    out, err = proc.communicate()
    took = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # max over children
    return took, rss, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def peak_rss_of(cmd: list[str], **kw) -> tuple[float, int, subprocess.CompletedProcess]:
    """Like run_child, but the peak RSS of this child alone (GNU time, else rusage)."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    if Path(gnu_time).exists():
        took, _, proc = run_child([gnu_time, "-f", "MAXRSS_KB=%M", *cmd], **kw)
        m = re.search(r"MAXRSS_KB=(\d+)", proc.stderr)
        return took, int(m.group(1)) * 1024 if m else 0, proc
    return run_child(cmd, **kw)


# -- corpus sampling ----------------------------------------------------------------------


def sample_corpus(paths: list[Path], out: Path, paragraphs: int) -> tuple[Path, int]:
    """Every k-th article, ~``paragraphs`` paragraphs in all, written into ``out``: text
    articles as copies of their files, SGML articles as the same elements in a sample .sgm."""
    read = read_articles(paths)
    total = sum(len(a.paragraphs) for a in read.articles)
    step = max(1, round(total / max(1, paragraphs)))
    if out.exists():
        shutil.rmtree(out)
    chosen = 0
    sgml_ids: dict[Path, set[str]] = {}
    for a in read.articles[::step]:
        if chosen >= paragraphs:
            break
        src = Path(a.source_path)
        if src.suffix.lower() in {".sgm", ".sgml"}:
            sgml_ids.setdefault(src, set()).add(a.id.rsplit("#", 1)[1])
        elif src.suffix.lower() in {".jsonl", ".ndjson"}:
            raise SystemExit("sampling JSONL corpora is not supported yet")
        else:
            dest = out / a.id  # the id is the path relative to the corpus folder
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        chosen += len(a.paragraphs)
    for src, ids in sgml_ids.items():
        text = src.read_text(encoding="utf-8", errors="replace")
        kept = [
            m.group(0)
            for m in SGML_DOC.finditer(text)
            if (re.search(r'NEWID="([^"]*)"', m.group(1)) or [None, None])[1] in ids
        ]
        out.mkdir(parents=True, exist_ok=True)
        (out / src.name).write_text("\n".join(kept) + "\n", encoding="utf-8")
    return out, chosen


def _sample_dir(corpus: list[Path], work: Path, paragraphs: int) -> Path:
    """The sample's articles in one folder: ``sample_corpus``'s every k-th article, or with
    ``paragraphs`` 0 every article of ``corpus`` (linked, not copied)."""
    if paragraphs:
        return sample_corpus(corpus, work / "sample-corpus", paragraphs)[0]
    out = work / "whole-corpus"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for i, path in enumerate(corpus):
        (out / f"{i:03d}-{path.name}").symlink_to(path)
    return out


def embed_texts(corpus: Path, model) -> list[str]:
    """Exactly the texts the indexer embeds for ``corpus`` (windows, headline prefix)."""
    read = read_articles([corpus])
    splitter = WindowSplitter(model)
    rows = [(a, p) for a in read.articles for p in a.paragraphs]
    windows = splitter.split_many([p.full_text for _, p in rows])
    texts = [
        embedding_text("" if a.derived_title else a.title, w, True)
        for (a, _), ws in zip(rows, windows, strict=True)
        for w in ws
    ]
    return list(dict.fromkeys(texts))  # the indexer embeds each distinct text once


def sample_child(sample_dir: Path, sample_ix: Path, torch: bool = True) -> None:
    """In a new process (so its peak RSS is its own): model loaded and warmed up, then the bare
    encoder on exactly the texts the indexer embeds, then a cold build of the same articles
    with the same encoder. Prints one JSON line. CPU times are ``time.process_time`` (every
    thread of this process): the machine is shared, so wall time alone says little."""
    model = resolve_model()
    texts = embed_texts(sample_dir, model)
    torch_rate, load_torch = 0.0, ""
    if torch:
        torch_embedder = Embedder(model)
        torch_embedder.encode(texts[:32])  # warm up: model load and first-batch allocation
        load_torch = loadavg()
        t = time.perf_counter()
        torch_embedder.encode(texts)
        torch_rate = len(texts) / (time.perf_counter() - t)
    embedder = document_encoder(model, BuildOptions().device, BuildOptions().batch_size, int8=False)
    embedder.encode(texts[:32])
    load_bare = loadavg()
    t, c = time.perf_counter(), time.process_time()
    embedder.encode(texts)
    bare_wall, bare_cpu = time.perf_counter() - t, time.process_time() - c
    load_bare += f" -> {loadavg()}"
    shutil.rmtree(sample_ix, ignore_errors=True)
    load_build = loadavg()
    recording = RecordingEncoder(embedder)
    t, c = time.perf_counter(), time.process_time()
    built = build_index([sample_dir], sample_ix, BuildOptions(), embedder=recording)
    build_wall, build_cpu = time.perf_counter() - t, time.process_time() - c
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The bare encoder again, on exactly what the build asked it to encode, call by call
    # (windows and the story stage's paragraph texts): the build's own encoder work, timed
    # alone. ``replay_wall / build_wall`` is the share of the build the encoder accounts for.
    load_replay = after_build = loadavg()
    t, c = time.perf_counter(), time.process_time()
    for call in recording.calls:
        embedder.encode(call)
    replay_wall, replay_cpu = time.perf_counter() - t, time.process_time() - c
    load_replay += f" -> {loadavg()}"
    # Texts encoded for story clustering (paragraphs alone) are encoder work too.
    pipe_rate = (built.embedded + built.story_embedded) / build_wall
    result = {
        "texts": len(texts),
        "paragraphs": built.paragraphs,
        "embedded": built.embedded,
        "story_embedded": built.story_embedded,
        "encoder": type(embedder).__name__,
        "bare_rate": len(texts) / bare_wall,
        "bare_wall": bare_wall,
        "bare_cpu": bare_cpu,
        "torch_rate": torch_rate,
        "load_torch": load_torch,
        "pipe_rate": pipe_rate,
        "build_wall": build_wall,
        "build_cpu": build_cpu,
        "children_cpu": children.ru_utime + children.ru_stime,
        "load_bare": load_bare,
        "load_build": f"{load_build} -> {after_build}",
        "encoder_in_build_wall": recording.wall,
        "replay_texts": sum(len(c) for c in recording.calls),
        "replay_wall": replay_wall,
        "replay_cpu": replay_cpu,
        "load_replay": load_replay,
    }
    print(json.dumps(result))


class RecordingEncoder:
    """The build's encoder, remembering every list of texts it was asked to encode (so the
    bare encoder can be timed afterwards on exactly the build's encoder work)."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.calls: list[list[str]] = []
        #: Wall seconds spent inside the encoder during the build (same minutes as the
        #: build, so free of the machine's drift between phases, but slowed by whatever
        #: runs beside it, e.g. the keyword child process).
        self.wall = 0.0

    def encode(self, texts, *args, **kwargs):
        self.calls.append(list(texts))
        t = time.perf_counter()
        try:
            return self._inner.encode(texts, *args, **kwargs)
        finally:
            self.wall += time.perf_counter() - t

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def make_queries(corpus: list[Path], n: int, seed: int = 0) -> list[str]:
    """Half headlines, half the first sentence of a random paragraph."""
    read = read_articles(corpus)
    rng = random.Random(seed)
    titles = sorted({a.title for a in read.articles if len(a.title.split()) >= 2})
    sentences = []
    for a in read.articles:
        for p in a.paragraphs:
            s = re.split(r"(?<=[.!?])\s", p.text, maxsplit=1)[0]
            if 4 <= len(s.split()) <= 30:
                sentences.append(s)
    sentences = sorted(set(sentences))
    half = n // 2
    return rng.sample(titles, min(half, len(titles))) + rng.sample(
        sentences, min(n - half, len(sentences))
    )


# -- the benchmark ------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> Report:
    corpus = [Path(c).resolve() for c in args.corpus]
    work = Path(args.workdir).resolve() / args.name
    work.mkdir(parents=True, exist_ok=True)
    report = Report(args.name)
    model = resolve_model()
    export_onnx(model)  # one-off per machine; the builds below only check it
    python = sys.executable
    newsearch = str(Path(python).with_name("newsearch"))
    print(f"== {args.name}: {' '.join(map(str, corpus))}", flush=True)
    print(f"  {'measure':<52} {'newsearch':>22} {'peer':>22}", flush=True)

    if args.index:  # an index built before: time its queries only
        full_ix = Path(args.index).resolve()
        summary = {"embedded": 0}
        took = None
    else:
        # 1. encoder throughput on a sample: bare encoder and a cold build, in one new process
        sample_dir = _sample_dir(corpus, work, args.sample)
        sample_ix = work / "sample-index"
        child_cmd = [python, __file__, "--sample-child", str(sample_dir), str(sample_ix)]
        took, rss, proc = peak_rss_of(
            child_cmd + (["--no-torch"] if args.no_torch else []), cwd=REPO
        )
        if proc.returncode:
            raise SystemExit(proc.stderr)
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        bare_rate, pipe_rate = child["bare_rate"], child["pipe_rate"]
        if not args.no_torch:
            report.add(
                f"sample: sentence-transformers (torch), {child['texts']} texts (texts/s)",
                f"{child['torch_rate']:.1f}",
                "(what a peer embeds with)",
                load=child["load_torch"],
            )
        versus = f", {bare_rate / child['torch_rate']:.2f}x torch" if child["torch_rate"] else ""
        report.add(
            f"sample: bare build encoder ({child['encoder']}), {child['texts']} texts "
            "(texts/s; wall, CPU)",
            f"{bare_rate:.1f} ({child['bare_wall']:.1f} s, {child['bare_cpu']:.1f} s CPU{versus})",
            load=child["load_bare"],
        )
        report.add(
            f"sample: cold build of the same, {child['paragraphs']} paragraphs, "
            f"{child['embedded']} + {child.get('story_embedded', 0)} story texts "
            "(texts/s; wall, CPU)",
            f"{pipe_rate:.1f} ({pipe_rate / bare_rate:.1%} of bare; {child['build_wall']:.1f} s, "
            f"{child['build_cpu'] + child['children_cpu']:.1f} s CPU)",
            load=child["load_build"],
        )
        if "replay_wall" in child:
            report.add(
                f"sample: bare encoder replaying the build's {child['replay_texts']} texts, "
                "call by call (texts/s; wall, CPU)",
                f"{child['replay_texts'] / child['replay_wall']:.1f} "
                f"({child['replay_wall'] / child['build_wall']:.1%} of the build's wall; "
                f"{child['replay_wall']:.1f} s, {child['replay_cpu']:.1f} s CPU)",
                load=child["load_replay"],
            )
        if "encoder_in_build_wall" in child:
            inside = child["encoder_in_build_wall"]
            report.add(
                "sample: wall inside the encoder during that build (share of the build's wall)",
                f"{inside:.1f} s ({inside / child['build_wall']:.1%})",
                load="",
            )
        report.add("sample: that process's peak RSS (encoders, build)", mb(rss), load="")
        if args.throughput_only:
            return report

        # 2. the full index (embedding cache optionally seeded)
        full_ix = work / "index"
        shutil.rmtree(full_ix, ignore_errors=True)
        full_ix.mkdir(parents=True)
        if args.seed_cache:
            shutil.copyfile(args.seed_cache, IndexLayout(full_ix).cache_path)
        took, rss, proc = peak_rss_of(
            [newsearch, "index", *map(str, corpus), "-i", str(full_ix), "-q", "--json"]
        )
        if proc.returncode:
            raise SystemExit(proc.stderr)
        summary = json.loads(proc.stdout)
        report.add(
            f"full build: {summary['articles']} articles, {summary['paragraphs']} paragraphs",
            f"{took:.1f} s",
        )
        report.add(
            "full build: texts embedded (+ for stories) / reused from cache",
            f"{summary['embedded']} (+{summary.get('embedded_for_stories', 0)}) / "
            f"{summary['reused_embeddings']}",
            load="",
        )
        if summary["embedded"] == 0:
            import sqlite3

            with contextlib.closing(sqlite3.connect(IndexLayout(full_ix).cache_path)) as conn:
                cached = conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
            est = cached / pipe_rate
            report.notes.append(
                "The full build reused every vector from the seeded embedding cache; a cold "
                f"build embeds what that cache holds, {cached} texts ({summary['vectors']} for "
                "the index, the rest paragraphs alone for story clustering), i.e. about "
                f"{est / 60:.1f} min at the sample's {pipe_rate:.1f} texts/s, plus the "
                f"{took:.0f} s measured here."
            )
        report.add("full build: peak RSS", mb(rss), load="")
    layout = IndexLayout(full_ix)
    gen = layout.current()

    # 5a. the peer index on the same paragraphs and vectors
    import faiss

    store = Docstore(gen / "docstore.sqlite")
    pids, peer_texts = _paragraph_texts(store)
    index = faiss.read_index(str(gen / VECTORS_FILE))
    vids = faiss.vector_to_array(index.id_map).astype(np.int64)
    vecs = index.index.reconstruct_n(0, index.ntotal)
    peer_dir = full_ix.with_name(full_ix.name + "-peer")
    shutil.rmtree(peer_dir, ignore_errors=True)
    times = build_peer(peer_dir, pids, peer_texts, vids, vecs)
    if summary["embedded"]:  # time a rebuild that finds every vector in the cache
        warm, _, proc = run_child([newsearch, "index", *map(str, corpus), "-i", str(full_ix), "-q"])
        if proc.returncode:
            raise SystemExit(proc.stderr)
    else:
        warm = took
    report.add(
        "keyword + vector index build, embedding excluded (new process)",
        f"{warm:.1f} s" if warm is not None else "(not built in this run)",
        f"{times.bm25_s + times.faiss_s + times.save_s:.1f} s (in process)",
    )
    sizes = {
        "keyword": du(gen / "keyword"),
        "vectors": du(gen / VECTORS_FILE),
        "docstore": du(gen / "docstore.sqlite"),
    }
    report.add(
        "index size on disk (generation)",
        f"{mb(sum(sizes.values()))}",
        mb(du(peer_dir)),
        load="",
    )
    report.notes.append(
        "newsearch index size: "
        + ", ".join(f"{k} {mb(v)}" for k, v in sizes.items())
        + f"; plus the embedding cache {mb(du(layout.cache_path))} beside the generations and "
        f"the ONNX query encoder {mb(du(export_dir(model.sha256)))} (once per model, user cache)."
        " The peer stores text in neither index (bm25s keeps token ids only) and has no docstore."
    )

    # 3. in-process query latency
    queries = make_queries(corpus, args.queries)
    encoder = open_encoder(model, full_ix)
    peer = Peer(peer_dir, encoder)
    with Searcher(full_ix) as searcher:
        for q in queries[:5]:  # warm up: first Whoosh reader, ONNX session, page cache
            searcher.search(q, k=10, mode="hybrid")
            peer.hybrid(q)
        for mode in ("bm25", "dense", "hybrid"):
            ours, theirs = [], []
            load = loadavg()
            ours_cpu, theirs_cpu = [], []
            for q in queries:
                t, c = time.perf_counter(), time.process_time()
                searcher.search(q, k=10, mode=mode)
                ours.append((time.perf_counter() - t) * 1000)
                ours_cpu.append((time.process_time() - c) * 1000)
                t, c = time.perf_counter(), time.process_time()
                getattr(peer, mode)(q)
                theirs.append((time.perf_counter() - t) * 1000)
                theirs_cpu.append((time.process_time() - c) * 1000)
            report.add(
                f"query in process, {mode}, {len(queries)} queries: p50 / p95 (CPU p50)",
                f"{pct(ours, 50):.1f} / {pct(ours, 95):.1f} ms ({pct(ours_cpu, 50):.1f})",
                f"{pct(theirs, 50):.1f} / {pct(theirs, 95):.1f} ms ({pct(theirs_cpu, 50):.1f})",
                load=load,
            )
        # Like for like: ranked paragraph ids only, no page (no docstore, grouping, stories,
        # snippets), which is all the peer computes.
        # The last row fuses lists as deep as the peer's: the cost of the depth itself (the
        # product keeps 1000, which min-max fusion and paging need; see SearchConfig).
        full = min(searcher.config.candidates, max(1, searcher.meta.paragraphs))
        for mode, depth in (("bm25", full), ("hybrid", full), ("hybrid", PEER_K)):
            ours, theirs = [], []
            load = loadavg()
            ours_cpu, theirs_cpu = [], []
            for q in queries:
                t, c = time.perf_counter(), time.process_time()
                ranked_ids(searcher, q, mode, depth)
                ours.append((time.perf_counter() - t) * 1000)
                ours_cpu.append((time.process_time() - c) * 1000)
                t, c = time.perf_counter(), time.process_time()
                getattr(peer, mode)(q)
                theirs.append((time.perf_counter() - t) * 1000)
                theirs_cpu.append((time.process_time() - c) * 1000)
            what = (
                f"ids only, bm25, top {PEER_K}"
                if mode == "bm25"
                else f"ids only, hybrid, top {PEER_K} (ours fuses {depth} + {depth}, "
                f"peer RRF of {PEER_K} + {PEER_K})"
            )
            report.add(
                f"{what}: p50 / p95 (CPU p50)",
                f"{pct(ours, 50):.1f} / {pct(ours, 95):.1f} ms ({pct(ours_cpu, 50):.1f})",
                f"{pct(theirs, 50):.1f} / {pct(theirs, 95):.1f} ms ({pct(theirs_cpu, 50):.1f})",
                load=load,
            )

    # 3b. the vector index alone: exact (what this size gets) vs HNSW on the same vectors
    if not args.no_hnsw:
        hnsw_path = work / "hnsw.faiss"
        t = time.perf_counter()
        write_index(hnsw_path, model.dim, vids, vecs, kind="hnsw")
        hnsw_build = time.perf_counter() - t
        exact = VectorIndex(gen / VECTORS_FILE, model.dim)
        hnsw = VectorIndex(hnsw_path, model.dim)
        qvecs = [encoder.encode_query(q) for q in queries]
        recall, t_exact, t_hnsw = [], [], []
        load = loadavg()
        for q in qvecs:
            t = time.perf_counter()
            want = [pid for pid, _ in exact.ranked(q, 10)]
            t_exact.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            got = [pid for pid, _ in hnsw.ranked(q, 10)]
            t_hnsw.append((time.perf_counter() - t) * 1000)
            recall.append(len(set(want) & set(got)) / max(1, len(want)))
        report.add(
            f"vector search alone, exact vs HNSW (M={HNSW_M}, efSearch={HNSW_EF_SEARCH}): p50",
            f"exact {pct(t_exact, 50):.2f} ms",
            f"HNSW {pct(t_hnsw, 50):.2f} ms",
            load=load,
        )
        report.add(
            f"HNSW recall@10 vs exact, {len(qvecs)} queries (built in {hnsw_build:.1f} s)",
            f"{np.mean(recall):.3f}",
            load="",
        )
        report.notes.append(
            f"Indexes of {IVF_MIN_VECTORS:,}+ vectors are written as IVF-SQ8 "
            f"(`vector_index=auto`; bench/vectors_scale.py measures it); this corpus has "
            f"{len(vids):,}, so it is exact. The HNSW row is the same vectors in a graph index, "
            "what a peer would use; newsearch no longer writes HNSW (it cannot delete)."
        )

    # 4. a query in a new process
    ours, theirs = [], []
    load = loadavg()
    for q in queries[: args.runs]:
        took, _, proc = run_child([newsearch, "query", q, "-i", str(full_ix), "-k", "10"])
        if proc.returncode or "warning" in proc.stderr:
            raise SystemExit(f"newsearch query failed: {proc.stderr}")
        ours.append(took)
        took, _, proc = run_child([python, str(REPO / "bench" / "peer.py"), str(full_ix), q])
        if proc.returncode:
            raise SystemExit(f"peer query failed: {proc.stderr}")
        theirs.append(took)
    report.add(
        f"query in a new process (hybrid, median of {len(ours)}; min-max)",
        f"{statistics.median(ours):.2f} s ({min(ours):.2f}-{max(ours):.2f})",
        f"{statistics.median(theirs):.2f} s ({min(theirs):.2f}-{max(theirs):.2f})",
        load=f"{load} -> {loadavg()}",
    )
    return report


def ranked_ids(searcher: Searcher, query: str, mode: str, depth: int) -> list[int]:
    """The best ``PEER_K`` paragraph ids of a query as the searcher ranks them before it
    builds a page (``Searcher.candidates``): BM25 alone, or both candidate lists (``depth``
    each) fused."""
    if mode == "bm25":
        return searcher.candidates(query, PEER_K, mode="bm25").ids.tolist()
    return searcher.candidates(query, depth).ids[:PEER_K].tolist()


def _paragraph_texts(store: Docstore) -> tuple[list[int], list[str]]:
    """Every paragraph's text as both indexes see it, with its article's headline."""
    paragraphs = store.paragraphs(store.paragraph_ids())
    articles = store.articles({p.article_id for p in paragraphs.values()})
    out_pids, texts = [], []
    for pid in sorted(paragraphs):
        p = paragraphs[pid]
        a = articles.get(p.article_id)
        title = a.title if a else ""
        body = f"{p.context} {p.text}" if p.context else p.text
        out_pids.append(pid)
        texts.append(f"{title} {body}")
    return out_pids, texts


# -- output -------------------------------------------------------------------------------


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import onnxruntime
    import torch

    return (
        f"{cpu or platform.processor()}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"
    )


def markdown(report: Report, command: str) -> str:
    lines = [
        f"### Speed: {report.name}",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}.",
        "",
        f"Reproduce: `{command}`",
        "",
        "| measure | newsearch | peer (bm25s + FAISS + RRF) | loadavg 1/5/15 min |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {r.what} | {r.ours} | {r.peer} | {r.load} |" for r in report.rows]
    if report.notes:
        lines += ["", *[f"- {n}" for n in report.notes]]
    return "\n".join(lines) + "\n"


def write_benchmarks(path: Path, name: str, body: str) -> None:
    start, end = f"<!-- bench:speed:{name} -->", f"<!-- /bench:speed:{name} -->"
    block = f"{start}\n{body}{end}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        text = before + block + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--corpus", nargs="+", help="article folders or files (e.g. Reuters' reut2-*.sgm)"
    )
    parser.add_argument("--name", help="name of the section in BENCHMARKS.md")
    parser.add_argument("--seed-cache", help="embeddings.sqlite to start the full build from")
    parser.add_argument(
        "--index",
        help="time the queries of this index (built before) instead of building one: "
        "skips the sample and full builds",
    )
    parser.add_argument(
        "--sample", type=int, default=500, help="paragraphs in the sample (0: the whole corpus)"
    )
    parser.add_argument("--no-torch", action="store_true", help="skip the torch encoder row")
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="stop after the sample rows (bare encoder vs cold build): no full build, no queries",
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-hnsw", action="store_true", help="skip the exact vs HNSW rows")
    parser.add_argument("--runs", type=int, default=10, help="new-process queries")
    parser.add_argument("--workdir", default="/tmp/newsearch-bench")
    parser.add_argument("--output", default=str(REPO / "BENCHMARKS.md"))
    parser.add_argument("--sample-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sample_child:
        sample_child(Path(args.sample_child[0]), Path(args.sample_child[1]), not args.no_torch)
        return
    if not args.corpus or not args.name:
        parser.error("--corpus and --name are required")
    report = bench(args)
    command = "python bench/speed.py " + " ".join(sys.argv[1:])
    body = markdown(report, command)
    print()
    print(body)
    write_benchmarks(Path(args.output), args.name, body)


if __name__ == "__main__":
    main()
