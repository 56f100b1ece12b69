"""Index lifecycle benchmark: full build, one edited article, nothing changed.

    .venv/bin/python bench/lifecycle.py [--corpus ../shared/data/bbc] [--cache FILE] [--reps 5]

Works on a private copy of the corpus (articles get edited) in a temporary folder. ``--cache``
seeds the new index's embedding cache (for BBC, /work/ix/bbc/embeddings.sqlite) so the full
build measures everything but the one-off embedding of 11k paragraphs; without it the full
build embeds everything. Each edit appends a new sentence to one paragraph of one article, so
exactly one text must be embedded. Timings are medians over ``--reps`` runs:

* library, warm model: ``update_index`` in a process that already loaded the model (what
  ``newsearch watch`` and applications embedding the library see);
* CLI: a fresh ``newsearch index`` process (includes interpreter start and, when a text must
  be encoded, importing torch and loading the model).

Prints a table and replaces the lifecycle section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from newsearch.indexer import BuildOptions, resolve_model
from newsearch.indexer.encoders import document_encoder
from newsearch.indexer.update import update_index

REPO = Path(__file__).resolve().parents[1]
NOTES = [
    "*Library* rows run `update_index` in a process that has loaded the model already (what",
    "`newsearch watch` does); *CLI* rows start a fresh `newsearch index` process. CPU s is",
    "user+sys of that work (of the child process for CLI rows): on this shared 2-core machine",
    "wall time grows with the load average, CPU time much less. An edit that needs the model",
    "costs a CLI process an onnxruntime session (no torch once the ONNX export exists: 1.3 s",
    "in all, was 12.9 s with torch); `newsearch watch` pays that once. Goals (issue 3): one",
    "edited article <= 2 s, no-change run <= 1 s.",
]
BEGIN = "<!-- lifecycle:begin -->"
END = "<!-- lifecycle:end -->"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_index(corpus: Path, index_dir: Path) -> tuple[float, float, dict]:
    """(wall s, CPU s, --json summary) of one `newsearch index` process."""
    cpu = children_cpu()
    started = time.perf_counter()
    command = [sys.executable, "-m", "newsearch.cli.main", "index", str(corpus)]
    proc = subprocess.run(
        [*command, "-i", str(index_dir), "--json", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    return wall, children_cpu() - cpu, json.loads(proc.stdout)


def edit(article: Path, n: int) -> None:
    """Append a new sentence to the article's second paragraph: one new text to embed."""
    text = article.read_text(encoding="utf-8")
    parts = text.split("\n\n")
    i = 2 if len(parts) > 2 else len(parts) - 1
    parts[i] = parts[i].rstrip() + f" A correction (number {n}) was issued at {time.time_ns()}."
    article.write_text("\n\n".join(parts), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "data" / "bbc")
    ap.add_argument("--cache", type=Path, default=None, help="embeddings.sqlite to start from")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="do not update BENCHMARKS.md")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="newsearch-lifecycle-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(args.corpus, corpus)
        index_dir = work / "ix"
        index_dir.mkdir()
        if args.cache:
            shutil.copyfile(args.cache, index_dir / "embeddings.sqlite")
        rows = run(corpus, index_dir, args.reps)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    command = "    .venv/bin/python bench/lifecycle.py " + " ".join(
        f"{k} {v}" for k, v in (("--corpus", args.corpus), ("--cache", args.cache)) if v
    )
    table = render(rows, args, command)
    print(table)
    if not args.no_write:
        write_section(REPO / "BENCHMARKS.md", table)


def run(corpus: Path, index_dir: Path, reps: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    embedder = document_encoder(resolve_model(), BuildOptions().device, BuildOptions().batch_size)
    load_before = loadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    full = update_index([corpus], index_dir, embedder=embedder, rebuild=True)
    rows.append(
        (
            "full build (library)",
            f"{time.perf_counter() - t0:.2f}",
            f"{time.process_time() - c0:.2f}",
            f"{full.embedded} embedded / {full.reused} cached",
            f"{full.articles} articles, {full.paragraphs} paragraphs, {full.vectors} vectors",
        )
    )
    print(rows[-1], flush=True)
    embedder.encode(["warm up the model"])  # what a running watcher has already done

    articles = sorted(corpus.rglob("*.txt"))
    articles = [a for a in articles if a.name.lower() not in ("readme.txt",)]

    def timed_lib(label: str, change) -> None:
        times, cpus, embedded = [], [], []
        for n in range(reps):
            if change:
                change(n)
            before = embedder.encoded_count
            t, c = time.perf_counter(), time.process_time()
            r = update_index([corpus], index_dir, embedder=embedder)
            times.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
            embedded.append(embedder.encoded_count - before)
            assert r.mode == ("incremental" if change else "unchanged"), r.mode
        rows.append(_row(label, times, cpus, embedded))
        print(rows[-1], flush=True)

    def timed_cli(label: str, change) -> None:
        times, cpus, embedded = [], [], []
        for n in range(reps):
            if change:
                change(n)
            t, c, out = cli_index(corpus, index_dir)
            times.append(t)
            cpus.append(c)
            embedded.append(out["embedded"])
            assert out["mode"] == ("incremental" if change else "unchanged"), out
        rows.append(_row(label, times, cpus, embedded))
        print(rows[-1], flush=True)

    timed_lib("nothing changed (library)", None)
    timed_cli("nothing changed (CLI process)", None)
    timed_lib("one edited article (library, warm model)", lambda n: edit(articles[n * 37], n))
    timed_cli("one edited article (CLI process)", lambda n: edit(articles[n * 41 + 5], n + 100))

    def reorder(n: int) -> None:  # a changed article whose texts are all cached: no model
        a = articles[n * 53 + 11]
        head, *paragraphs = a.read_text(encoding="utf-8").split("\n\n")
        paragraphs[-1], paragraphs[-2] = paragraphs[-2], paragraphs[-1]
        a.write_text("\n\n".join([head, *paragraphs]), encoding="utf-8")

    timed_cli("one article's paragraphs reordered (CLI)", reorder)
    rows.append(("load average before / after", "", "", load_before, loadavg()))
    return rows


def _row(label: str, times: list[float], cpus: list[float], embedded: list[int]) -> tuple:
    return (
        label,
        f"{statistics.median(times):.2f}",
        f"{statistics.median(cpus):.2f}",
        f"{max(embedded)} embedded",
        f"wall min {min(times):.2f} s, max {max(times):.2f} s, n={len(times)}",
    )


def render(rows, args, command: str) -> str:
    lines = [
        BEGIN,
        "## Index lifecycle (`bench/lifecycle.py`)",
        "",
        (
            f"Corpus `{args.corpus}`; embedding cache seeded from `{args.cache}`"
            if args.cache
            else f"Corpus `{args.corpus}`; empty embedding cache (the full build embeds all)"
        )
        + f"; {os.cpu_count()} CPUs; medians of {args.reps} runs. Reproduce with:",
        "",
        command,
        "",
        "| case | median wall s | median CPU s | texts embedded | notes |",
        "|---|---:|---:|---|---|",
    ]
    for label, wall, cpu, embedded, note in rows:
        lines.append(f"| {label} | {wall} | {cpu} | {embedded} | {note} |")
    lines += ["", *NOTES, END]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
