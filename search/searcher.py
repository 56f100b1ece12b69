"""The hybrid searcher: composes the keyword and the vector searcher, fuses, groups by article.

Open it once per index and share it: ``search()`` is safe to call from many threads (Whoosh
searchers and SQLite connections are per thread; FAISS flat search is read-only; the query
encoder is loaded once under a lock). The generation it reads is fixed when it is opened, so
a rebuild never changes results under a running query.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from newsearch.indexer.docstore import Docstore
from newsearch.indexer.embedder import Embedder, ModelInfo, resolve_model
from newsearch.indexer.errors import ModelError, QueryError
from newsearch.indexer.keyword import KeywordConfig, KeywordIndex
from newsearch.indexer.layout import (
    DOCSTORE_FILE,
    KEYWORD_DIR,
    VECTORS_FILE,
    IndexLayout,
    IndexMeta,
)
from newsearch.indexer.vectors import VectorIndex

from .fusion import Fusion
from .results import ArticleHit, ParagraphHit, SearchResults

Mode = Literal["hybrid", "bm25", "dense"]
MODES: tuple[str, ...] = ("hybrid", "bm25", "dense")
MAX_K = 1000
#: Longer queries are cut: BM25 over thousands of OR'ed terms is slow and the model sees 256
#: tokens anyway.
MAX_QUERY_CHARS = 2000


@dataclass(frozen=True)
class SearchConfig:
    """Query-time knobs. ``candidates`` paragraphs are taken from each single searcher (more
    when that many do not fill ``k`` articles); ``fusion`` is the default way to merge them.
    Deeper lists help min-max fusion (a truer minimum); 1000 was best on SciFact train."""

    candidates: int = 1000
    fusion: Fusion = field(default_factory=Fusion)
    paragraphs_per_hit: int = 2
    keyword: KeywordConfig = field(default_factory=KeywordConfig)


class Searcher:
    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        model_path: str | os.PathLike[str] | None = None,
        config: SearchConfig | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.layout = IndexLayout(index_dir)
        self.config = config or SearchConfig()
        self.generation = self.layout.current()
        self.meta: IndexMeta = self.layout.read_meta(self.generation)
        self.docstore = Docstore(self.generation / DOCSTORE_FILE)
        self.keyword = KeywordIndex(self.generation / KEYWORD_DIR, self.config.keyword)
        self.vectors = VectorIndex(self.generation / VECTORS_FILE, self.meta.model.dim)
        self._model_path = model_path
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        if embedder is not None:
            _check_same_model(self.meta.model, embedder.info)

    # -- the single searchers -------------------------------------------------------------

    def _query_embedder(self) -> Embedder:
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = Embedder(self._resolve_model())
            return self._embedder

    def _resolve_model(self) -> ModelInfo:
        """The model that built the index: the one asked for, else the recorded folder, else
        the packaged default; whichever it is, its weights must hash to the recorded value."""
        built = self.meta.model
        if self._model_path is not None:
            info = resolve_model(self._model_path)
        elif os.path.isdir(built.path):
            info = resolve_model(built.path)
        else:
            info = resolve_model(None)
        _check_same_model(built, info)
        return info

    def encode_query(self, query: str) -> np.ndarray:
        return self._query_embedder().encode_query(query)

    def keyword_search(self, query: str, limit: int) -> list[tuple[int, float]]:
        return self.keyword.search(query, limit)

    def dense_search(self, query: str, limit: int) -> list[tuple[int, float]]:
        return self._dense(self.encode_query(query), limit)

    def _dense(self, qvec: np.ndarray, limit: int) -> list[tuple[int, float]]:
        return [(h.pid, h.score) for h in self.vectors.search(qvec, limit)]

    # -- hybrid ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        mode: Mode | str = "hybrid",
        fusion: Fusion | None = None,
    ) -> SearchResults:
        """Top ``k`` articles for ``query``, each scored by its best paragraph.

        ``fusion`` overrides the configured way hybrid mode merges its two lists.
        """
        started = time.perf_counter()
        query = _clean_query(query)
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if not isinstance(k, int) or k < 1:
            raise QueryError(f"k must be a positive whole number, got {k!r}")
        k = min(k, MAX_K)
        fusion = fusion or self.config.fusion
        total = max(1, self.meta.paragraphs)
        limit = min(max(self.config.candidates, k), total)
        qvec = self.encode_query(query) if mode in ("hybrid", "dense") else None
        while True:
            kw = self.keyword_search(query, limit) if mode in ("hybrid", "bm25") else []
            dense = self._dense(qvec, limit) if qvec is not None else []
            if mode == "bm25":
                fused = kw
            elif mode == "dense":
                fused = dense
            else:
                fused = fusion.fuse(kw, dense)
            hits = self._group(fused, kw, dense, k)
            # Articles with many matching paragraphs can leave fewer than k articles: dig deeper.
            if len(hits) >= k or limit >= total:
                break
            limit = min(limit * 4, total)
        took = (time.perf_counter() - started) * 1000
        return SearchResults(query=query, mode=mode, k=k, hits=hits, took_ms=round(took, 2))

    def _group(
        self,
        fused: list[tuple[int, float]],
        kw: list[tuple[int, float]],
        dense: list[tuple[int, float]],
        k: int,
    ) -> list[ArticleHit]:
        kw_pos = {pid: (rank, score) for rank, (pid, score) in enumerate(kw, start=1)}
        dense_pos = {pid: (rank, score) for rank, (pid, score) in enumerate(dense, start=1)}
        paragraphs = self.docstore.paragraphs(pid for pid, _ in fused)

        per_article: dict[str, list[ParagraphHit]] = {}
        for pid, score in fused:
            p = paragraphs.get(pid)
            if p is None:  # the stores disagree: never show a hit we cannot describe
                continue
            kr, ks = kw_pos.get(pid, (None, None))
            vr, vs = dense_pos.get(pid, (None, None))
            hit = ParagraphHit(pid, p.position, p.text, p.context, score, kr, ks, vr, vs)
            group = per_article.setdefault(p.article_id, [])
            if len(group) < self.config.paragraphs_per_hit:
                group.append(hit)
            if len(per_article) >= k and all(
                len(g) >= self.config.paragraphs_per_hit for g in per_article.values()
            ):
                break

        top = list(per_article.items())[:k]  # insertion order = order of best paragraph
        articles = self.docstore.articles(aid for aid, _ in top)
        out = []
        for rank, (aid, group) in enumerate(top, start=1):
            a = articles.get(aid)
            out.append(
                ArticleHit(
                    rank=rank,
                    article_id=aid,
                    title=a.title if a else "",
                    score=group[0].score,
                    paragraphs=group,
                    source_path=a.source_path if a else "",
                    date=a.date if a else "",
                    source=a.source if a else "",
                    url=a.url if a else "",
                    category=a.category if a else "",
                )
            )
        return out

    def close(self) -> None:
        self.keyword.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _clean_query(query: str) -> str:
    if not isinstance(query, str):
        raise QueryError("the query must be text")
    cleaned = "".join(c if c.isprintable() else " " for c in query[:MAX_QUERY_CHARS])
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QueryError("the query is empty")
    return cleaned


def _check_same_model(built: ModelInfo, given: ModelInfo) -> None:
    if built.sha256 != given.sha256 or built.dim != given.dim:
        raise ModelError(
            f"this index was built with model {built.name} (weights {built.sha256[:12]}…, "
            f"dim {built.dim}) but the model at {given.path} is {given.name} "
            f"(weights {given.sha256[:12]}…, dim {given.dim}): query with --model pointing at "
            "the model that built the index, or rebuild it with `newsearch index PATH`"
        )
