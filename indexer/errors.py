"""Errors a user can cause and fix. The CLI prints them as one line, never as a traceback."""

from __future__ import annotations


class NewsearchError(Exception):
    """Base class: a problem with the user's input, corpus, index or model, not a bug."""

    exit_code = 1


class IndexNotFoundError(NewsearchError):
    """The index directory holds no published index."""


class IndexFormatError(NewsearchError):
    """The index on disk is damaged or from another format version."""


#: What to run when an index on disk is damaged.
REBUILD_HINT = "run `newsearch index PATH --rebuild`"


class DamagedStoreError(IndexFormatError):
    """One store of a published generation cannot be read; ``detail`` says which and why."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"{detail}: {REBUILD_HINT}")


class ModelError(NewsearchError):
    """The embedding model is missing, damaged, or not the one the index was built with."""


class EmptyCorpusError(NewsearchError):
    """Nothing indexable was found under the given paths."""


class QueryError(NewsearchError):
    """The query cannot be run (empty, bad mode, bad k)."""

    exit_code = 2


class UnknownArticleError(QueryError):
    """No article with that id in the index (``related``; HTTP 404)."""


class LockedError(NewsearchError):
    """Another process holds the index's writer lock."""

    exit_code = 3


class StorageError(NewsearchError):
    """The index could not be written (disk full, read-only directory, no permission); the
    published index is unchanged."""

    exit_code = 4
