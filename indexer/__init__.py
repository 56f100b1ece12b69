"""Indexer: articles on disk -> paragraphs -> Whoosh BM25 + FAISS vectors + docstore.

The indexer owns the on-disk format and the embedding model (both sides must encode with the
same weights); ``newsearch.search`` only reads what it writes.
"""

from .articles import Article, Paragraph, ReadReport, Skipped, read_articles
from .builder import BuildOptions, BuildReport, build_index
from .embedder import Embedder, ModelInfo, resolve_model
from .errors import (
    EmptyCorpusError,
    IndexFormatError,
    IndexNotFoundError,
    LockedError,
    ModelError,
    NewsearchError,
    QueryError,
)
from .layout import IndexLayout, IndexMeta

__all__ = [
    "Article",
    "BuildOptions",
    "BuildReport",
    "Embedder",
    "EmptyCorpusError",
    "IndexFormatError",
    "IndexLayout",
    "IndexMeta",
    "IndexNotFoundError",
    "LockedError",
    "ModelError",
    "ModelInfo",
    "NewsearchError",
    "Paragraph",
    "QueryError",
    "ReadReport",
    "Skipped",
    "build_index",
    "read_articles",
    "resolve_model",
]
