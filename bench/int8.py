"""int8 vs fp32 encoding: throughput on the same texts and SciFact test quality, in one run.

    .venv/bin/python bench/int8.py [--dataset ../shared/data/beir/scifact] [--texts 500] \\
        [--fp32-index index_data/eval-scifact] [--int8-index index_data/eval-scifact-int8] \\
        [--seed-cache path/to/fp32/embeddings.sqlite] [--skip-scifact] [--write]

1. Throughput: a fixed sample (seed 0) of the texts the indexer embeds for the SciFact
   corpus (windows with their title), encoded by: sentence-transformers fp32 (length-sorted
   batches of 32, torch on every core: what a ``--device cuda`` build runs, and what a CPU
   build ran before the ONNX document encoder), the fp32 ONNX export (``newsearch index`` on a
   CPU: one text per run, one worker thread per core), and the int8 graph run the same way
   (``newsearch index --int8``). The sample is cut into chunks and each chunk
   goes through all three in rotating order, so load changes hit them alike; the load average
   is recorded around every run. Also: cosine of each to the sentence-transformers vectors.
2. Quality: ``newsearch eval DATASET --split test`` on an fp32 and on an int8 index of the
   same corpus (each built first when missing; ``--seed-cache`` copies an fp32 embedding cache
   into a missing fp32 index so it is not re-encoded). SciFact test is scored once per
   configuration: nothing here is tuned on it.

Prints the tables; ``--write`` puts them into BENCHMARKS.md (section ``int8``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from markdown_section import write_section

from newsearch.indexer import Embedder, resolve_model
from newsearch.indexer.corpus import read_articles
from newsearch.indexer.embedding import embedding_text
from newsearch.indexer.encoders.int8 import INT8, INT8_MODEL_FILE, QUANTIZATION
from newsearch.indexer.encoders.onnx import OnnxEncoder
from newsearch.indexer.encoders.windows import WindowSplitter

REPO = Path(__file__).resolve().parents[1]
CHUNKS = 5


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def sample_texts(corpus: Path, n: int, model) -> list[str]:
    read = read_articles([corpus])
    rows = [(a, p) for a in read.articles for p in a.paragraphs]
    windows = WindowSplitter(model).split_many([p.full_text for _, p in rows])
    texts = [
        embedding_text("" if a.derived_title else a.title, w, True)
        for (a, _), ws in zip(rows, windows, strict=True)
        for w in ws
    ]
    unique = list(dict.fromkeys(texts))
    return random.Random(0).sample(unique, min(n, len(unique)))


def throughput(corpus: Path, n: int) -> dict:
    model = resolve_model()
    texts = sample_texts(corpus, n, model)
    encoders = {
        "fp32 sentence-transformers (`--device cuda` builds)": Embedder(model),
        "fp32 ONNX (`newsearch index` on a CPU)": OnnxEncoder(model),
        "int8 ONNX (`newsearch index --int8`)": OnnxEncoder(model, INT8),
    }
    for enc in encoders.values():
        enc.encode(texts[:8])  # load and warm up outside the timings
    names = list(encoders)
    seconds = dict.fromkeys(names, 0.0)
    per_chunk: dict[str, list[float]] = {name: [] for name in names}
    loads: list[str] = []
    vectors = {name: np.zeros((len(texts), model.dim), np.float32) for name in names}
    bounds = np.linspace(0, len(texts), CHUNKS + 1).astype(int)
    for c in range(CHUNKS):
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        chunk = texts[lo:hi]
        for name in names[c % len(names) :] + names[: c % len(names)]:
            before = loadavg()
            t = time.perf_counter()
            vectors[name][lo:hi] = encoders[name].encode(chunk)
            took = time.perf_counter() - t
            seconds[name] += took
            per_chunk[name].append(len(chunk) / took)
            loads.append(f"{before} -> {loadavg()}")
            print(
                f"  chunk {c + 1}/{CHUNKS} {name:<48} {len(chunk) / took:6.1f} texts/s", flush=True
            )
    ref = vectors[names[0]]
    rows = []
    for name in names:
        cos = (vectors[name] * ref).sum(axis=1)
        rows.append(
            {
                "encoder": name,
                "rate": len(texts) / seconds[name],
                "chunk_rates": per_chunk[name],
                "cos_min": float(cos.min()),
                "cos_p5": float(np.percentile(cos, 5)),
                "cos_mean": float(cos.mean()),
            }
        )
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model.path) / "tokenizer.json"))
    tokens = [min(len(e.ids), model.max_seq_length) for e in tok.encode_batch(texts)]
    ratios = [i8 / fp for i8, fp in zip(per_chunk[names[2]], per_chunk[names[1]], strict=True)]
    return {
        "texts": len(texts),
        "mean_tokens": statistics.mean(tokens),
        "rows": rows,
        "int8_over_fp32_per_chunk": ratios,
        "loads": loads,
        "load_first": loads[0].split(" -> ")[0],
        "load_last": loads[-1].split(" -> ")[1],
    }


def newsearch(*args: str) -> tuple[dict, float, str, str]:
    exe = Path(sys.executable).with_name("newsearch")
    before = loadavg()
    t = time.perf_counter()
    done = subprocess.run([str(exe), *args], check=True, capture_output=True, text=True)
    return json.loads(done.stdout), time.perf_counter() - t, before, loadavg()


def scifact(args: argparse.Namespace) -> dict:
    corpus = args.dataset / "corpus.jsonl"
    out = {}
    for label, index_dir, flag in (
        ("fp32", args.fp32_index, "--fp32"),
        ("int8", args.int8_index, "--int8"),
    ):
        built = None
        if not (index_dir / "CURRENT").is_file():
            if label == "fp32" and args.seed_cache:
                index_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(args.seed_cache, index_dir / "embeddings.sqlite")
            report, took, before, after = newsearch(
                "index", str(corpus), "-i", str(index_dir), flag, "--json", "-q"
            )
            built = {"report": report, "seconds": took, "load": f"{before} -> {after}"}
            print(f"  built {label}: {report['embedded']} embedded, {took:.0f}s", flush=True)
        cmd = ["eval", str(args.dataset), "--split", "test", "--index-dir", str(index_dir)]
        cmd += [flag, "--json", "-q"]
        report, took, before, after = newsearch(*cmd)
        out[label] = {
            "eval": report,
            "seconds": took,
            "load": f"{before} -> {after}",
            "built": built,
            "command": "newsearch " + " ".join(_rel(c) for c in cmd),
        }
        for r in report["results"]:
            print(f"  {label} {r['mode']:<7} nDCG@10 {r['metrics']['ndcg@10']:.4f}", flush=True)
    return out


def _rel(arg: str) -> str:
    if arg.startswith(str(REPO.parent)):
        return os.path.relpath(arg, REPO)
    return arg


def machine() -> str:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    import onnxruntime
    import torch

    return (
        f"{cpu or platform.processor()}, {os.cpu_count()} cores (AVX2, no AVX-512 VNNI); "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"onnxruntime {onnxruntime.__version__}"
    )


def markdown(tp: dict | None, sf: dict | None, command: str) -> str:
    lines = [
        "## int8 encoder (`newsearch index --int8`): speed and quality against fp32",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}. "
        f"Quantization: onnxruntime `quantize_dynamic` {QUANTIZATION}, file "
        f"`{INT8_MODEL_FILE}` beside the fp32 export.",
        "",
        "```",
        command,
        "```",
    ]
    if tp:
        lines += [
            "",
            f"Encoding throughput, the same {tp['texts']} SciFact texts (mean "
            f"{tp['mean_tokens']:.0f} tokens) through each encoder, in {CHUNKS} interleaved "
            f"chunks; load average {tp['load_first']} at the start, {tp['load_last']} at the "
            "end:",
            "",
            "| encoder | texts/s | per chunk | cosine to fp32 s-t: min / p5 / mean |",
            "|---|---|---|---|",
        ]
        for r in tp["rows"]:
            chunks = ", ".join(f"{x:.1f}" for x in r["chunk_rates"])
            lines.append(
                f"| {r['encoder']} | {r['rate']:.1f} | {chunks} | "
                f"{r['cos_min']:.4f} / {r['cos_p5']:.4f} / {r['cos_mean']:.4f} |"
            )
        ratios = tp["int8_over_fp32_per_chunk"]
        lines += [
            "",
            f"int8 / fp32 ONNX (the default), chunk by chunk: median "
            f"{statistics.median(ratios):.2f}x (range {min(ratios):.2f}-{max(ratios):.2f}). "
            "Load around each run: " + "; ".join(tp["loads"]) + ".",
        ]
    if sf:
        lines += [
            "",
            "SciFact test (300 queries), each configuration scored once:",
            "",
            "| mode | fp32 nDCG@10 | int8 nDCG@10 | int8 - fp32 | fp32 R@100 | int8 R@100 | "
            "fp32 MRR@10 | int8 MRR@10 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        fp32 = {r["mode"]: r["metrics"] for r in sf["fp32"]["eval"]["results"]}
        int8 = {r["mode"]: r["metrics"] for r in sf["int8"]["eval"]["results"]}
        for mode in fp32:
            a, b = fp32[mode], int8[mode]
            lines.append(
                f"| {mode} | {a['ndcg@10']:.4f} | {b['ndcg@10']:.4f} | "
                f"{b['ndcg@10'] - a['ndcg@10']:+.4f} | {a['recall@100']:.4f} | "
                f"{b['recall@100']:.4f} | {a['mrr@10']:.4f} | {b['mrr@10']:.4f} |"
            )
        lines.append("")
        for label in ("fp32", "int8"):
            run = sf[label]
            built = run["built"]
            how = (
                f"built in this run ({built['report']['embedded']} texts embedded, "
                f"{built['report']['reused_embeddings']} from the cache, {built['seconds']:.0f} s, "
                f"load {built['load']})"
                if built
                else "already built"
            )
            lines.append(
                f"- {label}: index {how}; `{run['command']}` took {run['seconds']:.0f} s "
                f"(load {run['load']})."
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=REPO.parent / "shared/data/beir/scifact")
    ap.add_argument("--texts", type=int, default=500)
    ap.add_argument("--fp32-index", type=Path, default=REPO / "index_data/eval-scifact")
    ap.add_argument("--int8-index", type=Path, default=REPO / "index_data/eval-scifact-int8")
    ap.add_argument("--seed-cache", type=Path, help="fp32 embeddings.sqlite for a new fp32 index")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-scifact", action="store_true")
    ap.add_argument("--write", action="store_true", help="Update BENCHMARKS.md.")
    args = ap.parse_args(argv)

    tp = None if args.skip_throughput else throughput(args.dataset / "corpus.jsonl", args.texts)
    sf = None if args.skip_scifact else scifact(args)
    shown = [_rel(a) for a in (argv if argv is not None else sys.argv[1:])]
    body = markdown(tp, sf, " ".join([".venv/bin/python bench/int8.py", *shown]))
    print()
    print(body)
    Path("/tmp/newsearch-int8-bench.json").write_text(json.dumps({"throughput": tp, "scifact": sf}))
    if args.write:
        write_section("int8", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
