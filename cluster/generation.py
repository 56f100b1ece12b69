"""The shards of a cluster read as one generation: the reader protocols of
``indexer/stores.py`` answered by fanning out to every shard and merging.

* keyword: each shard reports its statistics for the query's words, the sums are the
  corpus's, and every shard scores with them (dfs_query_then_fetch): a paragraph scores
  exactly as in one index over all the articles. The shards' top lists merge by score, ties
  by paragraph id, which is one index's tie order (its Whoosh document order is its id order).
* vectors: each shard's best ``limit`` paragraphs, merged: the global best ``limit``.
* documents: ids are global (``partition.first_pids``), so a row is wherever a shard has it;
  a story lies in one shard, so its members come whole from that shard.

The shards answer through a ``Fanout``: ``LocalShards`` (in this process, one after the
other) or ``ServeShards`` (one Ray Serve deployment per shard, called at once;
``deployments.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from newsearch.indexer.bm25 import CorpusStats
from newsearch.indexer.docstore import StoredArticle, StoredParagraph
from newsearch.indexer.keyword import KeywordConfig
from newsearch.indexer.layout import IndexMeta
from newsearch.indexer.ranked import Ranked

from .manifest import ClusterManifest
from .shard import ShardServer


class Fanout(Protocol):
    """Call one ``ShardServer`` method on every shard; results in shard order."""

    def call(self, method: str, *args: Any) -> list[Any]: ...

    def close(self) -> None: ...


class LocalShards:
    """Every shard opened in this process (each holds its reader lease)."""

    def __init__(self, dirs: list[Path], keyword_config: KeywordConfig | None = None) -> None:
        self.servers: list[ShardServer] = []
        try:
            for d in dirs:
                self.servers.append(ShardServer(d, keyword_config))
        except BaseException:
            self.close()
            raise

    def call(self, method: str, *args: Any) -> list[Any]:
        return [getattr(s, method)(*args) for s in self.servers]

    def close(self) -> None:
        for s in self.servers:
            s.close()


def merge_ranked(lists: Iterable[Ranked], limit: int) -> Ranked:
    """The best ``limit`` of several (id, score) lists: score descending, then id."""
    parts = [Ranked.of(lst) for lst in lists]
    if not parts or limit <= 0:
        return Ranked.empty()
    ids = np.concatenate([p.ids for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    order = np.lexsort((ids, -scores))[:limit]
    return Ranked(ids[order], scores[order])


class ShardedKeyword:
    """``config``: BM25 parameters other than the shards' own, sent with each search (bm25
    mode's tuned ones, ``ShardedGeneration.keyword_with``); the ceiling is not asked of it
    (bm25 mode fuses nothing)."""

    def __init__(self, shards: Fanout, config: KeywordConfig | None = None) -> None:
        self.shards = shards
        self.config = config

    def stats(self, text: str) -> CorpusStats:
        return CorpusStats.combine(self.shards.call("stats", text))

    def search(self, text: str, limit: int) -> Ranked:
        if limit <= 0:
            return Ranked.empty()
        stats = self.stats(text)
        return merge_ranked(self.shards.call("keyword", text, limit, stats, self.config), limit)

    def ceiling(self, text: str) -> float | None:
        # The ceiling depends on the statistics and the query alone: any shard computes it.
        return self.shards.call("ceiling", text, self.stats(text))[0]

    def close(self) -> None:
        pass


class ShardedVectors:
    def __init__(self, shards: Fanout) -> None:
        self.shards = shards

    def ranked(self, query: np.ndarray, limit: int) -> Ranked:
        return merge_ranked(self.shards.call("ranked", query, limit), limit)

    def paragraph_vectors(self, pids: Iterable[int]) -> np.ndarray:
        """Stored vectors of paragraphs, from whichever shard holds each (an article's
        paragraphs are all in its story's shard)."""
        return np.vstack(self.shards.call("paragraph_vectors", list(pids)))


class ShardedDocuments:
    def __init__(self, shards: Fanout) -> None:
        self.shards = shards

    def paragraphs(self, pids: Iterable[int]) -> Mapping[int, StoredParagraph]:
        out: dict[int, StoredParagraph] = {}
        for part in self.shards.call("paragraphs", list(pids)):
            out.update(part)
        return out

    def articles(self, ids: Iterable[str]) -> Mapping[str, StoredArticle]:
        out: dict[str, StoredArticle] = {}
        for part in self.shards.call("articles", list(ids)):
            out.update(part)
        return out

    def article_paragraphs(self, article_id: str) -> list[StoredParagraph]:
        """From the one shard that holds the article (every story, so every article, lies in
        one shard)."""
        for part in self.shards.call("article_paragraphs", article_id):
            if part:
                return part
        return []

    def story_members(
        self, story_ids: Iterable[str], limit: int | None = None
    ) -> Mapping[str, list[StoredArticle]]:
        keys = list(story_ids)
        out: dict[str, list[StoredArticle]] = {s: [] for s in keys}
        for part in self.shards.call("story_members", keys, limit):
            for story, members in part.items():
                out[story] = out.get(story, []) + members
        return out

    def story_sizes(self, story_ids: Iterable[str]) -> Mapping[str, int]:
        keys = list(story_ids)
        out = dict.fromkeys(keys, 0)
        for part in self.shards.call("story_sizes", keys):
            for story, n in part.items():
                out[story] = out.get(story, 0) + n
        return out


def build_name(manifest: ClusterManifest) -> str:
    """A name for one build of a cluster: its time and a digest of its manifest (two builds
    in one second differ in their shards' build seconds)."""
    stamp = "".join(c for c in manifest.built_at if c.isdigit())[:14]
    digest = hashlib.blake2b(
        json.dumps(asdict(manifest), sort_keys=True).encode(), digest_size=4
    ).hexdigest()
    return f"cluster-{stamp}-{digest}"


class ShardedGeneration:
    """All shards as one generation; ``shards`` defaults to opening them in this process."""

    def __init__(
        self,
        root: Path,
        manifest: ClusterManifest,
        keyword_config: KeywordConfig | None = None,
        shards: Fanout | None = None,
    ) -> None:
        #: Named after this build of the cluster (``build_name``): a page token of one build
        #: is refused by the next one, as a superseded generation's is.
        self.generation = root / build_name(manifest)
        self.shards: Fanout = shards or LocalShards(manifest.shard_dirs(root), keyword_config)
        self._keyword_config = keyword_config or KeywordConfig()
        try:
            metas: list[IndexMeta] = self.shards.call("meta")
        except BaseException:
            self.shards.close()
            raise
        self.meta: IndexMeta = replace(
            metas[0],
            articles=sum(m.articles for m in metas),
            paragraphs=sum(m.paragraphs for m in metas),
            vectors=sum(m.vectors for m in metas),
            sources=list(manifest.sources),
        )
        self._keyword = ShardedKeyword(self.shards)
        self._vectors = ShardedVectors(self.shards)
        self._docstore = ShardedDocuments(self.shards)

    @property
    def keyword(self) -> ShardedKeyword:
        return self._keyword

    def keyword_with(self, config: KeywordConfig) -> ShardedKeyword:
        if config == self._keyword_config:
            return self._keyword
        return ShardedKeyword(self.shards, config)

    @property
    def vectors(self) -> ShardedVectors:
        return self._vectors

    @property
    def docstore(self) -> ShardedDocuments:
        return self._docstore

    def close(self) -> None:
        self.shards.close()
