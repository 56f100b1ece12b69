"""The hybrid searcher: composes the keyword and the vector searcher, fuses, groups by article.

Open it once per index and share it: ``search()`` is safe to call from many threads (Whoosh
searchers and SQLite connections are per thread; FAISS flat search is read-only; the query
encoder is loaded once under a lock). The generation it reads is fixed when it is opened, so
a rebuild never changes results under a running query; ``refresh()`` moves to the newest
published generation, and each query runs wholly on one generation.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from newsearch.indexer.corpus.records import article_meta
from newsearch.indexer.docstore import StoredArticle
from newsearch.indexer.encoders import Encoder, ModelInfo, check_same_model, query_encoder
from newsearch.indexer.errors import QueryError
from newsearch.indexer.keyword import KeywordConfig
from newsearch.indexer.layout import IndexLayout, IndexMeta
from newsearch.indexer.ranked import Ranked
from newsearch.indexer.stores import (
    DocumentReader,
    Generation,
    KeywordReader,
    LocalGeneration,
    VectorReader,
)

from .collapse import collapse_stories
from .facets import MAX_WORD_PARAGRAPHS, ArticleTable, Facets, count_facets
from .filters import Filter
from .fusion import Fusion, bm25_coverage
from .highlights import nearest_sentences
from .query import clean_query as _clean_query
from .recency import DEFAULT_WEIGHT, Recency, make_recency, parse_now
from .related import RelatedConfig, RelatedResults, related_stories
from .results import ArticleHit, ParagraphHit, SearchResults
from .snippets import find_matches, make_snippet, query_stems
from .tuned import TunedSettings, load_tuned

Mode = Literal["hybrid", "bm25", "dense"]
MODES: tuple[str, ...] = ("hybrid", "bm25", "dense")
MAX_K = 1000
#: Fused paragraphs described (read from the docstore) at a time; see ``Searcher._group``.
_GROUP_CHUNK = 256


@dataclass(frozen=True)
class SearchConfig:
    """Query-time knobs. ``candidates`` paragraphs are taken from each single searcher (more
    when that many do not fill ``k`` articles); ``fusion`` is the default way to merge them.
    Deeper lists help min-max fusion (a truer minimum); 1000 was best on SciFact train."""

    candidates: int = 1000
    fusion: Fusion = field(default_factory=Fusion)
    paragraphs_per_hit: int = 2
    keyword: KeywordConfig = field(default_factory=KeywordConfig)
    #: BM25 of bm25 mode; None: ``keyword``. What a hybrid needs from BM25 is not what ranks
    #: best alone, so ``newsearch tune`` chooses the two apart (``search/tuned.py``).
    keyword_alone: KeywordConfig | None = None
    #: Mark the sentence nearest to the query in shown paragraphs that hold no query word
    #: (hybrid and dense mode). Off unless asked (``search(highlights=True)``; the CLI, the
    #: search page and the HTTP API ask): it encodes those paragraphs' sentences, a median
    #: 40 ms per BBC hybrid page, more than the rest of the page (BENCHMARKS.md, issue 15).
    semantic_highlights: bool = False
    #: Recency decay (``search/recency.py``): off when None; days otherwise.
    recency_half_life: float | None = None
    #: Its weight w: a story's score times 1 - w + w * 2^(-age / half_life).
    recency_weight: float = DEFAULT_WEIGHT

    def keyword_for(self, mode: str) -> KeywordConfig:
        """The BM25 parameters ``mode`` ranks with: ``keyword_alone`` in bm25 mode when set,
        else ``keyword`` (the searcher and ``eval``'s report read it here)."""
        if mode == "bm25" and self.keyword_alone is not None:
            return self.keyword_alone
        return self.keyword


class Searcher:
    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        model_path: str | os.PathLike[str] | None = None,
        config: SearchConfig | None = None,
        embedder: Encoder | None = None,
    ) -> None:
        self.layout = IndexLayout(index_dir)
        #: The index's tuned settings (``newsearch tune``, ``search/tuned.py``) when they are
        #: in use: a searcher opened without a ``config`` takes its fusion and BM25 from them.
        self.tuned: TunedSettings | None = None
        if config is None:
            self.tuned = load_tuned(self.layout.root)
            config = self.tuned.search_config(SearchConfig()) if self.tuned else SearchConfig()
        self.config = config
        self._pinned = threading.local()
        self._state: Generation = self._open_generation()
        self._model_path = model_path
        self._embedder: Encoder | None = embedder
        self._embedder_given = embedder is not None
        self._embedder_lock = threading.Lock()
        #: Facet lookups of the generations facets were counted on (``search/facets.py``).
        self._tables: dict[Path, ArticleTable | None] = {}
        self._tables_lock = threading.Lock()
        #: Runs BM25 beside the query encoder (``_first_lists``); made on first hybrid query.
        self._pool: ThreadPoolExecutor | None = None
        self._workers_lock = threading.Lock()
        if embedder is not None:
            check_same_model(self.meta.model, embedder.info)

    # -- the generation in use -----------------------------------------------------------

    def _open_generation(self) -> Generation:
        """The stores a query reads: this index directory's published generation. Another
        backend (a sharded cluster, ``newsearch.cluster``) overrides this one method."""
        return LocalGeneration(self.layout, self.config.keyword)

    def _current_state(self) -> Generation:
        return getattr(self._pinned, "state", None) or self._state

    @contextmanager
    def _one_generation(self) -> Iterator[None]:
        """Every store a call reads comes from one generation, even if ``refresh`` moves this
        searcher on meanwhile (the pin is per thread)."""
        self._pinned.state = self._state
        try:
            yield
        finally:
            self._pinned.state = None

    @property
    def generation(self) -> Path:
        return self._current_state().generation

    @property
    def meta(self) -> IndexMeta:
        return self._current_state().meta

    @property
    def docstore(self) -> DocumentReader:
        return self._current_state().docstore

    @property
    def keyword(self) -> KeywordReader:
        return self._current_state().keyword

    @property
    def vectors(self) -> VectorReader:
        return self._current_state().vectors

    def refresh(self) -> bool:
        """Switch to the newest published generation if ``CURRENT`` moved; True if it did.

        Queries already running finish on the generation they started on; the old
        generation's lease is released when the last of them lets go of it.
        """
        if self.layout.current_name() == self._state.generation.name:
            return False
        new = self._open_generation()
        if self._embedder_given:
            check_same_model(new.meta.model, self._embedder.info)  # type: ignore[union-attr]
        elif _space(new.meta.model) != _space(self._state.meta.model):
            with self._embedder_lock:  # rebuilt with other weights or precision
                self._embedder = None
        self._state = new
        return True

    # -- the single searchers -------------------------------------------------------------

    def _query_embedder(self) -> Encoder:
        """The embedder given, else the index's weights exported to ONNX (no torch in the
        process, so a one-off query starts fast), else sentence-transformers."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = query_encoder(self.meta.model, self.layout.root, self._model_path)
            return self._embedder

    def encode_query(self, query: str) -> np.ndarray:
        return self._query_embedder().encode_query(query)

    def keyword_search(self, query: str, limit: int, mode: str = "hybrid") -> Ranked:
        """BM25 candidates; in bm25 mode with ``config.keyword_alone``'s parameters."""
        return self._keyword_reader(mode).search(query, limit)

    def _keyword_reader(self, mode: str) -> KeywordReader:
        config = self.config.keyword_for(mode)
        if config is self.config.keyword:
            return self.keyword
        return self._current_state().keyword_with(config)

    def dense_search(self, query: str, limit: int) -> Ranked:
        return self._dense(self.encode_query(query), limit)

    def _dense(self, qvec: np.ndarray, limit: int) -> Ranked:
        return self.vectors.ranked(qvec, limit)

    # -- hybrid ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        mode: Mode | str = "hybrid",
        *,
        filters: Filter | None = None,
        collapse: bool = True,
        fusion: Fusion | None = None,
        offset: int = 0,
        facets: bool = False,
        recency: Recency | float | str | None = None,
        now: dt.datetime | dt.date | str | None = None,
        highlights: bool | None = None,
    ) -> SearchResults:
        """Top ``k`` stories for ``query`` (articles with ``collapse=False``), each scored by
        its best paragraph, with snippets.

        Filters and story collapsing act before the top k is cut, and k hits come back
        whenever k matching stories exist: each single searcher's candidate list is filtered by
        article metadata *before* fusion (ranks are ranks among eligible paragraphs), and when
        fewer than k hits survive filtering and collapsing, the candidate depth is multiplied
        by 4 and the search repeated, until k hits are found or the lists hold every paragraph
        that can match. ``fusion`` overrides the configured way hybrid mode merges its two
        lists.

        ``offset`` skips that many stories: the hits ranked ``offset + 1`` to ``offset + k``.
        Pages of one generation asked with the same ``k`` and parameters never repeat or skip
        a story: digging deeper appends the stories it finds after those already ranked
        instead of re-ranking them, so every page is a slice of one sequence.

        ``facets``: also count category, source and month over all the query's matching
        stories (``search/facets.py`` says which those are), in ``SearchResults.facets``.

        ``recency`` decays scores by age (``search/recency.py``): a ``Recency``, or a half-life
        (days, or ``"30d"``, ``"12h"``) weighted by ``config.recency_weight``; None uses
        ``config.recency_half_life`` (off by default), 0 turns it off. Age is counted to ``now``
        (default: the current time; pass one for reproducible pages).

        ``highlights``: in hybrid and dense mode, mark the sentence nearest to the query by
        meaning in shown paragraphs that hold no query word (``search/highlights.py``); None
        uses ``config.semantic_highlights`` (off: a display costs it, an embedding app rarely
        wants it).
        """
        decay = self._recency(recency)
        when = parse_now(now) if decay is not None else None
        marks = self.config.semantic_highlights if highlights is None else bool(highlights)
        with self._one_generation():
            return self._search(
                query,
                k,
                mode,
                filters,
                collapse,
                fusion,
                offset,
                facets,
                decay=decay,
                now=when,
                highlights=marks,
            )

    def _search(
        self,
        query: str,
        k: int,
        mode: Mode | str,
        filters: Filter | None,
        collapse: bool,
        fusion: Fusion | None,
        offset: int = 0,
        facets: bool = False,
        decay: Recency | None = None,
        now: dt.datetime | None = None,
        highlights: bool = False,
    ) -> SearchResults:
        started = time.perf_counter()
        query = _clean_query(query)
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        if not isinstance(k, int) or k < 1:
            raise QueryError(f"k must be a positive whole number, got {k!r}")
        k = min(k, MAX_K)
        if not isinstance(offset, int) or offset < 0:
            raise QueryError(f"offset must be a whole number >= 0, got {offset!r}")
        if offset + k > MAX_K:
            raise QueryError(f"offset + k must be at most {MAX_K}, got {offset + k}")
        want = offset + k
        filters = filters or Filter()
        fusion = fusion or self.config.fusion
        total = max(1, self.meta.paragraphs)
        # The first depth never depends on k or offset: pages of any size are then slices of
        # one sequence (a deeper first list for a bigger page would re-rank the top).
        limit = min(self.config.candidates, total)
        qvec, kw, dense, ceiling = self._first_lists(query, mode, limit, fusion)
        ranked: list[ArticleHit] = []  # stories (articles) in page order, across depths
        seen: set[str] = set()
        nearest: Ranked | None = None  # the first depth's, for facets
        while True:
            if nearest is not None:  # a deeper round
                kw = self.keyword_search(query, limit, mode) if mode != "dense" else Ranked.empty()
                dense = self._dense(qvec, limit) if qvec is not None else Ranked.empty()
            if nearest is None:
                nearest = dense
            exhausted = limit >= total or (mode == "bm25" and len(kw) < limit)
            if filters.active:
                kw, dense = self._filter(kw, filters), self._filter(dense, filters)
            if mode == "bm25":
                fused = kw
            elif mode == "dense":
                fused = dense
            else:
                fused = fusion.fuse(kw, dense, bm25_coverage(kw, ceiling))
            if decay is not None and now is not None:
                fused = self._decayed(fused, decay, now)

            hits = self._group(fused, kw, dense, want, by_story=collapse)
            if collapse:
                hits = collapse_stories(hits, self.docstore, want)
            # The top ``want`` of a deeper list hold at least ``want - len(ranked)`` new ones.
            for hit in hits:
                key = hit.story_id if collapse else hit.article_id
                if key not in seen:
                    seen.add(key)
                    ranked.append(hit)
            # Filters, collapsing and articles with many matching paragraphs can leave fewer
            # than k hits: dig deeper.
            if len(ranked) >= want or exhausted:
                break
            limit = min(total, limit * 4)

        if len(ranked) < want:  # every candidate was seen: the count is exact
            estimate = len(ranked)
        else:  # the fused candidates, in articles
            per_article = max(1, self.meta.paragraphs) / max(1, self.meta.articles)
            estimate = min(self.meta.articles, max(want, round(len(fused) / per_article)))
        page = [replace(h, rank=rank) for rank, h in enumerate(ranked[offset:want], offset + 1)]
        encode = None
        if qvec is not None and highlights:
            encode = getattr(self._query_embedder(), "encode", None)
        hits = _with_snippets(page, query, qvec, encode)
        counted = self._facets(query, mode, qvec, filters, collapse, nearest) if facets else None
        took = (time.perf_counter() - started) * 1000
        return SearchResults(
            query=query,
            mode=mode,
            k=k,
            hits=hits,
            took_ms=round(took, 2),
            collapse=collapse,
            filters=filters,
            offset=offset,
            total_estimate=estimate,
            facets=counted,
            recency=_recency_dict(decay, now),
        )

    def candidates(
        self,
        query: str,
        depth: int | None = None,
        mode: Mode | str = "hybrid",
        fusion: Fusion | None = None,
    ) -> Ranked:
        """The ranked paragraph ids and scores a page is made from (``depth`` from each
        searcher, default ``config.candidates``; fused in hybrid mode), before filters,
        grouping and stories: for an app that reranks or groups by itself, and for
        benchmarks against engines that return ids."""
        if mode not in MODES:
            raise QueryError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
        fusion = fusion or self.config.fusion
        with self._one_generation():
            query = _clean_query(query)
            limit = min(depth or self.config.candidates, max(1, self.meta.paragraphs))
            _, kw, dense, ceiling = self._first_lists(query, mode, limit, fusion)
        if mode == "bm25":
            return kw
        if mode == "dense":
            return dense
        return fusion.fuse(kw, dense, bm25_coverage(kw, ceiling))  # type: ignore[return-value]

    def _first_lists(
        self, query: str, mode: str, limit: int, fusion: Fusion
    ) -> tuple[np.ndarray | None, Ranked, Ranked, float | None]:
        """The query vector, both candidate lists at ``limit`` and BM25's ceiling.

        In hybrid mode BM25 (and its ceiling) runs on a worker thread while this one encodes
        the query: the encoder spends most of a query's time in onnxruntime, which releases
        the GIL, so BM25's millisecond is hidden behind it instead of added to it
        (BENCHMARKS.md "Issue 15, part 1"). The worker reads this call's generation."""
        if mode == "bm25":
            return None, self.keyword_search(query, limit, mode), Ranked.empty(), None
        if mode == "dense":
            qvec = self.encode_query(query)
            return qvec, Ranked.empty(), self._dense(qvec, limit), None
        keyword = self.keyword
        beside = self._workers().submit(
            _keyword_and_ceiling, keyword, query, limit, fusion.needs_coverage
        )
        try:
            qvec = self.encode_query(query)
        finally:
            kw, ceiling = beside.result()
        return qvec, kw, self._dense(qvec, limit), ceiling

    def _workers(self) -> ThreadPoolExecutor:
        with self._workers_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="newsearch-bm25"
                )
            return self._pool

    def _recency(self, recency: Recency | float | str | None) -> Recency | None:
        """The decay a search applies: the one given, else the configured one, or none."""
        if isinstance(recency, Recency):
            return recency
        if recency is None:
            recency = self.config.recency_half_life
        return make_recency(recency, self.config.recency_weight)

    def _decayed(
        self, ranked: Sequence[tuple[int, float]], decay: Recency, now: dt.datetime
    ) -> list[tuple[int, float]]:
        """A fused candidate list with each paragraph's score times its article's recency
        factor, best first again (the factor is per article, so an article's and a story's
        score, their best paragraph's, are the decayed ones)."""
        paragraphs = self.docstore.paragraphs(pid for pid, _ in ranked)
        articles = self.docstore.articles({p.article_id for p in paragraphs.values()})
        factor = {aid: decay.factor(a.date, now) for aid, a in articles.items()}
        out = [
            (pid, s * factor.get(paragraphs[pid].article_id, 1.0 - decay.weight))
            for pid, s in ranked
            if pid in paragraphs
        ]
        out.sort(key=lambda e: -e[1])  # stable: ties keep their fused order
        return out

    def facets(
        self,
        query: str,
        mode: Mode | str = "hybrid",
        *,
        filters: Filter | None = None,
        collapse: bool = True,
    ) -> Facets:
        """Only the facet counts of ``search(query, ..., facets=True)``, without ranking a
        page: what the search page asks once per facet, with that facet's own filter left out
        (so the counts beside category values say what choosing another category gives)."""
        with self._one_generation():
            query = _clean_query(query)
            if mode not in MODES:
                raise QueryError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
            qvec = self.encode_query(query) if mode in ("hybrid", "dense") else None
            return self._facets(query, mode, qvec, filters or Filter(), collapse)

    def _facets(
        self,
        query: str,
        mode: str,
        qvec: np.ndarray | None,
        filters: Filter,
        collapse: bool,
        nearest: Ranked | None = None,
    ) -> Facets:
        """Facet counts over the query's matching stories: every paragraph holding a query
        word (up to ``MAX_WORD_PARAGRAPHS``) and the ``candidates`` nearest by meaning
        (``nearest``: that list when the search already has it, unfiltered)."""
        total = max(1, self.meta.paragraphs)
        pids: list[int] = []
        complete = True
        if mode in ("hybrid", "bm25"):
            cap = min(total, MAX_WORD_PARAGRAPHS)
            words = self.keyword_search(query, cap, mode)
            complete = len(words) < cap or cap == total
            pids += words.ids.tolist()
        depth = 0
        if qvec is not None:
            depth = min(self.config.candidates, total)
            if nearest is None:
                nearest = self._dense(qvec, depth)
            pids += nearest.ids.tolist()
        return count_facets(
            self.docstore, pids, filters, collapse, depth, complete, self._article_table()
        )

    def _article_table(self) -> ArticleTable | None:
        """The facet lookups of the generation this query reads, loaded on first use; only
        the two newest are kept (queries still on an older one fall back to the docstore)."""
        generation = self.generation
        with self._tables_lock:
            if generation not in self._tables:
                self._tables[generation] = ArticleTable.load(self.docstore)
                for old in list(self._tables)[:-2]:
                    del self._tables[old]
            return self._tables.get(generation)

    def _filter(self, ranked: Ranked, filters: Filter) -> Ranked:
        """The entries of a candidate list whose article passes ``filters``, in order."""
        ids = ranked.ids.tolist()
        paragraphs = self.docstore.paragraphs(ids)
        articles = self.docstore.articles({p.article_id for p in paragraphs.values()})
        ok = {aid for aid, a in articles.items() if filters.accepts(a)}
        keep = [pid in paragraphs and paragraphs[pid].article_id in ok for pid in ids]
        mask = np.array(keep, dtype=bool)
        return Ranked(ranked.ids[mask], ranked.scores[mask])

    def _group(
        self,
        fused: Sequence[tuple[int, float]],
        kw: Ranked,
        dense: Ranked,
        k: int,
        by_story: bool,
    ) -> list[ArticleHit]:
        """Paragraphs grouped by article, best first, read until ``k`` stories (articles when
        not ``by_story``) are found, and one chunk further; hits are made only for the
        articles that can reach the page.

        The fused list holds up to two thousand paragraphs; describing all of them (two
        SQLite reads and an object each) cost more than the search itself. Reading stops a
        chunk past the k-th story, which still finds each hit's second-best paragraph and a
        story's equally scored copies when they rank near it (copies score the same). Of the
        ~250 articles read that way for a page of 10, only the members of the first k stories
        (and of any story scoring within ``_TIE`` of the k-th, which collapsing could still
        move up) become hit objects: the rest were read only to know where the k-th story is.
        """
        chosen: dict[str, list[tuple[int, float, Any]]] = {}  # article -> its best paragraphs
        articles: dict[str, StoredArticle] = {}
        story_of: dict[str, str] = {}
        keys: set[str] = set()
        extra_chunks = -1  # chunks still to read once k stories are found
        per_hit = self.config.paragraphs_per_hit
        for start in range(0, len(fused), _GROUP_CHUNK):
            chunk = fused[start : start + _GROUP_CHUNK]
            paragraphs = self.docstore.paragraphs(pid for pid, _ in chunk)
            new = {p.article_id for p in paragraphs.values()} - articles.keys()
            articles.update(self.docstore.articles(new))
            for pid, score in chunk:
                p = paragraphs.get(pid)
                if p is None:  # the stores disagree: never show a hit we cannot describe
                    continue
                aid = p.article_id
                group = chosen.get(aid)
                if group is None:
                    group = chosen[aid] = []
                    a = articles.get(aid)
                    story_of[aid] = ((a.story_id if a else "") or aid) if by_story else aid
                    keys.add(story_of[aid])
                if len(group) < per_hit:
                    group.append((pid, score, p))
            if extra_chunks < 0 and len(keys) >= k:
                extra_chunks = 1
            elif extra_chunks > 0:
                extra_chunks -= 1
            if extra_chunks == 0:
                break

        shown = _stories_to_show(chosen, story_of, k)
        kw_rank = dict(zip(kw.ids.tolist(), range(1, len(kw) + 1), strict=True))
        dense_rank = dict(zip(dense.ids.tolist(), range(1, len(dense) + 1), strict=True))
        out = []
        for rank, (aid, group) in enumerate(chosen.items(), start=1):
            if story_of[aid] not in shown:
                continue
            hits = []
            for pid, score, p in group:
                kr, vr = kw_rank.get(pid), dense_rank.get(pid)
                ks = kw[kr - 1][1] if kr else None
                vs = dense[vr - 1][1] if vr else None
                hits.append(ParagraphHit(pid, p.position, p.text, p.context, score, kr, ks, vr, vs))
            a = articles.get(aid)  # insertion order = order of best paragraph
            out.append(
                ArticleHit(
                    rank=rank,
                    article_id=aid,
                    score=hits[0].score,
                    paragraphs=hits,
                    story_id=(a.story_id if a else "") or aid,
                    story_note=a.story_note if a else "",
                    **(article_meta(a) if a else {"title": ""}),
                )
            )
        return out if by_story else out[:k]

    # -- related stories --------------------------------------------------------------------

    def related(
        self, article_id: str, k: int = 10, config: RelatedConfig | None = None
    ) -> RelatedResults:
        """The ``k`` stories nearest to an indexed article ("more like this"), its own story
        left out; ``UnknownArticleError`` for an id the index does not hold. See
        ``search/related.py``."""
        with self._one_generation():
            return related_stories(
                article_id,
                min(k, MAX_K) if isinstance(k, int) else k,
                self.docstore,
                self.keyword,
                self.vectors,
                lambda texts: self._query_embedder().encode(texts),
                config,
            )

    def close(self) -> None:
        with self._workers_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self._state.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Fused scores this close count as equal when choosing which stories get hit objects: a
#: story's representative may score a hair below its best member (``collapse._TIE``).
_TIE = 1e-5


def _keyword_and_ceiling(
    keyword: KeywordReader, query: str, limit: int, with_ceiling: bool
) -> tuple[Ranked, float | None]:
    return keyword.search(query, limit), keyword.ceiling(query) if with_ceiling else 0.0


def _stories_to_show(
    chosen: dict[str, list[tuple[int, float, Any]]], story_of: dict[str, str], k: int
) -> set[str]:
    """The stories (articles) that can make a page of ``k``: the first ``k`` by their best
    paragraph's score, and every later one within ``_TIE`` of the k-th."""
    best: dict[str, float] = {}
    for aid, group in chosen.items():  # best paragraph first, articles in fused order
        best.setdefault(story_of[aid], group[0][1])
    order = list(best)
    if len(order) <= k:
        return set(order)
    cutoff = best[order[k - 1]] - _TIE
    return set(order[:k]) | {s for s in order[k:] if best[s] >= cutoff}


def _with_snippets(
    hits: list[ArticleHit],
    query: str,
    qvec: np.ndarray | None = None,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> list[ArticleHit]:
    """The hits with a snippet on each paragraph. A paragraph holding no query word (found by
    meaning, or by its headline) gets its sentence nearest to ``qvec`` marked instead, when a
    query vector and its encoder are given (hybrid and dense mode; ``search/highlights.py``)."""
    stems = query_stems(query)
    texts = [f"{p.context} {p.text}" if p.context else p.text for h in hits for p in h.paragraphs]
    spans: dict[int, tuple[int, int] | None] = {}
    if qvec is not None and encode is not None:
        bare = [i for i, t in enumerate(texts) if not find_matches(t, stems)]
        found = nearest_sentences([texts[i] for i in bare], qvec, encode) if bare else []
        spans = dict(zip(bare, found, strict=True))
    out = []
    at = 0
    for hit in hits:
        paragraphs = []
        for p in hit.paragraphs:
            snippet = make_snippet(texts[at], stems, semantic=spans.get(at))
            paragraphs.append(replace(p, snippet=snippet))
            at += 1
        out.append(replace(hit, paragraphs=paragraphs))
    return out


def _recency_dict(decay: Recency | None, now: dt.datetime | None) -> dict[str, Any] | None:
    """What ``SearchResults.recency`` reports: None when no decay was applied."""
    if decay is None or now is None:
        return None
    return {"half_life_days": decay.half_life, "weight": decay.weight, "now": now.isoformat()}


def _space(model: ModelInfo) -> tuple[str, int, str]:
    """What makes two sets of vectors comparable: same weights, size and precision."""
    return model.sha256, model.dim, model.precision
