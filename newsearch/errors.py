"""Every error newsearch raises for something a user can fix, in one place to catch from.

``NewsearchError`` is the base; each subclass carries the CLI's ``exit_code``. The classes are
defined by the indexer (the lowest layer raises most of them) and re-exported here, so
``except newsearch.errors.NewsearchError`` catches errors from every layer.
"""

from __future__ import annotations

from newsearch.indexer.errors import (
    REBUILD_HINT,
    DamagedStoreError,
    EmptyCorpusError,
    IndexFormatError,
    IndexNotFoundError,
    LockedError,
    ModelError,
    NewsearchError,
    QueryError,
    StorageError,
    UnknownArticleError,
)

__all__ = [
    "REBUILD_HINT",
    "DamagedStoreError",
    "EmptyCorpusError",
    "IndexFormatError",
    "IndexNotFoundError",
    "LockedError",
    "ModelError",
    "NewsearchError",
    "QueryError",
    "StorageError",
    "UnknownArticleError",
]
