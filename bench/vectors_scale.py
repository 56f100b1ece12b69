"""Vector index at scale: exact (``flat``) against IVF-SQ8 (and HNSW) at 100k and 1M vectors.

    .venv/bin/python bench/vectors_scale.py --sizes 100000,1000000 --nprobe 64,128,256,0 \\
        [--hybrid 1000000] [--write]

Construction (honest, and on the hard side for an approximate index):

- Real vectors first, each once (``--real-from``: embedding caches, copied before reading,
  or built indexes; all-MiniLM-L6-v2 paragraph windows). By default the Reuters cache of the
  shared cold build (stopped part way: 26,112 texts) and the BBC cache: 41,053 vectors.
- The rest are replicas: replica r of vector v is ``normalise(v + s * N(0, I))`` with ``s``
  chosen so that a replica's cosine to its original is ``--copy-cosine`` (default 0.8, about
  the median cosine of a real BBC paragraph to its nearest real neighbour), under a new
  paragraph id. Isotropic noise spreads the points more evenly than real text does, which
  makes k-means cells a worse fit than on real data (noise drawn from the data's own
  covariance instead gave the same recall within 0.006 at 100k).
- Queries are real: ``--queries`` texts (half headlines, half first sentences of paragraphs,
  as bench/speed.py picks them) from each ``--corpus``, encoded by the query encoder of
  ``--encoder-index``.
- Recall@10 is against exact search over the same vectors (the ``flat`` index of that size):
  the share of exact search's ten best paragraphs that the index also returns in its ten.
  ``recall@1000`` is the same for the 1000 candidates a hybrid query takes from each side.

Each step runs in a child process, so its peak RSS is its own: the build (``write_index`` of
the product, from vectors memory-mapped from disk), the queries (``VectorIndex`` as a query
process opens it, memory-mapped), and an update (the way ``indexer/apply.py`` does one: copy
the generation's FAISS file, then ``vectors.apply_changes`` removes one article's paragraphs
and adds as many new vectors, rewriting the file). ``--hybrid N``: ``Searcher`` hybrid
queries on a copy of ``--encoder-index`` whose FAISS index is swapped for an N-vector IVF-SQ8
one (see ``hybrid``: BM25 and the docstore stay at that index's size). ``/proc/loadavg`` is
recorded with every timing: the machine is shared, and numbers taken under load are not
comparable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

from newsearch.indexer import read_articles  # noqa: E402
from newsearch.indexer.layout import VECTORS_FILE, IndexLayout  # noqa: E402
from newsearch.indexer.vectors import (  # noqa: E402
    WINDOW_BITS,
    VectorIndex,
    apply_changes,
    ivf_cells,
    ivf_probes,
    write_index,
)

ARTICLE_PARAGRAPHS = 5  # Reuters: 104,931 paragraphs in 21,578 articles, ~5 per article


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def peak_rss() -> int:
    """This process's peak RSS (VmHWM: ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# -- data -------------------------------------------------------------------------------


def generation_of(index_dir: Path) -> Path:
    return index_dir / "generations" / (index_dir / "CURRENT").read_text().split()[0]


def real_vectors(sources: list[Path]) -> np.ndarray:
    """Real paragraph vectors: an index directory's (flat) FAISS file, or every fp32 vector in
    an embedding cache (``embeddings.sqlite``, copied first: never opened where it is written);
    the same text's vector once."""
    import faiss

    parts, seen = [], set()
    for src in sources:
        if src.is_dir():
            index = faiss.read_index(str(generation_of(src) / VECTORS_FILE))
            parts.append(faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal))
            continue
        with tempfile.TemporaryDirectory() as tmp:
            for f in src.parent.glob(src.name + "*"):  # the database and its WAL
                shutil.copyfile(f, Path(tmp) / f.name)
            with contextlib.closing(sqlite3.connect(Path(tmp) / src.name)) as conn:
                rows = conn.execute("SELECT key, vector FROM embeddings").fetchall()
        fresh = [np.frombuffer(v, dtype=np.float32) for k, v in rows if k not in seen]
        seen.update(k for k, _ in rows)
        parts.append(np.stack([v for v in fresh if len(v) == len(fresh[0])]))
    return np.concatenate(parts).astype(np.float32)


def make_queries(corpus: Path, n: int, seed: int = 0) -> list[str]:
    """Half headlines, half the first sentence of a random paragraph (as bench/speed.py)."""
    read = read_articles([corpus])
    rng = random.Random(seed)
    titles = sorted({a.title for a in read.articles if len(a.title.split()) >= 2})
    sentences = set()
    for a in read.articles:
        for p in a.paragraphs:
            s = re.split(r"(?<=[.!?])\s", p.text, maxsplit=1)[0]
            if 4 <= len(s.split()) <= 30:
                sentences.add(s)
    half = n // 2
    return rng.sample(titles, min(half, len(titles))) + rng.sample(
        sorted(sentences), min(n - half, len(sentences))
    )


def query_vectors(index_dir: Path, corpora: list[Path], n: int, work: Path) -> np.ndarray:
    """``n`` real queries, as many from each corpus, encoded by ``index_dir``'s encoder."""
    path = work / "queries.npy"
    if path.exists():
        return np.load(path)
    from newsearch.indexer.encoders import query_encoder

    layout = IndexLayout(index_dir)
    encoder = query_encoder(layout.read_meta(generation_of(index_dir)).model, index_dir)
    texts = [t for c in corpora for t in make_queries(c, n // len(corpora))]
    q = np.stack([encoder.encode_query(t) for t in texts]).astype(np.float32)
    np.save(path, q)
    return q


def make_data(
    x0: np.ndarray, size: int, cosine: float, work: Path, ids0=None, name: str = ""
) -> Path:
    """``size`` vectors (the real ones, then perturbed replicas) in work/data-SIZE.npy, their
    ids in work/ids-SIZE.npy; written once, memory-mapped by the children."""
    data, idf = work / f"data-{name}{size}.npy", work / f"ids-{name}{size}.npy"
    if data.exists() and idf.exists():
        return data
    n0, dim = x0.shape
    sigma = np.sqrt((1 / cosine**2 - 1) / dim)  # |noise|^2 ~ dim * sigma^2
    if ids0 is None:
        ids0 = np.arange(n0, dtype=np.int64) << WINDOW_BITS  # real vector i: paragraph i
    stride = int(ids0.max() >> WINDOW_BITS) + 1  # replica r of paragraph p: p + r * stride
    out = np.lib.format.open_memmap(data, mode="w+", dtype=np.float32, shape=(size, dim))
    ids = np.empty(size, dtype=np.int64)
    done, r = 0, 0
    while done < size:
        take = min(n0, size - done)
        if r == 0:
            chunk = x0[:take]
        else:
            noise = np.random.default_rng(r).standard_normal((take, dim), dtype=np.float32)
            chunk = x0[:take] + sigma * noise
            chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        out[done : done + take] = chunk
        ids[done : done + take] = ids0[:take] + ((r * stride) << WINDOW_BITS)
        done += take
        r += 1
    out.flush()
    del out
    np.save(idf, ids)
    return data


# -- the children -------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """One measured step in its own process; prints one JSON line."""
    out: dict = {}
    if args.child == "build":
        x = np.load(args.data, mmap_mode="r")
        ids = np.load(str(args.data).replace("data-", "ids-"))
        t = time.perf_counter()
        write_index(Path(args.index), x.shape[1], ids, x, kind=args.kind)
        out["seconds"] = time.perf_counter() - t
    elif args.child == "query":
        q = np.load(args.qfile)
        t = time.perf_counter()
        index = VectorIndex(Path(args.index), q.shape[1], nprobe=args.probe or None)
        out["open_ms"] = (time.perf_counter() - t) * 1000
        out["kind"] = index.kind
        out["top10"], out["top1000"], out["ms10"], out["ms1000"] = [], [], [], []
        for v in q:
            t = time.perf_counter()
            hits = index.ranked(v, 10)
            out["ms10"].append((time.perf_counter() - t) * 1000)
            out["top10"].append([p for p, _ in hits])
            t = time.perf_counter()
            hits = index.ranked(v, 1000)  # what a hybrid query asks of each side
            out["ms1000"].append((time.perf_counter() - t) * 1000)
            out["top1000"].append([p for p, _ in hits])
    elif args.child == "hybrid":
        from newsearch.search import Searcher

        texts = json.loads(Path(args.qfile).read_text())
        with Searcher(args.index) as searcher:
            searcher.search(texts[0], k=10)  # load the encoder and the indexes first
            # Hybrid only: in dense mode nearly all hits are paragraphs the docstore lacks
            # (see ``hybrid``), so the searcher digs deeper than it would on a real index.
            out["hybrid"] = []
            for t in texts:
                start = time.perf_counter()
                searcher.search(t, k=10, mode="hybrid")
                out["hybrid"].append((time.perf_counter() - start) * 1000)
    elif args.child == "update":
        import faiss  # noqa: F401  (imported before the clock starts: a cost paid once)

        x = np.load(args.data, mmap_mode="r")
        ids = np.load(str(args.data).replace("data-", "ids-"))
        rng = np.random.default_rng(args.seed)
        published, copy = Path(args.index), Path(args.index).with_suffix(".update")
        # One article: ARTICLE_PARAGRAPHS paragraphs out (real ones), as many new in.
        start = int(rng.integers(0, 1000)) * ARTICLE_PARAGRAPHS
        drop = np.unique(ids[start : start + ARTICLE_PARAGRAPHS] >> WINDOW_BITS)
        new_vecs = np.asarray(x[start : start + ARTICLE_PARAGRAPHS]) + 0.01
        new_vecs /= np.linalg.norm(new_vecs, axis=1, keepdims=True)
        new_ids = (int(ids.max() >> WINDOW_BITS) + 1 + np.arange(len(new_vecs))) << WINDOW_BITS
        t = time.perf_counter()
        shutil.copyfile(published, copy)  # copy_generation copies the FAISS file
        out["copy_s"] = time.perf_counter() - t
        t = time.perf_counter()
        n = apply_changes(copy, drop.tolist(), new_ids, new_vecs.astype(np.float32))
        out["apply_s"] = time.perf_counter() - t
        check = VectorIndex(copy, x.shape[1])
        got = {p for p, _ in check.ranked(new_vecs[0], 3)}
        out["found_new"] = int(new_ids[0] >> WINDOW_BITS) in got
        out["dropped"] = int(len(ids) + len(new_ids) - n)
        copy.unlink()
    out["rss"] = peak_rss()
    print(json.dumps(out))


def run_child(args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"child {args[:2]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the benchmark ------------------------------------------------------------------------


def recall(got: list[list[int]], want: list[list[int]]) -> float:
    return float(
        np.mean([len(set(g) & set(w)) / max(1, len(w)) for g, w in zip(got, want, strict=True)])
    )


def bench(args: argparse.Namespace) -> list[dict]:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    x0 = real_vectors([Path(p) for p in args.real_from.split(",")])
    args.real = len(x0)
    corpora = [Path(p) for p in args.corpus.split(",")]
    qv = query_vectors(Path(args.encoder_index), corpora, args.queries, work)
    print(f"{len(x0):,} real vectors, {len(qv)} queries", flush=True)
    rows: list[dict] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        data = make_data(x0, size, args.copy_cosine, work)
        exact: dict | None = None
        for kind in args.kinds.split(","):
            if kind == "hnsw" and size > args.hnsw_max:
                continue
            path = work / f"{size}-{kind}.faiss"
            load = loadavg()
            built = run_child(
                ["--child", "build", "--kind", kind, "--data", str(data), "--index", str(path)]
            )
            nprobes = [int(n) for n in args.nprobe.split(",")] if kind == "ivf-sq8" else [0]
            default = ivf_probes(ivf_cells(size))
            for nprobe in nprobes:
                qload = loadavg()
                q = run_child(
                    [
                        "--child",
                        "query",
                        "--index",
                        str(path),
                        "--qfile",
                        str(work / "queries.npy"),
                        "--probe",
                        str(nprobe),
                    ]
                )
                if kind == "flat":
                    exact = q
                row = {
                    "size": size,
                    "kind": kind
                    + (f" nprobe={nprobe or default}" if kind == "ivf-sq8" else "")
                    + (" (default)" if kind == "ivf-sq8" and nprobe in (0, default) else ""),
                    "build_s": built["seconds"],
                    "build_rss": built["rss"],
                    "build_load": load,
                    "bytes": path.stat().st_size,
                    "open_ms": q["open_ms"],
                    "p50_10": pct(q["ms10"], 50),
                    "p95_10": pct(q["ms10"], 95),
                    "p50_1000": pct(q["ms1000"], 50),
                    "p95_1000": pct(q["ms1000"], 95),
                    "query_rss": q["rss"],
                    "query_load": qload,
                    "recall10": recall(q["top10"], exact["top10"]) if exact else float("nan"),
                    "recall1000": recall(q["top1000"], exact["top1000"]) if exact else float("nan"),
                }
                if nprobe in (0, default) and kind != "hnsw":  # HNSW cannot delete
                    ups = [
                        run_child(
                            [
                                "--child",
                                "update",
                                "--index",
                                str(path),
                                "--data",
                                str(data),
                                "--seed",
                                str(s),
                            ]
                        )
                        for s in range(args.updates)
                    ]
                    assert all(u["found_new"] and u["dropped"] > 0 for u in ups), ups
                    row["copy_s"] = float(np.median([u["copy_s"] for u in ups]))
                    row["apply_s"] = float(np.median([u["apply_s"] for u in ups]))
                    row["update_rss"] = max(u["rss"] for u in ups)
                    row["update_load"] = loadavg()
                rows.append(row)
                print(json.dumps(row), flush=True)
            if not args.keep and kind != "flat":
                path.unlink()
        if not args.keep:
            (work / f"{size}-flat.faiss").unlink(missing_ok=True)
    return rows


def hybrid(args: argparse.Namespace) -> list[dict]:
    """Hybrid queries through ``Searcher`` on a copy of a real index (Whoosh, docstore, meta
    as built) twice: with its own exact FAISS index, then with an IVF-SQ8 index of
    ``--hybrid`` vectors in which the index's own vectors keep their paragraph ids and all
    the others (real vectors of other corpora, replicas) are paragraphs the docstore does not
    hold, so that they compete in the vector search and are dropped when hits are grouped."""
    import faiss

    work = Path(args.work)
    src = Path(args.encoder_index)
    gen_src = generation_of(src)
    ix = work / "hybrid-index"
    shutil.rmtree(ix, ignore_errors=True)
    shutil.copytree(
        gen_src,
        ix / "generations" / gen_src.name,
        ignore=shutil.ignore_patterns("*.lock", "*WRITELOCK"),
    )
    (ix / "CURRENT").write_text(gen_src.name + "\n")
    gen = ix / "generations" / gen_src.name
    own = faiss.read_index(str(gen / VECTORS_FILE))
    x_own = faiss.downcast_index(own.index).reconstruct_n(0, own.ntotal)
    ids_own = faiss.vector_to_array(own.id_map).astype(np.int64)
    others = [Path(p) for p in args.real_from.split(",") if Path(p).resolve() != src.resolve()]
    others = [p for p in others if p.parent.resolve() != src.resolve()]
    x_other = real_vectors(others)
    first_other = (int(ids_own.max() >> WINDOW_BITS) + 1) << WINDOW_BITS
    ids0 = np.concatenate([ids_own, first_other + (np.arange(len(x_other)) << WINDOW_BITS)])
    data = make_data(
        np.concatenate([x_own, x_other]),
        args.hybrid,
        args.copy_cosine,
        work,
        ids0=ids0,
        name="hybrid-",
    )
    texts = [t for c in args.corpus.split(",")[-1:] for t in make_queries(Path(c), args.queries)]
    (work / "hybrid-queries.json").write_text(json.dumps(texts))
    rows = []
    for label in (f"{len(ids_own):,} vectors, exact (as built)", f"{args.hybrid:,}, ivf-sq8"):
        if "ivf" in label:
            run_child(
                [
                    "--child",
                    "build",
                    "--kind",
                    "ivf-sq8",
                    "--data",
                    str(data),
                    "--index",
                    str(gen / VECTORS_FILE),
                ]
            )
            meta = json.loads((gen / "meta.json").read_text())
            meta["vectors"] = args.hybrid
            (gen / "meta.json").write_text(json.dumps(meta))
        load = loadavg()
        out = run_child(
            ["--child", "hybrid", "--index", str(ix), "--qfile", str(work / "hybrid-queries.json")]
        )
        row = {"index": label, "load": load, "rss": out["rss"]}
        row["hybrid"] = (pct(out["hybrid"], 50), pct(out["hybrid"], 95))
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def hybrid_markdown(rows: list[dict], args: argparse.Namespace, command: str) -> str:
    lines = [
        "",
        "#### Hybrid queries with a million-vector FAISS index",
        "",
        f"Reproduce: `{command}`",
        "",
        "| FAISS index of the query's generation | hybrid p50 / p95 "
        "| query process peak RSS | loadavg 1/5/15 min |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['index']} | {r['hybrid'][0]:.1f} / {r['hybrid'][1]:.1f} ms "
            f"| {gb(r['rss'])} | {r['load']} |"
        )
    lines += [
        "",
        f"- What is real: `Searcher.search(q, k=10)` end to end (query encoder, Whoosh BM25F, "
        f"FAISS, fusion, grouping, snippets) on a copy of `{args.encoder_index}`, "
        f"{args.queries} of its corpus's queries. What is not: its Whoosh index and docstore "
        "stay at that corpus's size, so BM25 is not timed at 1M paragraphs (issue 15 part 1 "
        "is about BM25); the FAISS index holds the index's own vectors under their own ids "
        "plus other real vectors and replicas under paragraph ids the docstore does not hold, "
        "which compete in the vector search and are dropped when hits are grouped (dense "
        "mode is not timed: with 99 % of its hits dropped it digs far deeper than on a real "
        "index).",
    ]
    return "\n".join(lines) + "\n"


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def markdown(rows: list[dict], args: argparse.Namespace, command: str) -> str:
    lines = [
        "### Vectors at scale: exact vs IVF-SQ8 (issue 15, part 2)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on 2 shared cores "
        "(other engineers' jobs running: see the load averages).",
        "",
        f"Reproduce: `{command}`",
        "",
        "| vectors | index | build | build peak RSS | size | vector p50 / p95, 10 paragraphs "
        "| p50 / p95, 1000 (hybrid) | recall@10 vs exact | recall@1000 | query peak RSS "
        "| update: copy + apply | loadavg (build / query / update) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        upd = f"{r['copy_s']:.2f} + {r['apply_s']:.2f} s" if "apply_s" in r else "(same file)"
        if r["kind"] == "hnsw":
            upd = "cannot delete: rebuild"
        lines.append(
            f"| {r['size']:,} | {r['kind']} | {r['build_s']:.1f} s | {gb(r['build_rss'])} "
            f"| {gb(r['bytes'])} | {r['p50_10']:.2f} / {r['p95_10']:.2f} ms "
            f"| {r['p50_1000']:.2f} / {r['p95_1000']:.2f} ms | {r['recall10']:.3f} "
            f"| {r['recall1000']:.3f} | {gb(r['query_rss'])} | {upd} "
            f"| {r['build_load']} / {r['query_load']} / {r.get('update_load', '')} |"
        )
    lines += [
        "",
        f"- Vectors: the {args.real:,} real vectors of `{args.real_from}`, then replicas at "
        f"cosine {args.copy_cosine} to their original (Gaussian noise, renormalised); "
        f"{args.queries} real queries from `{args.corpus}`; see the module docstring.",
        f"- IVF cells: ~sqrt(n) ({', '.join(f'{ivf_cells(r):,}' for r in args.size_list)}), "
        f"default nprobe {', '.join(str(ivf_probes(ivf_cells(r))) for r in args.size_list)}; "
        "p50/p95 are one query at a time on one thread; `query peak RSS` is the whole process "
        "(Python, numpy, FAISS, the memory-mapped index) after all queries.",
        "- Update: one article (5 paragraphs) removed and 5 new vectors added, the way "
        "`indexer/apply.py` does it (copy the FAISS file into the new generation, then "
        f"`vectors.apply_changes`), median of {args.updates}.",
    ]
    return "\n".join(lines) + "\n"


def write_benchmarks(path: Path, body: str) -> None:
    start, end = "<!-- bench:vectors-scale -->", "<!-- /bench:vectors-scale -->"
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
        "--real-from",
        default="/work/scratch/reuters/embeddings.sqlite,/work/scratch/bbc/embeddings.sqlite",
        help="comma-separated built indexes or embedding caches: the real vectors",
    )
    parser.add_argument(
        "--corpus",
        default=f"{SHARED}/data/news-large/reuters21578,{SHARED}/data/bbc",
        help="comma-separated corpora the queries come from",
    )
    parser.add_argument(
        "--encoder-index", default="/work/scratch/bbc", help="an index: its query encoder"
    )
    parser.add_argument("--sizes", default="100000,1000000", help="'' to skip")
    parser.add_argument("--kinds", default="flat,ivf-sq8")
    parser.add_argument(
        "--nprobe", default="64,128,256,0", help="cells scanned; 0: the product's default"
    )
    parser.add_argument("--hnsw-max", type=int, default=200_000, help="HNSW only up to this")
    parser.add_argument("--copy-cosine", type=float, default=0.8)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--work", default="/tmp/vectors-scale")
    parser.add_argument("--keep", action="store_true", help="keep the index files")
    parser.add_argument("--write", action="store_true", help="write BENCHMARKS.md")
    parser.add_argument(
        "--hybrid",
        type=int,
        default=0,
        help="also time hybrid queries on a copy of --encoder-index whose FAISS index has "
        "this many vectors (its own, then the other real ones, then replicas)",
    )
    parser.add_argument(
        "--child", choices=["build", "query", "update", "hybrid"], help=argparse.SUPPRESS
    )
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--index", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--qfile", help=argparse.SUPPRESS)
    parser.add_argument("--probe", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    rows = bench(args) if args.sizes else []
    hybrid_rows = hybrid(args) if args.hybrid else []
    args.size_list = [int(s) for s in args.sizes.split(",") if s]
    command = "python bench/vectors_scale.py " + " ".join(sys.argv[1:])
    body = markdown(rows, args, command) if rows else ""
    if hybrid_rows:
        body += hybrid_markdown(hybrid_rows, args, command)
    print(body)
    if args.write:
        write_benchmarks(REPO / "BENCHMARKS.md", body)


if __name__ == "__main__":
    main()
