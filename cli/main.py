"""The ``newsearch`` command: argument parsing over the library (``newsearch.indexer``,
``newsearch.search``); ``render`` draws what the library returns.

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

from . import render
from .render import BarProgress, err, print_update

app = typer.Typer(
    name="newsearch",
    help="Hybrid (BM25 + dense vector) search over folders of news articles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


RecencyOpt = Annotated[
    str | None,
    typer.Option(
        "--recency",
        help="Lift recent stories: a half-life such as 30d, 12h, 2w (or days); off by default.",
    ),
]
RecencyWeightOpt = Annotated[
    float | None,
    typer.Option(
        "--recency-weight",
        help="--recency: the decay's weight w in [0, 1): old and undated stories keep 1 - w.",
    ),
]
NoTunedOpt = Annotated[
    bool,
    typer.Option(
        "--no-tuned",
        help="Ignore the index's tuned settings (`newsearch tune`): use the global defaults.",
    ),
]
NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="--recency: age stories relative to this date (YYYY-MM-DD)."),
]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's user-facing errors into one line and an exit code."""
    from newsearch.indexer.errors import NewsearchError

    try:
        yield
    except NewsearchError as exc:
        render.error(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except BrokenPipeError:  # `newsearch status --json | head -c 100`: the reader is done
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no failing flush
        raise typer.Exit(0) from None
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        render.error(f"{exc.strerror or exc}{where}")
        raise typer.Exit(1) from None


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
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Build shards as Ray tasks on this cluster (head host:port; 'auto': a local "
            "Ray instance). Writes a cluster directory (needs the [cluster] extra).",
        ),
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards", help="Shard indexes to build (a cluster directory; default 2 with --ray)."
        ),
    ] = None,
    seed_cache: Annotated[
        Path | None,
        typer.Option("--seed-cache", help="Cluster builds: an embeddings.sqlite to start from."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the index over article files and folders (.txt articles, JSONL, BEIR corpus.jsonl).

    On an existing index only what changed since the last run is read and applied. With
    --ray or --shards: a full build of N shard indexes (every story in one shard) into a
    cluster directory that `query` searches as one index."""
    with user_errors():
        from newsearch.indexer import BuildOptions
        from newsearch.indexer.update import update_index

        options = BuildOptions(
            model_path=str(model) if model else None,
            embed_headline=headline,
            device=device,
            int8=int8,
        )
        if ray is not None or shards is not None:
            from newsearch.cluster.build import build_cluster
            from newsearch.indexer.errors import QueryError

            if not paths:
                raise QueryError("a cluster build needs the article PATHs")
            cluster = build_cluster(
                paths, index_dir, shards or 2, options, ray_address=ray, seed_cache=seed_cache
            )
            render.print_cluster_build(cluster, as_json)
            return
        paths = _paths_or_sources(paths, index_dir)
        bars = BarProgress(enabled=not quiet and not as_json)
        try:
            report = update_index(
                paths, index_dir, options, progress=bars, wait=wait, rebuild=rebuild
            )
        finally:
            bars.stop()
        print_update(report, index_dir, as_json)


def _paths_or_sources(paths: list[Path] | None, index_dir: Path) -> list[Path]:
    """The paths given, else the sources the index was built from last time."""
    if paths:
        return paths
    from newsearch.indexer.errors import NewsearchError
    from newsearch.indexer.status import recorded_sources

    try:
        return recorded_sources(index_dir)
    except NewsearchError as exc:  # says what is there instead and how to build an index
        raise type(exc)(f"no PATH given, and {exc}") from None


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

        def applied(report: Any) -> None:
            print_update(report, index_dir, as_json)

        try:
            watch_and_update(
                paths,
                index_dir,
                options,
                debounce=debounce,
                wait=wait,
                log=render.note,
                applied=applied,
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
    offset: Annotated[
        int, typer.Option("--offset", help="Stories to skip: the next page (offset + k <= 1000).")
    ] = 0,
    facets: Annotated[
        bool,
        typer.Option("--facets", help="Count category, source and month over all matches."),
    ] = False,
    recency: RecencyOpt = None,
    recency_weight: RecencyWeightOpt = None,
    now: NowOpt = None,
    no_tuned: NoTunedOpt = False,
) -> None:
    """Search the index and print the best stories with their best paragraphs."""
    with user_errors():
        from newsearch.search import Fusion, Searcher
        from newsearch.search.filters import Filter

        if k < 1:
            from newsearch.indexer.errors import QueryError

            raise QueryError(f"-k must be at least 1, got {k}")
        from newsearch.search.query import MAX_QUERY_CHARS, prepare_query

        if prepare_query(text).truncated:
            render.warning(
                f"the query is longer than {MAX_QUERY_CHARS:,} characters; "
                f"only its first {MAX_QUERY_CHARS:,} are searched"
            )
        filters = Filter.make(source=source, category=category, since=since, until=until)
        chosen = Fusion.with_overrides(fusion, alpha, rrf_k, norm, tau)
        from newsearch.cluster.manifest import is_cluster

        opener: type[Searcher] = Searcher
        if is_cluster(index_dir):  # shards built by `index --shards/--ray`: one index to us
            from newsearch.cluster.searcher import ClusterSearcher

            opener = ClusterSearcher
        decay = _recency(recency, recency_weight, now)
        with opener(index_dir, model_path=model, config=_untuned(no_tuned)) as searcher:
            if chosen is not None:  # the options change the index's fusion (tuned or not)
                chosen = Fusion.with_overrides(
                    fusion, alpha, rrf_k, norm, tau, base=searcher.config.fusion
                )
            results = searcher.search(
                text,
                k=k,
                mode=mode,
                filters=filters,
                collapse=collapse,
                fusion=chosen,
                offset=offset,
                facets=facets,
                recency=decay,
                now=now,
                highlights=True,
            )
        if as_json:
            print(json.dumps(results.to_dict(), ensure_ascii=False))
            return
        render.print_results(results, explain)
        if results.facets is not None:
            render.print_facets(results.facets)


def _recency(half_life: str | None, weight: float | None, now: str | None) -> Any:
    """The ``Recency`` asked for on the command line (None: off); --recency-weight and --now
    mean nothing without --recency, so they are refused alone rather than ignored."""
    from newsearch.indexer.errors import QueryError
    from newsearch.search.recency import make_recency, parse_now

    if half_life is None:
        if weight is not None or now is not None:
            raise QueryError("--recency-weight and --now need --recency HALF_LIFE (e.g. 30d)")
        return None
    parse_now(now)  # a malformed --now is an error even before the index is opened
    return make_recency(half_life, weight)


def _untuned(no_tuned: bool) -> Any:
    """The ``SearchConfig`` to open a searcher with: the global defaults with ``--no-tuned``,
    else None (the index's tuned settings when it has them, ``newsearch tune``)."""
    if not no_tuned:
        return None
    from newsearch.search import SearchConfig

    return SearchConfig()


@app.command()
def related(
    article_id: Annotated[str, typer.Argument(help="An indexed article's id (as in results).")],
    k: Annotated[int, typer.Option("-k", "--k", help="How many stories to return.")] = 10,
    index_dir: IndexDir = Path(DEFAULT_INDEX_DIR),
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show per-hit ranks, scores and story links.")
    ] = False,
) -> None:
    """Stories related to an article ("more like this"): nearest by meaning and by shared
    rare words, its own story left out."""
    with user_errors():
        from newsearch.indexer.errors import QueryError
        from newsearch.search import Searcher

        if k < 1:
            raise QueryError(f"-k must be at least 1, got {k}")
        from newsearch.cluster.manifest import is_cluster

        opener: type[Searcher] = Searcher
        if is_cluster(index_dir):
            from newsearch.cluster.searcher import ClusterSearcher

            opener = ClusterSearcher
        with opener(index_dir, model_path=model) as searcher:
            results = searcher.related(article_id, k=k)
        if as_json:
            print(json.dumps(results.to_dict(), ensure_ascii=False))
            return
        render.print_related(results, explain)


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
        from newsearch.indexer.layout import TUNED_FILE
        from newsearch.indexer.status import index_status

        info = index_status(index_dir, check=check)
        data = info.to_dict()
        data["tuned"], line = None, "none (global defaults)"
        # Only an index with tuned settings loads the search package to describe them: the
        # status of any other index imports no search engine (tests/test_startup.py).
        if (Path(index_dir) / TUNED_FILE).exists():
            from newsearch.search.tuned import TunedSettingsError, load_tuned

            try:  # status is where one looks when something is wrong: say it, do not fail
                tuned = load_tuned(index_dir)
                data["tuned"] = tuned.to_json() if tuned is not None else None
                line = tuned.describe() if tuned is not None else line
            except TunedSettingsError as exc:
                data["tuned"], data["tuned_error"] = None, str(exc)
                line = f"cannot be read: {exc}"
        if as_json:
            print(json.dumps(data, ensure_ascii=False))
            return
        render.print_status(info, tuned=line)


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
    no_tuned: NoTunedOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Score bm25, dense and hybrid on a BEIR dataset (or judged queries over --corpus):
    nDCG@10, Recall@100, MRR@10. An index with tuned settings (`newsearch tune`) is searched
    with them unless --no-tuned."""
    with user_errors():
        import time

        from newsearch.indexer import BuildOptions
        from newsearch.search import Fusion, Searcher
        from newsearch.search.evaluate import ensure_index, evaluate, load_beir

        started = time.perf_counter()
        data = load_beir(dataset, split, corpus)
        chosen = Fusion.with_overrides(fusion, alpha, rrf_k, norm, tau)
        index_dir = index_dir or Path("index_data") / f"eval-{dataset.resolve().name}"
        given = {"embed_headline": headline, "int8": int8}
        given = {name: value for name, value in given.items() if value is not None}
        options = BuildOptions(**given) if given else None
        bars = BarProgress(enabled=not quiet and not as_json)
        try:
            ensure_index(data, index_dir, options, rebuild=rebuild, progress=bars)
            with Searcher(index_dir, config=_untuned(no_tuned)) as searcher:
                if chosen is not None:  # on top of the index's fusion (tuned or not)
                    chosen = Fusion.with_overrides(
                        fusion, alpha, rrf_k, norm, tau, base=searcher.config.fusion
                    )
                report = evaluate(searcher, data, modes or None, fusion=chosen, progress=bars)
        finally:
            bars.stop()
        result = report.to_dict()
        result["seconds"] = round(time.perf_counter() - started, 2)
        if as_json:
            print(json.dumps(result, ensure_ascii=False))
            return
        render.print_eval(report, data.root.name, split, index_dir, result["seconds"])


@app.command()
def tune(
    dataset: Annotated[
        Path | None,
        typer.Argument(
            help="BEIR folder of the indexed corpus: queries.jsonl and qrels/<split>.tsv "
            "(qrels name the index's article ids)."
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Which qrels/<split>.tsv to tune on.")] = "train",
    index_dir: IndexDir = Path(DEFAULT_INDEX_DIR),
    reset: Annotated[
        bool,
        typer.Option("--reset", help="Remove the index's tuned settings (global defaults again)."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Score the grid and print it; save nothing.")
    ] = False,
    top: Annotated[int, typer.Option(help="Rows of the grid to print (best first).")] = 15,
    check: Annotated[
        int,
        typer.Option(help="Queries re-run through the searcher with the chosen settings."),
    ] = 10,
    max_p: Annotated[
        float,
        typer.Option(
            "--max-p",
            help="Keep the defaults unless the best setting's gain over them has a p-value "
            "(paired randomization test over the queries) at most this; 1 takes any gain.",
        ),
    ] = 0.05,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Choose this index's query-time settings (fusion; BM25 k1, b, headline boost) by nDCG@10
    on judged queries, and save them beside the index: query, eval and serve then use them
    (--no-tuned: the global defaults; --reset removes them). A setting replaces the defaults
    only when its gain is significant (--max-p)."""
    with user_errors():
        from newsearch.indexer.errors import QueryError
        from newsearch.search.tuned import reset_tuned, save_tuned

        if reset:
            if dataset is not None:
                raise QueryError("--reset takes no DATASET")
            removed = reset_tuned(index_dir)
            if as_json:
                print(json.dumps({"index_dir": str(index_dir), "removed": removed}))
            elif removed:
                render.note(f"removed the tuned settings of {index_dir}: global defaults apply")
            else:
                render.note(f"{index_dir} has no tuned settings")
            return
        if dataset is None:
            raise QueryError("give the DATASET to tune on (or --reset)")
        if not 0.0 < max_p <= 1.0:
            raise QueryError(f"--max-p must be above 0 and at most 1, got {max_p:g}")
        from newsearch.cluster.manifest import is_cluster

        if is_cluster(index_dir):
            raise QueryError(f"{index_dir} is a cluster directory: tune one index directory")
        from newsearch.search import SearchConfig, Searcher
        from newsearch.search.evaluate import load_beir
        from newsearch.search.tune import tune as run_tune

        data = load_beir(dataset, split, need_corpus=False)
        if split == "test" and not as_json:
            render.warning("tuning on the test split: its scores are no longer held-out numbers")
        bars = BarProgress(enabled=not quiet and not as_json)
        try:  # an explicit config: earlier tuned settings (even a damaged file) play no part
            with Searcher(index_dir, config=SearchConfig()) as searcher:
                report = run_tune(searcher, data, progress=bars, check=check, max_p=max_p)
        finally:
            bars.stop()
        saved = None if dry_run else save_tuned(index_dir, report.settings())
        if as_json:
            print(json.dumps({**report.to_dict(), "saved": str(saved) if saved else None}))
            return
        render.print_tune(report, top, saved)


@app.command()
def serve(
    index_dir: IndexDir = Path(DEFAULT_INDEX_DIR),
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback unless told otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    watch: Annotated[
        list[Path] | None,
        typer.Option("--watch", help="Follow this folder and apply its changes (repeatable)."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
    model: ModelOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds a request may take (then 504).")] = 10.0,
    debounce: Annotated[
        float, typer.Option(help="--watch: seconds of quiet to wait for before applying.")
    ] = 1.0,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    cluster: Annotated[
        Path | None,
        typer.Option(
            "--cluster",
            help="Serve this cluster directory (built by `index --shards/--ray`) as one index "
            "(instead of --index-dir).",
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="With --cluster: deploy each shard as a Ray Serve deployment on this cluster "
            "(head host:port; 'auto': a local Ray instance).",
        ),
    ] = None,
    replicas: Annotated[
        int,
        typer.Option(
            help="With --ray: replicas per shard; Ray Serve replaces one that dies, and "
            "its requests go to another."
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the search page at /, following the index
    (or a cluster directory's shards, in this process or as Ray Serve deployments)."""
    with user_errors():
        from newsearch.server.config import ServerConfig
        from newsearch.server.run import ServeError
        from newsearch.server.run import serve as run_server

        if cluster is not None:
            from newsearch.cluster.manifest import is_cluster

            if not is_cluster(cluster):
                raise ServeError(
                    f"no cluster at {cluster} (no cluster.json): build one with "
                    "`newsearch index PATH --index-dir DIR --shards N`"
                )
            index_dir = cluster
        config = ServerConfig(
            index_dir=str(index_dir),
            ray_address=ray,
            replicas=replicas,
            model_path=str(model) if model else None,
            watch=[str(p) for p in watch or []],
            timeout=timeout,
            debounce=debounce,
        )
        run_server(
            config,
            host=host,
            port=port,
            workers=workers,
            say=render.note,
            access_log=access_log,
        )


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:  # `newsearch query … | head`
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
