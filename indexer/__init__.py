"""Indexer: articles on disk -> paragraphs -> Whoosh BM25 + FAISS vectors + docstore.

The indexer owns the on-disk format and the embedding model (both sides must encode with the
same weights); ``newsearch.search`` only reads what it writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_attributes

if TYPE_CHECKING:
    from .builder import BuildOptions, build_index
    from .corpus import Article, Paragraph, ReadReport, Skipped, read_articles
    from .encoders.base import ModelInfo
    from .encoders.model import resolve_model
    from .encoders.sbert import Embedder
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
    from .reports import BuildReport

#: Where each public name lives. Loaded on first use (PEP 562): ``newsearch status`` or an
#: error message must not pay for Whoosh, FAISS and the builder just by touching the package.
_WHERE = {
    **dict.fromkeys(("Article", "Paragraph", "ReadReport", "Skipped", "read_articles"), "corpus"),
    **dict.fromkeys(("BuildOptions", "build_index"), "builder"),
    "BuildReport": "reports",
    "Embedder": "encoders.sbert",
    "ModelInfo": "encoders.base",
    "resolve_model": "encoders.model",
    **dict.fromkeys(
        (
            "EmptyCorpusError",
            "IndexFormatError",
            "IndexNotFoundError",
            "LockedError",
            "ModelError",
            "NewsearchError",
            "QueryError",
        ),
        "errors",
    ),
    **dict.fromkeys(("IndexLayout", "IndexMeta"), "layout"),
}


__getattr__ = lazy_attributes(__name__, {k: f".{v}" for k, v in _WHERE.items()}, globals())


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
