"""One shard's side of a sharded query: the calls the router fans out, in one class that runs
in this process or as a Ray actor on the node that holds the shard.

Every method takes and returns plain values (lists, dicts, dataclasses, numpy arrays), so the
same object serves a local fan-out and a remote one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from newsearch.indexer.bm25 import CorpusStats
from newsearch.indexer.docstore import StoredArticle, StoredParagraph
from newsearch.indexer.keyword import KeywordConfig
from newsearch.indexer.layout import IndexLayout, IndexMeta
from newsearch.indexer.ranked import Ranked
from newsearch.indexer.stores import LocalGeneration


class ShardServer:
    def __init__(self, shard_dir: str | Path, keyword_config: KeywordConfig | None = None):
        self.path = str(shard_dir)
        self.generation = LocalGeneration(IndexLayout(shard_dir), keyword_config)

    def meta(self) -> IndexMeta:
        return self.generation.meta

    def stats(self, text: str) -> CorpusStats:
        return self.generation.keyword.stats(text)

    def keyword(
        self, text: str, limit: int, stats: CorpusStats, config: KeywordConfig | None = None
    ) -> Ranked:
        """``config``: other BM25 parameters than the shard's (bm25 mode's tuned ones)."""
        generation = self.generation
        keyword = generation.keyword if config is None else generation.keyword_with(config)
        return keyword.search(text, limit, stats)

    def keyword_local(self, text: str, limit: int) -> Ranked:
        """Scored on this shard's own statistics (tests show that differs)."""
        return self.generation.keyword.search(text, limit)

    def ceiling(self, text: str, stats: CorpusStats) -> float | None:
        return self.generation.keyword.ceiling(text, stats)

    def ranked(self, query: np.ndarray, limit: int) -> Ranked:
        return self.generation.vectors.ranked(query, limit)

    def paragraph_vectors(self, pids: list[int]) -> np.ndarray:
        """The stored vectors of those of ``pids`` this shard holds (related stories)."""
        return self.generation.vectors.paragraph_vectors(pids)

    def paragraphs(self, pids: list[int]) -> dict[int, StoredParagraph]:
        return dict(self.generation.docstore.paragraphs(pids))

    def articles(self, ids: list[str]) -> dict[str, StoredArticle]:
        return dict(self.generation.docstore.articles(ids))

    def article_paragraphs(self, article_id: str) -> list[StoredParagraph]:
        return list(self.generation.docstore.article_paragraphs(article_id))

    def story_members(
        self, story_ids: list[str], limit: int | None
    ) -> dict[str, list[StoredArticle]]:
        return dict(self.generation.docstore.story_members(story_ids, limit))

    def story_sizes(self, story_ids: list[str]) -> dict[str, int]:
        return dict(self.generation.docstore.story_sizes(story_ids))

    def ping(self) -> str:
        return self.path

    def close(self) -> None:
        self.generation.close()
