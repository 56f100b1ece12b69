"""Errors a user can cause and fix. The CLI prints them as one line, never as a traceback."""

from __future__ import annotations


class NewsearchError(Exception):
    """Base class: a problem with the user's input, corpus, index or model, not a bug."""

    exit_code = 1


class IndexNotFoundError(NewsearchError):
    """The index directory holds no published index."""


class IndexFormatError(NewsearchError):
    """The index on disk is damaged or from another format version."""


class ModelError(NewsearchError):
    """The embedding model is missing, damaged, or not the one the index was built with."""


class EmptyCorpusError(NewsearchError):
    """Nothing indexable was found under the given paths."""


class QueryError(NewsearchError):
    """The query cannot be run (empty, bad mode, bad k)."""

    exit_code = 2


class LockedError(NewsearchError):
    """Another process holds the index's writer lock."""

    exit_code = 3
