"""The ASGI application: JSON API, OpenAPI docs at ``/docs``, and the search page at ``/``.

Every answer that is not a success is one line of JSON, ``{"error": "..."}``, with the status
saying whose problem it is: 400/422 a bad request, 404 an unknown article, story or route,
410 a generation token no longer kept, 413 a body over the limit, 503 no index to serve (the
message says what to run), 504 a query over the time limit. No traceback is ever sent.

Searches run in worker threads (the library is thread-safe); the event loop only parses,
encodes and waits, with a deadline per request. No endpoint writes the index or takes a
filesystem path from a request: ids and tokens are only looked up as keys.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

import anyio
import anyio.to_thread
from fastapi import Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from newsearch.cluster.runtime import ClusterError
from newsearch.indexer.errors import (
    IndexFormatError,
    IndexNotFoundError,
    ModelError,
    NewsearchError,
    QueryError,
)
from newsearch.search import Fusion
from newsearch.search.filters import Filter
from newsearch.search.live import GenerationGoneError, IndexUnavailableError
from newsearch.search.query import MAX_QUERY_CHARS, prepare_query
from newsearch.search.recency import make_recency
from newsearch.search.related import UnknownArticleError
from newsearch.search.searcher import MAX_K

from .backend import Served, open_served
from .config import ServerConfig
from .limits import BodyLimit
from .page import PAGE_SIZE, Page, PageState, build_page
from .watcher import Watcher

log = logging.getLogger("newsearch.server")

#: The page's security policy: no script of any origin runs, whatever the text holds.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

Mode = Literal["hybrid", "bm25", "dense"]
FusionName = Literal["coverage", "convex", "rrf"]


class SearchRequest(BaseModel):
    """``POST /search``: the fields of ``GET /search``, as JSON."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(description='the query: free text, "quoted phrases" stay phrases')
    k: int = Field(10, ge=1, le=MAX_K, description="hits per page")
    offset: int = Field(0, ge=0, description="stories to skip (offset + k <= 1000, else 400)")
    mode: Mode = "hybrid"
    fusion: FusionName | None = None
    source: list[str] = Field(default_factory=list)
    category: list[str] = Field(default_factory=list)
    since: str = Field("", description="YYYY-MM-DD, YYYY-MM or YYYY (inclusive)")
    until: str = Field("", description="YYYY-MM-DD, YYYY-MM or YYYY (inclusive)")
    collapse: bool = True
    facets: bool = Field(False, description="count category, source and month over all matches")
    highlights: bool = Field(
        True, description="mark the sentence that matched by meaning where no query word is"
    )
    generation: str | None = Field(
        None, description="the `generation` of an earlier answer: page within that generation"
    )
    recency: str | float | None = Field(
        None, description="lift recent stories: a half-life such as 30d, 12h, 2w (days if bare)"
    )
    recency_weight: float | None = Field(
        None, ge=0, lt=1, description="the decay's weight w (default 0.5): old stories keep 1 - w"
    )
    now: str | None = Field(None, description="age stories relative to this date (YYYY-MM-DD)")


def error_status(exc: BaseException) -> int:
    """The HTTP status of a library error."""
    if isinstance(exc, GenerationGoneError):
        return 410
    if isinstance(exc, QueryError):
        return 400
    if isinstance(exc, (IndexUnavailableError, IndexNotFoundError, IndexFormatError, ModelError)):
        return 503
    if isinstance(exc, ClusterError):  # a shard (or Ray) not answering: no partial page
        return 503
    return 500


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), status_code=status, media_type="application/json")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fusion(name: str | None, base: Fusion) -> Fusion | None:
    """The searcher's fusion (its index's tuned settings, if any) with another method."""
    if not name:
        return None
    try:
        return replace(base, method=name)  # type: ignore[arg-type]
    except ValueError as exc:
        raise QueryError(str(exc)) from None


def create_app(
    config: ServerConfig, live: Served | None = None, watch_here: bool = True
) -> FastAPI:
    """The application over ``config.index_dir`` (an index or a cluster directory); with
    ``watch_here`` it also runs the watcher for ``config.watch`` (``run.serve`` turns that off
    for worker processes)."""
    live = live or open_served(config, log=log.warning)
    watcher = Watcher(config, on_applied=live.refresh) if (config.watch and watch_here) else None
    templates = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    page_template = templates.get_template("page.html")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(live.start, config.poll)
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                await anyio.to_thread.run_sync(watcher.stop)
            live.close()

    app = FastAPI(
        title="newsearch",
        summary="Hybrid (BM25 + dense vector) search over news articles, live while they arrive.",
        version="1",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.live = live
    app.state.watcher = watcher
    app.add_middleware(BodyLimit, limit=config.max_body)

    async def in_thread(fn: Callable[[], Any]) -> Any:
        """``fn`` in a worker thread, answered 504 after ``config.timeout`` (the thread
        finishes on its own; its result is dropped)."""
        with anyio.move_on_after(config.timeout) as scope:
            return await anyio.to_thread.run_sync(fn, abandon_on_cancel=True)
        if scope.cancelled_caught:
            raise _Timeout
        raise AssertionError("unreachable")  # pragma: no cover

    # -- errors ---------------------------------------------------------------------------

    @app.exception_handler(NewsearchError)
    async def library_error(request: Request, exc: NewsearchError) -> Response:
        return _json({"error": _one_line(str(exc))}, error_status(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        message = first.get("msg", "invalid request")
        return _json({"error": _one_line(f"{where}: {message}")}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _json({"error": _one_line(str(exc.detail))}, exc.status_code)

    @app.exception_handler(_Timeout)
    async def timed_out(request: Request, exc: _Timeout) -> Response:
        return _json({"error": f"the request took longer than {config.timeout:g} s"}, 504)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s: %r", request.url.path, exc)
        return _json({"error": f"internal error ({type(exc).__name__})"}, 500)

    # -- search ---------------------------------------------------------------------------

    def run_search(req: SearchRequest) -> dict[str, Any]:
        if req.offset + req.k > MAX_K:
            raise QueryError(f"offset + k must be at most {MAX_K}, got {req.offset + req.k}")
        prepared = prepare_query(req.q)
        filters = Filter.make(
            source=req.source, category=req.category, since=req.since, until=req.until
        )
        decay = make_recency(req.recency, req.recency_weight)
        if decay is None and (req.now or req.recency_weight is not None):
            raise QueryError("now and recency_weight need recency (a half-life such as 30d)")
        with live.use(req.generation) as searcher:
            results = searcher.search(
                req.q,
                k=req.k,
                mode=req.mode,
                filters=filters,
                collapse=req.collapse,
                fusion=_fusion(req.fusion, searcher.config.fusion),
                offset=req.offset,
                facets=req.facets,
                recency=decay,
                now=req.now,
                highlights=req.highlights,
            )
            generation = searcher.generation.name
        answer = results.to_dict()
        answer["generation"] = generation
        answer["warnings"] = (
            [
                f"the query is longer than {MAX_QUERY_CHARS:,} characters; "
                f"only its first {MAX_QUERY_CHARS:,} are searched"
            ]
            if prepared.truncated
            else []
        )
        return answer

    @app.get("/search", summary="Search (query string)", tags=["search"])
    async def search_get(
        q: Annotated[str, Query(description="the query")],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        offset: Annotated[int, Query(ge=0)] = 0,
        mode: Mode = "hybrid",
        fusion: FusionName | None = None,
        source: Annotated[list[str] | None, Query()] = None,
        category: Annotated[list[str] | None, Query()] = None,
        since: str = "",
        until: str = "",
        collapse: bool = True,
        facets: bool = False,
        highlights: bool = True,
        generation: str | None = None,
        recency: str | None = None,
        recency_weight: Annotated[float | None, Query(ge=0, lt=1)] = None,
        now: str | None = None,
    ) -> Response:
        """The `newsearch.results/1.1` answer of `newsearch query --json`, plus `offset`,
        `total_estimate`, `generation` (pass it back for the next page: pages of one
        generation never repeat or skip a story) and `warnings`."""
        req = SearchRequest(
            q=q,
            k=k,
            offset=offset,
            mode=mode,
            fusion=fusion,
            source=source or [],
            category=category or [],
            since=since,
            until=until,
            collapse=collapse,
            facets=facets,
            highlights=highlights,
            generation=generation,
            recency=recency,
            recency_weight=recency_weight,
            now=now,
        )
        return _json(await in_thread(lambda: run_search(req)))

    @app.post("/search", summary="Search (JSON body)", tags=["search"])
    async def search_post(req: Annotated[SearchRequest, Body()]) -> Response:
        """As `GET /search`, with the fields in a JSON body."""
        return _json(await in_thread(lambda: run_search(req)))

    # -- articles, stories ----------------------------------------------------------------

    def read_article(article_id: str, generation: str | None) -> dict[str, Any]:
        with live.use(generation) as searcher:
            found = searcher.docstore.articles([article_id]).get(article_id)
            if found is None:
                raise StarletteHTTPException(404, f"no article {article_id!r} in the index")
            paragraphs = searcher.docstore.article_paragraphs(article_id)
            return {
                "article": {
                    "id": found.id,
                    "title": found.title,
                    "date": found.date,
                    "source": found.source,
                    "url": found.url,
                    "category": found.category,
                    "source_path": found.source_path,
                    "story_id": found.story_id or found.id,
                    "story_note": found.story_note,
                },
                "paragraphs": [
                    {"pid": p.pid, "position": p.position, "context": p.context, "text": p.text}
                    for p in paragraphs
                ],
                "generation": searcher.generation.name,
            }

    def read_related(article_id: str, k: int, generation: str | None) -> dict[str, Any]:
        with live.use(generation) as searcher:
            try:
                results = searcher.related(article_id, k=k)
            except UnknownArticleError as exc:
                raise StarletteHTTPException(404, str(exc)) from None
            return {**results.to_dict(), "generation": searcher.generation.name}

    # Before /articles/{id}: ids hold slashes, so that route would take ".../related" too.
    @app.get(
        "/articles/{article_id:path}/related",
        summary="Stories related to an article",
        tags=["read"],
    )
    async def related(
        article_id: str,
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        generation: str | None = None,
    ) -> Response:
        """The `newsearch.related/1` answer of `newsearch related --json`: the stories nearest
        to the article by meaning and by shared rare words, its own story left out; 404 for
        an unknown article."""
        return _json(await in_thread(lambda: read_related(article_id, k, generation)))

    @app.get("/articles/{article_id:path}", summary="An article and its paragraphs", tags=["read"])
    async def article(article_id: str, generation: str | None = None) -> Response:
        return _json(await in_thread(lambda: read_article(article_id, generation)))

    def read_story(story_id: str, generation: str | None) -> dict[str, Any]:
        with live.use(generation) as searcher:
            members = searcher.docstore.story_members([story_id]).get(story_id, [])
            if not members:
                raise StarletteHTTPException(404, f"no story {story_id!r} in the index")
            return {
                "story_id": story_id,
                "articles": [
                    {
                        "id": a.id,
                        "title": a.title,
                        "date": a.date,
                        "source": a.source,
                        "url": a.url,
                        "category": a.category,
                        "note": a.story_note,
                    }
                    for a in members
                ],
                "generation": searcher.generation.name,
            }

    @app.get("/stories/{story_id:path}", summary="The articles of a story", tags=["read"])
    async def story(story_id: str, generation: str | None = None) -> Response:
        return _json(await in_thread(lambda: read_story(story_id, generation)))

    # -- health ---------------------------------------------------------------------------

    def status_info() -> dict[str, Any]:
        info: dict[str, Any] = {
            "ready": live.ready,
            "index_dir": str(config.index_dir),
            "generation": live.current_name,
            "kept_generations": live.kept,
            "problem": live.problem,
            "refused": None,
            "watch": watcher.status() if watcher is not None else None,
            "cluster": None,
        }
        if live.refused is not None:
            info["refused"] = {
                "generation": live.refused.generation,
                "reason": live.refused.reason,
            }
        if live.ready:
            with contextlib.suppress(NewsearchError), live.use() as searcher:
                meta = searcher.meta
                info.update(
                    generation=searcher.generation.name,
                    articles=meta.articles,
                    paragraphs=meta.paragraphs,
                    vectors=meta.vectors,
                    model=meta.model.name,
                    precision=meta.model.precision,
                    built_at=meta.built_at,
                )
                manifest = getattr(searcher, "manifest", None)
                if manifest is not None:
                    info["cluster"] = {
                        "shards": [
                            {
                                "name": Path(s.path).name,
                                "articles": s.articles,
                                "paragraphs": s.paragraphs,
                            }
                            for s in manifest.shards
                        ],
                        "ray": config.ray_address,
                        "replicas": config.replicas if config.ray_address else None,
                    }
        return info

    @app.get("/status", summary="What is served", tags=["health"])
    async def status() -> Response:
        return _json(status_info())

    @app.get("/healthz", summary="The process answers", tags=["health"])
    async def healthz() -> Response:
        return _json({"ok": True})

    @app.get("/readyz", summary="An index is open and served", tags=["health"])
    async def readyz() -> Response:
        if live.ready:
            return _json({"ready": True, "generation": live.current_name})
        return _json({"ready": False, "error": live.problem or "no index open"}, 503)

    # -- the page -------------------------------------------------------------------------

    def render(page: Page, status: int) -> HTMLResponse:
        html = page_template.render(page=page)
        return HTMLResponse(
            html,
            status_code=status,
            headers={"Content-Security-Policy": PAGE_CSP, "X-Content-Type-Options": "nosniff"},
        )

    def page_results(state: PageState) -> tuple[Page, int]:
        """One results page and its facet counts, both from one generation: the one that
        served the first page while it is kept (``state.g``), else the newest."""

        def on(searcher: Any, notice: str) -> tuple[Page, int]:
            filters = Filter.make(
                source=state.source, category=state.category, since=state.since, until=state.until
            )
            results = searcher.search(
                state.q,
                k=PAGE_SIZE,
                mode=state.mode,
                filters=filters,
                offset=state.offset,
                highlights=True,
            )
            counts = searcher.facets(
                state.q, state.mode, filters=replace(filters, source=(), category=())
            )
            months = searcher.facets(
                state.q, state.mode, filters=replace(filters, since="", until="")
            )
            page = build_page(state, results, searcher.generation.name, counts, months, notice)
            return page, 200

        token = (state.g or None) if state.page > 1 else None
        try:
            try:
                with live.use(token) as searcher:
                    return on(searcher, "")
            except GenerationGoneError:
                with live.use(None) as searcher:
                    return on(searcher, "The index changed since the first page: newest results.")
        except NewsearchError as exc:
            return Page(state=state, error=_one_line(str(exc))), error_status(exc)

    @app.get("/", response_class=HTMLResponse, summary="The search page", tags=["page"])
    async def home(request: Request) -> HTMLResponse:
        params = parse_qs(request.url.query, keep_blank_values=True)
        try:
            state = PageState.from_query(params)
        except ValueError as exc:
            return render(Page(state=PageState(), error=str(exc)), 400)
        if not state.q:
            error = "" if live.ready else (live.problem or "no index open")
            return render(Page(state=state, error=error), 200 if live.ready else 503)
        page, status = await in_thread(lambda: page_results(state))
        return render(page, status)

    return app


class _Timeout(Exception):
    pass


def app_from_env() -> FastAPI:
    """The app of a worker process (``uvicorn --factory``): configured by ``run.serve``
    through ``NEWSEARCH_SERVE_CONFIG``; the parent process runs the watcher."""
    import os

    data = json.loads(os.environ["NEWSEARCH_SERVE_CONFIG"])
    return create_app(ServerConfig(**data), watch_here=False)
