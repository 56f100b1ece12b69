"""The seam between what the engine stores and who reads it: one small protocol per store.

A query reads one generation through three readers: keyword (BM25 candidates), vectors
(nearest paragraphs), documents (paragraph and article rows, story members). The searcher,
fusion, collapse and snippets see only these protocols, never Whoosh, FAISS or SQLite, so a
backend that holds the same data elsewhere (shards on a cluster) plugs in by implementing
them. ``LocalGeneration`` is the backend of an index directory on this machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from .bm25 import CorpusStats
from .docstore import Docstore, StoredArticle, StoredParagraph
from .keyword import KeywordConfig, KeywordIndex
from .layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE, IndexLayout, IndexMeta
from .ranked import Ranked
from .vectors import VectorIndex


class KeywordReader(Protocol):
    """BM25 candidates: (paragraph id, score), best first, as arrays (``ranked.py``)."""

    def search(self, text: str, limit: int) -> Ranked: ...

    def ceiling(self, text: str) -> float | None:
        """The most a paragraph could score for ``text`` (coverage-weighted fusion); None
        for a long query, which is fused without coverage (``KeywordIndex.ceiling``)."""
        ...

    def stats(self, text: str) -> CorpusStats:
        """Paragraph count and document frequencies of the words of ``text`` (related
        stories pick an article's rarest words by them)."""
        ...

    def close(self) -> None: ...


class VectorReader(Protocol):
    """Nearest paragraphs to a unit query vector: (paragraph id, cosine), best first."""

    def ranked(self, query: np.ndarray, limit: int) -> Ranked: ...


class DocumentReader(Protocol):
    """Paragraph and article rows by id, and the articles of stories."""

    def paragraphs(self, pids: Iterable[int]) -> Mapping[int, StoredParagraph]: ...

    def articles(self, ids: Iterable[str]) -> Mapping[str, StoredArticle]: ...

    def article_paragraphs(self, article_id: str) -> list[StoredParagraph]: ...

    def story_members(
        self, story_ids: Iterable[str], limit: int | None = None
    ) -> Mapping[str, list[StoredArticle]]: ...

    def story_sizes(self, story_ids: Iterable[str]) -> Mapping[str, int]: ...


class Generation(Protocol):
    """One consistent set of the three stores: every query runs wholly on one generation."""

    generation: Path
    meta: IndexMeta

    @property
    def keyword(self) -> KeywordReader: ...

    def keyword_with(self, config: KeywordConfig) -> KeywordReader:
        """BM25 over the same postings with other parameters (bm25 mode's tuned ones)."""
        ...

    @property
    def vectors(self) -> VectorReader: ...

    @property
    def docstore(self) -> DocumentReader: ...

    def close(self) -> None: ...


class LocalGeneration:
    """The published generation of an index directory, and the reader lease that keeps it on
    disk while it is open (a newer build never deletes a generation someone reads)."""

    def __init__(self, layout: IndexLayout, keyword_config: KeywordConfig | None = None) -> None:
        self.generation, self._lease = layout.open_current()
        try:
            self.meta: IndexMeta = layout.read_meta(self.generation)
            self._docstore = Docstore(self.generation / DOCSTORE_FILE)
            self._keyword = KeywordIndex(self.generation / KEYWORD_DIR, keyword_config)
        except BaseException:
            self.close()
            raise
        self._vectors: VectorIndex | None = None
        self._vectors_lock = threading.Lock()
        self._keyword_with: dict[KeywordConfig, KeywordIndex] = {}
        self._keyword_lock = threading.Lock()

    @property
    def keyword(self) -> KeywordIndex:
        return self._keyword

    def keyword_with(self, config: KeywordConfig) -> KeywordIndex:
        """Made on first use, then kept: the same open index, scored with ``config``."""
        if config == self._keyword.config:
            return self._keyword
        found = self._keyword_with.get(config)
        if found is None:
            with self._keyword_lock:
                found = self._keyword_with.get(config)
                if found is None:
                    found = self._keyword_with[config] = self._keyword.with_config(config)
        return found

    @property
    def docstore(self) -> Docstore:
        return self._docstore

    @property
    def vectors(self) -> VectorIndex:
        """Opened on first use: a keyword-only query never loads FAISS (~0.1 s per process)."""
        with self._vectors_lock:
            if self._vectors is None:
                self._vectors = VectorIndex(self.generation / VECTORS_FILE, self.meta.model.dim)
            return self._vectors

    def close(self) -> None:
        keywords = [getattr(self, "_keyword", None), *getattr(self, "_keyword_with", {}).values()]
        for keyword in keywords:
            if keyword is not None:
                keyword.close()
        IndexLayout.release(getattr(self, "_lease", None))
        self._lease = None

    def __del__(self) -> None:
        IndexLayout.release(getattr(self, "_lease", None))
        self._lease = None
