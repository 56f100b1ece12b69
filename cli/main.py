"""The ``newsearch`` command: a thin layer over ``newsearch.indexer`` and ``newsearch.search``.

Heavy modules (Whoosh, FAISS, torch) are imported inside the commands that need them, so
``newsearch --help`` is instant. User mistakes (no index, empty corpus, empty query, wrong
model) end with one ``error:`` line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    name="newsearch",
    help="Hybrid (BM25 + dense vector) search over folders of news articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _Stdout(Console):
    """Standard output that ends quietly (status 0, as ``main`` does) when its reader is gone:
    ``newsearch query … | head -3``."""

    def on_broken_pipe(self) -> None:
        try:
            super().on_broken_pipe()
        except SystemExit:
            raise SystemExit(0) from None


out = _Stdout(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DEFAULT_INDEX_DIR = os.environ.get("NEWSEARCH_INDEX_DIR", "index_data")

IndexDir = Annotated[
    Path,
    typer.Option(
        "--index-dir",
        "-i",
        help="Index directory (env NEWSEARCH_INDEX_DIR).",
        show_default=True,
    ),
]
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="A local sentence-transformers model folder (default: bundled)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
HeadlineOpt = Annotated[
    bool, typer.Option(help="Embed each paragraph together with its article's headline.")
]
WaitOpt = Annotated[
    float, typer.Option(help="Seconds to wait for another indexing process to finish.")
]
FusionOpt = Annotated[
    str | None,
    typer.Option("--fusion", help="Hybrid merge: coverage, rrf or convex (default: tuned)."),
]
AlphaOpt = Annotated[
    float | None,
    typer.Option("--alpha", help="convex, coverage: dense scores' weight (0 = BM25, 1 = dense)."),
]
RrfKOpt = Annotated[float | None, typer.Option("--rrf-k", help="rrf: the k in 1/(k + rank).")]
TauOpt = Annotated[
    float | None,
    typer.Option("--tau", help="coverage: BM25 coverage from which BM25 keeps its full weight."),
]
NormOpt = Annotated[
    str | None, typer.Option("--norm", help="convex: score normalization, minmax or zscore.")
]
Int8Opt = Annotated[
    bool | None,
    typer.Option(
        "--int8/--fp32",
        help="Encode with the int8-quantized model: faster on the CPU, slightly lower quality "
        "(see README). Default: as the index already is, fp32 for a new one; changing it "
        "needs --rebuild.",
    ),
]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's user-facing errors into one line and an exit code."""
    from newsearch.indexer.errors import NewsearchError

    try:
        yield
    except NewsearchError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except BrokenPipeError:  # `newsearch status --json | head -c 100`: the reader is done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no failing flush
        raise typer.Exit(0) from None
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(f"[bold red]error:[/] {escape(exc.strerror or str(exc))}{escape(where)}")
        raise typer.Exit(1) from None


class BarProgress:
    """Draws the indexer's stages as rich progress bars on stderr."""

    def __init__(self, enabled: bool) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:>14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not enabled,
            transient=False,
        )
        self._task: Any = None

    def start(self, stage: str, total: int) -> None:
        if self._task is None:
            self._progress.start()
        self._task = self._progress.add_task(stage, total=total)

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def finish(self) -> None:
        pass

    def stop(self) -> None:
        if self._task is not None:
            self._progress.stop()


@app.command()
def index(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Article files or folders (default: the sources indexed last time)."),
    ] = None,
    index_dir: IndexDir = Path(DEFAULT_INDEX_DIR),
    model: ModelOpt = None,
    headline: HeadlineOpt = True,
    wait: WaitOpt = 0.0,
    device: Annotated[
        str,
        typer.Option(
            help="Encoder device: auto (a CUDA GPU if torch sees one), cpu (the ONNX export, "
            "no torch), cuda (sentence-transformers)."
        ),
    ] = "auto",
    int8: Int8Opt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build from scratch instead of applying changes.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build the index over article files and folders (.txt articles, JSONL, BEIR corpus.jsonl).

    On an existing index only what changed since the last run is read and applied."""
    with user_errors():
        from newsearch.indexer import BuildOptions
        from newsearch.indexer.update import update_index

        paths = _paths_or_sources(paths, index_dir)
        options = BuildOptions(
            model_path=str(model) if model else None,
            embed_headline=headline,
            device=device,
            int8=int8,
        )
        bars = BarProgress(enabled=not quiet and not as_json)
        try:
            report = update_index(
                paths, index_dir, options, progress=bars, wait=wait, rebuild=rebuild
            )
        finally:
            bars.stop()
        _print_update(report, index_dir, as_json)


def _paths_or_sources(paths: list[Path] | None, index_dir: Path) -> list[Path]:
    """The paths given, else the sources the index was built from last time."""
    if paths:
        return paths
    from newsearch.indexer import IndexLayout
    from newsearch.indexer.errors import NewsearchError

    layout = IndexLayout(index_dir)
    try:
        generation = layout.current()
    except NewsearchError as exc:  # says what is there instead and how to build an index
        raise type(exc)(f"no PATH given, and {exc}") from None
    return [Path(p) for p in layout.read_meta(generation).sources]


#: Skipped files and warnings listed one per line before the rest are only counted (``--json``
#: has them all).
MAX_LISTED = 50


def _print_update(report: Any, index_dir: Path, as_json: bool) -> None:
    for kind, items in (("skipped", report.skipped), ("warning", report.warnings)):
        for item in items[:MAX_LISTED]:
            err.print(f"[yellow]{kind}[/] {escape(str(item))}")
        if len(items) > MAX_LISTED:
            err.print(f"[yellow]{kind}[/] … and {len(items) - MAX_LISTED} more (see --json)")
    reasons = _skip_reasons(report.skipped)
    summary = {
        "index_dir": str(index_dir),
        "mode": report.mode,
        "generation": report.generation,
        "articles": report.articles,
        "stories": report.stories,
        "paragraphs": report.paragraphs,
        "vectors": report.vectors,
        "added": report.added,
        "changed": report.changed,
        "deleted": report.deleted,
        "embedded": report.embedded,
        "reused_embeddings": report.reused,
        "embedded_for_stories": report.story_embedded,
        "skipped": [str(s) for s in report.skipped],
        "skipped_reasons": reasons,
        "warnings": list(report.warnings),
        "seconds": round(report.seconds, 2),
    }
    if as_json:
        print(json.dumps(summary, ensure_ascii=False), flush=True)
        return
    if report.mode == "unchanged":
        what = "up to date:"
    elif report.mode == "incremental":
        what = f"+{report.added} ~{report.changed} -{report.deleted} articles;"
    else:
        what = "indexed"
    out.print(
        f"{what} [bold]{report.articles}[/] articles"
        f"{f' ({report.stories} stories)' if report.stories is not None else ''}, "
        f"{report.paragraphs} paragraphs, "
        f"{report.vectors} vectors ({report.embedded} embedded, {report.reused} reused) "
        f"in {report.seconds:.1f}s; skipped {len(report.skipped)}"
        f"{_reasons_text(reasons)}, {len(report.warnings)} warnings → {escape(str(index_dir))}"
    )


def _skip_reasons(skipped: list[Any]) -> dict[str, int]:
    """How many sources were skipped for each kind of reason, most first."""
    counts: dict[str, int] = {}
    for s in skipped:
        kind = getattr(s, "kind", str(s))
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _reasons_text(reasons: dict[str, int]) -> str:
    if not reasons:
        return ""
    return " (" + ", ".join(f"{n} {escape(kind)}" for kind, n in reasons.items()) + ")"


@app.command()
def watch(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Folders to follow (default: the sources indexed last time)."),
    ] = None,
    index_dir: IndexDir = Path(DEFAULT_INDEX_DIR),
    model: ModelOpt = None,
    headline: HeadlineOpt = True,
    debounce: Annotated[
        float, typer.Option(help="Seconds of quiet to wait for before applying changes.")
    ] = 1.0,
    wait: WaitOpt = 60.0,
    as_json: JsonOpt = False,
) -> None:
    """Follow folders and apply each burst of changes to the index as it happens (Ctrl-C stops)."""
    with user_errors():
        from newsearch.indexer import BuildOptions
        from newsearch.indexer.watch import watch_and_update

        paths = _paths_or_sources(paths, index_dir)
        options = BuildOptions(model_path=str(model) if model else None, embed_headline=headline)

        def log(line: str) -> None:
            err.print(escape(line))

        def applied(report: Any) -> None:
            _print_update(report, index_dir, as_json)

        try:
            watch_and_update(
                paths, index_dir, options, debounce=debounce, wait=wait, log=log, applied=applied
            )
        except KeyboardInterrupt:
            err.print("stopped watching")


@app.command()
def query(
    text: Annotated[str, typer.Argument(help='Free text; "quoted phrases" stay phrases.')],
    k: Annotated[int, typer.Option("-k", "--k", help="How many articles to return.")] = 10,
    mode: Annotated[str, typer.Option(help="hybrid, bm25 or dense.")] = "hybrid",
    index_dir: IndexDir = Path(DEFAULT_INDEX_DIR),
    model: ModelOpt = None,
    fusion: FusionOpt = None,
    alpha: AlphaOpt = None,
    rrf_k: RrfKOpt = None,
    tau: TauOpt = None,
    norm: NormOpt = None,
    as_json: JsonOpt = False,
    collapse: Annotated[
        bool, typer.Option(help="One hit per story (copies listed as 'also in').")
    ] = True,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only this source/outlet (repeatable).")
    ] = None,
    category: Annotated[
        list[str] | None, typer.Option("--category", help="Only this category (repeatable).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only articles dated on or after (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only articles dated on or before (YYYY-MM-DD).")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show per-hit ranks, scores and story links.")
    ] = False,
) -> None:
    """Search the index and print the best stories with their best paragraphs."""
    with user_errors():
        from newsearch.search import Searcher
        from newsearch.search.filters import Filter

        if k < 1:
            from newsearch.indexer.errors import QueryError

            raise QueryError(f"-k must be at least 1, got {k}")
        from newsearch.search.query import MAX_QUERY_CHARS, prepare_query

        if prepare_query(text).truncated:
            err.print(
                f"[yellow]warning:[/] the query is longer than {MAX_QUERY_CHARS:,} characters; "
                f"only its first {MAX_QUERY_CHARS:,} are searched"
            )
        filters = Filter.make(source=source, category=category, since=since, until=until)
        chosen = _fusion(fusion, alpha, rrf_k, norm, tau)
        with Searcher(index_dir, model_path=model) as searcher:
            results = searcher.search(
                text, k=k, mode=mode, filters=filters, collapse=collapse, fusion=chosen
            )
        if as_json:
            print(json.dumps(results.to_dict(), ensure_ascii=False))
            return
        _print_results(results, explain)


def _fusion(
    method: str | None,
    alpha: float | None,
    rrf_k: float | None,
    norm: str | None,
    tau: float | None = None,
) -> Any:
    """A Fusion from the options given, the tuned defaults filling the rest (None: all default)."""
    from dataclasses import replace

    from newsearch.indexer.errors import QueryError
    from newsearch.search import Fusion

    given = {
        name: value
        for name, value in (
            ("method", method),
            ("alpha", alpha),
            ("rrf_k", rrf_k),
            ("norm", norm),
            ("tau", tau),
        )
        if value is not None
    }
    if not given:
        return None
    try:
        return replace(Fusion(), **given)
    except ValueError as exc:
        raise QueryError(str(exc)) from None


def _marked(snippet: Any) -> Any:
    """A snippet as rich Text with the query's words highlighted."""
    from rich.text import Text

    text = Text(snippet.text)
    for m in snippet.matches:
        text.stylize("bold yellow", m.start, m.end)
    return text


def _print_explain(hit: Any) -> None:
    for p in hit.paragraphs:
        kw = "-" if p.keyword_rank is None else f"#{p.keyword_rank} ({p.keyword_score:.3f})"
        vec = "-" if p.vector_rank is None else f"#{p.vector_rank} ({p.vector_score:.3f})"
        out.print(
            f"    [magenta]explain ¶{p.position + 1}:[/] keyword {kw} · vector {vec} · "
            f"fused {p.score:.5f}"
        )
    if hit.story_note:  # also with --no-collapse: say which story the article belongs to
        out.print(f"    [magenta]story {escape(hit.story_id)}:[/] {escape(hit.story_note)}")
        for c in hit.also_in:
            got = "not retrieved" if c.score is None else f"score {c.score:.5f}"
            out.print(f"      {escape(c.article_id)} ({got}): {escape(c.note)}")


def _print_results(results: Any, explain: bool = False) -> None:
    shown = results.query if len(results.query) <= 80 else results.query[:79] + "…"
    if not results.hits:
        out.print(f"no results for [bold]{escape(shown)}[/] ({results.mode})")
        return
    out.print(
        f"[dim]{len(results.hits)} results for[/] [bold]{escape(shown)}[/] "
        f"[dim]({results.mode}, {results.took_ms:.0f} ms)[/]\n"
    )
    for hit in results.hits:
        meta = " · ".join(x for x in (hit.category, hit.date, hit.source) if x)
        out.print(
            f"[bold cyan]{hit.rank:>2}.[/] [bold]{escape(hit.title)}[/]  "
            f"[dim]{escape(hit.article_id)}{' · ' + escape(meta) if meta else ''}[/]"
        )
        if hit.url:
            out.print(f"    [dim]{escape(hit.url)}[/]")
        for p in hit.paragraphs:
            ranks = []
            if p.keyword_rank is not None:
                ranks.append(f"bm25 #{p.keyword_rank} ({p.keyword_score:.2f})")
            if p.vector_rank is not None:
                ranks.append(f"dense #{p.vector_rank} ({p.vector_score:.3f})")
            out.print("    ", _marked(p.snippet), sep="")
            out.print(f"    [dim]¶{p.position + 1} · score {p.score:.4f} · {' · '.join(ranks)}[/]")
        if hit.also_in:
            names = ", ".join(c.source or c.article_id for c in hit.also_in)
            more = hit.also_in_total - len(hit.also_in)
            out.print(
                f"    [green]also in:[/] {escape(names)}{f' (+{more} more)' if more > 0 else ''}"
            )
        if explain:
            _print_explain(hit)
        out.print()


@app.command()
def status(
    index_dir: IndexDir = Path(DEFAULT_INDEX_DIR),
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Compare the sources with the index.")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """What is indexed (articles, paragraphs, vectors, model, sources) and what is stale."""
    with user_errors():
        from newsearch.indexer import IndexLayout

        layout = IndexLayout(index_dir)
        generation = layout.current()
        meta = layout.read_meta(generation)
        info = {
            "index_dir": str(index_dir),
            "generation": generation.name,
            "articles": meta.articles,
            "paragraphs": meta.paragraphs,
            "vectors": meta.vectors,
            "model": meta.model.name,
            "model_path": meta.model.path,
            "model_sha256": meta.model.sha256,
            "dim": meta.model.dim,
            "precision": meta.model.precision,
            "embed_headline": meta.embed_headline,
            "sources": meta.sources,
            "built_at": meta.built_at,
            "build_seconds": meta.build_seconds,
            "format_version": meta.format_version,
        }
        if check:
            from newsearch.indexer.update import stale

            changes, _ = stale(index_dir)
            info["stale"] = {
                "files_added": changes.files_added,
                "files_changed": changes.files_changed,
                "files_deleted": changes.files_deleted,
                "articles_added": len(changes.added),
                "articles_changed": len(changes.changed),
                "articles_deleted": len(changes.deleted),
            }
        if as_json:
            print(json.dumps(info, ensure_ascii=False))
            return
        stale_info = info.pop("stale", None)
        for key, value in info.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            out.print(f"[bold]{key:>15}[/]  {escape(str(shown))}")
        if stale_info is not None:
            _print_stale(stale_info)


def _print_stale(stale: dict[str, Any]) -> None:
    files = [
        (sign, rel)
        for sign, key in (("+", "files_added"), ("~", "files_changed"), ("-", "files_deleted"))
        for rel in stale[key]
    ]
    if not files:
        out.print(f"[bold]{'stale':>15}[/]  nothing: the index matches its sources")
        return
    out.print(
        f"[bold]{'stale':>15}[/]  {len(files)} files (articles: +{stale['articles_added']} "
        f"~{stale['articles_changed']} -{stale['articles_deleted']}); "
        "run `newsearch index` to apply"
    )
    for sign, rel in files[:20]:
        out.print(f"{'':>17}{sign} {escape(rel)}")
    if len(files) > 20:
        out.print(f"{'':>17}… and {len(files) - 20} more")


@app.command("eval")
def eval_(
    dataset: Annotated[
        Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
    ],
    split: Annotated[str, typer.Option(help="Which qrels/<split>.tsv to score.")] = "test",
    corpus: Annotated[
        Path | None,
        typer.Option(
            help="Index this source instead of DATASET/corpus.jsonl (a folder of articles); "
            "qrels then name article ids such as business/001.txt."
        ),
    ] = None,
    index_dir: Annotated[
        Path | None,
        typer.Option(
            "--index-dir", "-i", help="Index of the corpus (default: index_data/eval-<name>)."
        ),
    ] = None,
    modes: Annotated[
        list[str] | None, typer.Option("--mode", help="Modes to score (default: all three).")
    ] = None,
    fusion: FusionOpt = None,
    alpha: AlphaOpt = None,
    rrf_k: RrfKOpt = None,
    tau: TauOpt = None,
    norm: NormOpt = None,
    headline: Annotated[
        bool | None,
        typer.Option(help="When building: embed each paragraph with its headline (default yes)."),
    ] = None,
    rebuild: Annotated[bool, typer.Option(help="Rebuild the index even if it exists.")] = False,
    int8: Int8Opt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Score bm25, dense and hybrid on a BEIR dataset (or judged queries over --corpus):
    nDCG@10, Recall@100, MRR@10."""
    with user_errors():
        import time

        from newsearch.indexer import BuildOptions
        from newsearch.search import Searcher
        from newsearch.search.evaluate import ensure_index, evaluate, load_beir

        started = time.perf_counter()
        data = load_beir(dataset, split, corpus)
        chosen = _fusion(fusion, alpha, rrf_k, norm, tau)
        index_dir = index_dir or Path("index_data") / f"eval-{dataset.resolve().name}"
        given = {"embed_headline": headline, "int8": int8}
        given = {name: value for name, value in given.items() if value is not None}
        options = BuildOptions(**given) if given else None
        bars = BarProgress(enabled=not quiet and not as_json)
        try:
            ensure_index(data, index_dir, options, rebuild=rebuild, progress=bars)
            with Searcher(index_dir) as searcher:
                report = evaluate(searcher, data, modes or None, fusion=chosen, progress=bars)
        finally:
            bars.stop()
        result = report.to_dict()
        result["seconds"] = round(time.perf_counter() - started, 2)
        if as_json:
            print(json.dumps(result, ensure_ascii=False))
            return
        out.print(
            f"[bold]{escape(data.root.name)}[/] {escape(split)}: {report.queries} queries, "
            f"index {escape(str(index_dir))}"
        )
        if report.missing_docs:
            out.print(f"[yellow]{report.missing_docs} judged documents are not in the index[/]")
        out.print(f"{'mode':<8} {'nDCG@10':>8} {'R@100':>8} {'MRR@10':>8} {'seconds':>8}")
        for row in report.results:
            m = row.metrics
            out.print(
                f"{row.mode:<8} {m['ndcg@10']:>8.4f} {m['recall@100']:>8.4f} "
                f"{m['mrr@10']:>8.4f} {row.seconds:>8.1f}"
            )
            if row.fusion:
                out.print(f"[dim]  hybrid fusion: {escape(str(row.fusion))}[/]")
        out.print(f"[dim]total {result['seconds']:.1f}s[/]")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:  # `newsearch query … | head`
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
