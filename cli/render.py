"""How the CLI shows things: rich text on a terminal, progress bars on stderr.

The library returns typed results (``SearchResults``, ``UpdateReport``, ``IndexStatus``, the
eval report); this module only draws them. Everything from an article or a query goes through
``escape``: article text is data, never rich markup.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape


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

#: Skipped files and warnings listed one per line before the rest are only counted (``--json``
#: has them all).
MAX_LISTED = 50


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}")


def note(line: str) -> None:
    """A line of progress news on stderr (``watch``), shown as it is."""
    err.print(escape(line))


def warning(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}")


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


def print_update(report: Any, index_dir: Any, as_json: bool = False) -> None:
    for kind, items in (("skipped", report.skipped), ("warning", report.warnings)):
        for item in items[:MAX_LISTED]:
            err.print(f"[yellow]{kind}[/] {escape(str(item))}")
        if len(items) > MAX_LISTED:
            err.print(f"[yellow]{kind}[/] … and {len(items) - MAX_LISTED} more (see --json)")
    if as_json:
        print(json.dumps(report.to_dict(str(index_dir)), ensure_ascii=False), flush=True)
        return
    from newsearch.indexer.reports import skip_reasons

    reasons = skip_reasons(report.skipped)
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


def print_cluster_build(report: Any, as_json: bool = False) -> None:
    """A cluster build: one line per shard (where it ran), then the totals."""
    for kind, items in (("skipped", report.skipped), ("warning", report.warnings)):
        for item in items[:MAX_LISTED]:
            err.print(f"[yellow]{kind}[/] {escape(str(item))}")
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False), flush=True)
        return
    for s in report.shards:
        where = f" on node {s.node[:12]}" if s.node else ""
        out.print(
            f"shard {s.shard}: {s.articles} articles ({s.stories} stories), {s.paragraphs} "
            f"paragraphs, {s.embedded} embedded, {s.reused} reused, {s.seconds:.1f}s{where}"
        )
    out.print(
        f"indexed [bold]{report.articles}[/] articles, {report.paragraphs} paragraphs in "
        f"{len(report.shards)} shards in {report.seconds:.1f}s"
        f"{f' (Ray {escape(report.ray)})' if report.ray else ''} → {escape(report.cluster_dir)}"
    )


def _reasons_text(reasons: dict[str, int]) -> str:
    if not reasons:
        return ""
    return " (" + ", ".join(f"{n} {escape(kind)}" for kind, n in reasons.items()) + ")"


#: How a snippet mark is drawn, by ``Match.kind``: query words bold yellow, the sentence that
#: matched by meaning underlined in cyan.
MARK_STYLES = {"word": "bold yellow", "semantic": "underline cyan"}


def marked(snippet: Any) -> Any:
    """A snippet as rich Text with the query's words (or the sentence that matched by
    meaning) highlighted."""
    from rich.text import Text

    text = Text(snippet.text)
    for m in snippet.matches:
        text.stylize(MARK_STYLES.get(getattr(m, "kind", "word"), "bold yellow"), m.start, m.end)
    return text


#: Values listed per facet (``--json`` has them all).
MAX_FACET_VALUES = 12


def print_facets(facets: Any) -> None:
    """Facet counts after the hits: one line per facet, most frequent values first."""
    what = f"{facets.total} matching"
    if facets.depth:
        what += f"; by meaning: the {facets.depth} nearest paragraphs"
    if not facets.words_complete:
        what += "; by words: the best paragraphs only"
    out.print(f"[bold]facets[/] [dim]({escape(what)})[/]")
    for name in ("category", "source", "month"):
        values = getattr(facets, name)
        if not values:
            continue
        shown = ", ".join(f"{escape(v.value)} {v.count}" for v in values[:MAX_FACET_VALUES])
        more = len(values) - MAX_FACET_VALUES
        out.print(f"  [cyan]{name:>8}[/]  {shown}{f' … (+{more} more)' if more > 0 else ''}")


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


def print_results(results: Any, explain: bool = False) -> None:
    shown = results.query if len(results.query) <= 80 else results.query[:79] + "…"
    if not results.hits:
        out.print(f"no results for [bold]{escape(shown)}[/] ({results.mode})")
        return
    first = f" from #{results.offset + 1}" if results.offset else ""
    decay = getattr(results, "recency", None)
    lifted = f", recency half-life {decay['half_life_days']:g}d" if decay else ""
    out.print(
        f"[dim]{len(results.hits)} results{first} for[/] [bold]{escape(shown)}[/] "
        f"[dim]({results.mode}{lifted}, {results.took_ms:.0f} ms)[/]\n"
    )
    print_hits(results.hits, explain)


def print_related(results: Any, explain: bool = False) -> None:
    """``newsearch related``: the article, the words it shares, then its related stories."""
    out.print(
        f"[dim]{len(results.hits)} stories related to[/] [bold]{escape(results.title)}[/] "
        f"[dim]{escape(results.article_id)} ({results.took_ms:.0f} ms)[/]"
    )
    if results.terms:
        out.print(f"[dim]shared words searched: {escape(', '.join(results.terms[:12]))}…[/]")
    out.print()
    if not results.hits:
        out.print("no other story in the index is near it")
        return
    print_hits(results.hits, explain)


def print_hits(hits: Any, explain: bool = False) -> None:
    """Result hits, each with its best paragraphs (marked), where they ranked, its copies."""
    for hit in hits:
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
            out.print("    ", marked(p.snippet), sep="")
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


def print_status(status: Any, tuned: str | None = None) -> None:
    info = status.to_dict()
    stale_info = info.pop("stale", None)
    if tuned is not None:  # the query-time settings in use (``newsearch tune``)
        info["tuned"] = tuned
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


def print_eval(report: Any, dataset_name: str, split: str, index_dir: Any, seconds: float) -> None:
    out.print(
        f"[bold]{escape(dataset_name)}[/] {escape(split)}: {report.queries} queries, "
        f"index {escape(str(index_dir))}"
    )
    if report.missing_docs:
        out.print(f"[yellow]{report.missing_docs} judged documents are not in the index[/]")
    if report.tuned is not None:
        from newsearch.search.tuned import TunedSettings

        described = TunedSettings.from_json(report.tuned).describe()
        out.print(f"tuned settings in use: {escape(described)} (--no-tuned: the defaults)")
    out.print(f"{'mode':<8} {'nDCG@10':>8} {'R@100':>8} {'MRR@10':>8} {'seconds':>8}")
    for row in report.results:
        m = row.metrics
        out.print(
            f"{row.mode:<8} {m['ndcg@10']:>8.4f} {m['recall@100']:>8.4f} "
            f"{m['mrr@10']:>8.4f} {row.seconds:>8.1f}"
        )
        if row.fusion:
            out.print(f"[dim]  hybrid fusion: {escape(str(row.fusion))}[/]")
    out.print(f"[dim]total {seconds:.1f}s[/]")


def print_tune(report: Any, top: int, saved: Any) -> None:
    """The grid's best rows, the defaults' row, and what was chosen and saved."""
    out.print(
        f"[bold]{escape(report.dataset)}[/] {escape(report.split)}: {report.queries} queries, "
        f"index {escape(report.index_dir)}, {len(report.rows)} settings scored, "
        f"lists of {report.depth} paragraphs, {report.seconds:.0f}s"
    )
    if report.missing_docs:
        out.print(f"[yellow]{report.missing_docs} judged documents are not in the index[/]")
    for name, m in report.single.items():
        out.print(f"[dim]{name} alone (default parameters): nDCG@10 {m['ndcg@10']:.4f}[/]")
    out.print(f"{'nDCG@10':>8} {'R@100':>8} {'MRR@10':>8}  setting")
    default = report.default
    rows = report.ranked()[: max(0, top)]
    for row in [*rows, *([default] if default not in rows else [])]:
        m = row.metrics
        mark = "  [dim](defaults)[/]" if row is default else ""
        out.print(
            f"{m['ndcg@10']:>8.4f} {m['recall@100']:>8.4f} {m['mrr@10']:>8.4f}  "
            f"{escape(row.label())}{mark}"
        )
    best = report.best
    gain = best.ndcg10 - default.ndcg10
    test = f"p={report.p_value:.3g}" if report.p_value is not None else "the defaults"
    if report.adopted:
        out.print(f"chosen: {escape(best.label())} (nDCG@10 {gain:+.4f} over the defaults, {test})")
    elif report.p_value is not None:
        out.print(
            f"chosen: the defaults. The best, {escape(best.label())}, gains {gain:+.4f} with "
            f"{test} > {report.max_p:g}: not a significant gain on {report.queries} queries"
        )
    else:
        out.print("chosen: the defaults (no setting of the grid beats them)")
    if report.alone:
        k, metrics = report.best_alone
        score, default_score = metrics["ndcg@10"], report.single["bm25"]["ndcg@10"]
        what = (
            f"k1={k.k1:g} b={k.b:g} headline={k.title_boost:g} idf={k.idf}, best of "
            f"{len(report.alone)} BM25 settings alone (nDCG@10 {score:.4f}, "
            f"{score - default_score:+.4f} over the defaults"
        )
        p = report.bm25_p_value
        if report.bm25_adopted:
            out.print(f"bm25 mode: {what}, p={p:.3g})")
        elif p is not None:
            out.print(
                f"bm25 mode: the defaults. The best alone, {what}, p={p:.3g} > "
                f"{report.max_p:g}): not significant"
            )
        else:
            out.print("bm25 mode: the defaults (no BM25 setting alone beats them)")
    if report.checked:
        out.print(
            f"[dim]checked: {report.agreed} of {report.checked} queries rank the same through "
            "the searcher[/]"
        )
    if saved is not None:
        out.print(
            f"saved to {escape(str(saved))}: query, eval and serve on this index use it "
            "(--no-tuned: the defaults; `newsearch tune --reset` removes it)"
        )
    else:
        out.print("[dim]--dry-run: nothing saved[/]")
