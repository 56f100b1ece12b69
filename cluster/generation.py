"""The shards of a cluster read as one generation: the reader protocols of
``indexer/stores.py`` answered by fanning out to every shard and merging.

* keyword: each shard reports its statistics for the query's words, the sums are the
  corpus's, and every shard scores with them (dfs_query_then_fetch): a paragraph scores
  exactly as in one index over all the articles. The shards' top lists merge by score, ties
  by paragraph id, which is one index's tie order (its Whoosh document order is its id order).
* vectors: each shard's best ``limit`` paragraphs, merged: the global best ``limit``.
* documents: ids are global (``partition.first_pids``), so a row is wherever a shard has it;
  a story lies in one shard, so its members come whole from that shard.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from newsearch.indexer.bm25 import CorpusStats
from newsearch.indexer.docstore import StoredArticle, StoredParagraph
from newsearch.indexer.keyword import KeywordConfig, KeywordIndex
from newsearch.indexer.layout import IndexLayout, IndexMeta
from newsearch.indexer.stores import LocalGeneration

from .manifest import ClusterManifest

Ranked = list[tuple[int, float]]


def merge_ranked(lists: Iterable[Ranked], limit: int) -> Ranked:
    """The best ``limit`` of several (id, score) lists: score descending, then id."""
    return heapq.nsmallest(limit, (e for lst in lists for e in lst), key=lambda e: (-e[1], e[0]))


class ShardedKeyword:
    def __init__(self, shards: list[KeywordIndex]) -> None:
        self.shards = shards

    def stats(self, text: str) -> CorpusStats:
        return CorpusStats.combine(k.stats(text) for k in self.shards)

    def search(self, text: str, limit: int) -> Ranked:
        if limit <= 0:
            return []
        stats = self.stats(text)
        return merge_ranked((k.search(text, limit, stats) for k in self.shards), limit)

    def ceiling(self, text: str) -> float:
        return self.shards[0].ceiling(text, self.stats(text))

    def close(self) -> None:
        for k in self.shards:
            k.close()


class ShardedVectors:
    def __init__(self, shards: list[LocalGeneration]) -> None:
        self.shards = shards

    def ranked(self, query: np.ndarray, limit: int) -> Ranked:
        return merge_ranked((g.vectors.ranked(query, limit) for g in self.shards), limit)


class ShardedDocuments:
    def __init__(self, shards: list[LocalGeneration]) -> None:
        self.shards = shards

    def paragraphs(self, pids: Iterable[int]) -> Mapping[int, StoredParagraph]:
        ids = list(pids)
        out: dict[int, StoredParagraph] = {}
        for g in self.shards:
            out.update(g.docstore.paragraphs(ids))
        return out

    def articles(self, ids: Iterable[str]) -> Mapping[str, StoredArticle]:
        keys = list(ids)
        out: dict[str, StoredArticle] = {}
        for g in self.shards:
            out.update(g.docstore.articles(keys))
        return out

    def story_members(
        self, story_ids: Iterable[str], limit: int | None = None
    ) -> Mapping[str, list[StoredArticle]]:
        keys = list(story_ids)
        out: dict[str, list[StoredArticle]] = {s: [] for s in keys}
        for g in self.shards:
            for story, members in g.docstore.story_members(keys, limit).items():
                out[story] = out.get(story, []) + members
        return out

    def story_sizes(self, story_ids: Iterable[str]) -> Mapping[str, int]:
        keys = list(story_ids)
        out = dict.fromkeys(keys, 0)
        for g in self.shards:
            for story, n in g.docstore.story_sizes(keys).items():
                out[story] = out.get(story, 0) + n
        return out


class ShardedGeneration:
    """Every shard's published generation, opened together (each holds its reader lease)."""

    def __init__(
        self, root: Path, manifest: ClusterManifest, keyword_config: KeywordConfig | None = None
    ) -> None:
        self.generation = root
        self.shards: list[LocalGeneration] = []
        try:
            for d in manifest.shard_dirs(root):
                self.shards.append(LocalGeneration(IndexLayout(d), keyword_config))
        except BaseException:
            self.close()
            raise
        first = self.shards[0].meta
        self.meta: IndexMeta = replace(
            first,
            articles=sum(g.meta.articles for g in self.shards),
            paragraphs=sum(g.meta.paragraphs for g in self.shards),
            vectors=sum(g.meta.vectors for g in self.shards),
            sources=list(manifest.sources),
        )
        self._keyword = ShardedKeyword([g.keyword for g in self.shards])
        self._vectors = ShardedVectors(self.shards)
        self._docstore = ShardedDocuments(self.shards)

    @property
    def keyword(self) -> ShardedKeyword:
        return self._keyword

    @property
    def vectors(self) -> ShardedVectors:
        return self._vectors

    @property
    def docstore(self) -> ShardedDocuments:
        return self._docstore

    def close(self) -> None:
        for g in self.shards:
            g.close()
