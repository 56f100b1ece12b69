"""Failures to write an index directory: a full disk, a read-only file system, no permission.

Each store reports them its own way (``OSError`` from Python and Whoosh, ``sqlite3`` errors
from the docstore and the embedding cache, a ``RuntimeError`` with a C++ message from FAISS).
``writing`` turns all of them into one ``StorageError`` that says what happened and what to
do, after removing the unfinished generation so a full disk gets its space back. Nothing is
published until every store is written, so the published index is untouched by the failure.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from collections.abc import Iterator

from .errors import NewsearchError, StorageError
from .layout import IndexLayout

_ERRNO_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "a file grew too large for the file system",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "an I/O error",
}
#: How SQLite and FAISS word the same causes.
_MESSAGE_CAUSES = (
    ("database or disk is full", "the disk is full"),
    ("no space left on device", "the disk is full"),
    ("disk quota exceeded", "the disk quota is used up"),
    ("readonly database", "the file system is read-only"),
    ("read-only file system", "the file system is read-only"),
    ("unable to open database file", "a file could not be created"),
    ("permission denied", "permission denied"),
    ("disk i/o error", "an I/O error"),
)


def cause_of(exc: BaseException) -> str | None:
    """What a write failure means for the user, or None when ``exc`` is not one."""
    if isinstance(exc, NewsearchError | KeyboardInterrupt):
        return None
    if isinstance(exc, OSError) and exc.errno in _ERRNO_CAUSES:
        return _ERRNO_CAUSES[exc.errno]
    if isinstance(exc, sqlite3.OperationalError | RuntimeError | OSError):
        text = str(exc).lower()
        for needle, cause in _MESSAGE_CAUSES:
            if needle in text:
                return cause
    return None


_FIXES = {
    "the disk is full": "free some space",
    "the disk quota is used up": "free some space",
    "a file grew too large for the file system": "move the index to another file system",
    "an I/O error": "check the disk",
}


def storage_error(exc: BaseException, layout: IndexLayout) -> StorageError | None:
    """The ``StorageError`` to raise for ``exc``, or None when it is no write failure."""
    cause = cause_of(exc)
    if cause is None:
        return None
    where = getattr(exc, "filename2", None) or getattr(exc, "filename", None) or layout.root
    published = (
        "the published index is unchanged and still answers queries; " if layout.exists() else ""
    )
    return StorageError(
        f"could not write the index in {layout.root}: {cause} ({where}); {published}"
        f"{_FIXES.get(cause, 'make it writable')} and run `newsearch index` again"
    )


@contextlib.contextmanager
def writing(layout: IndexLayout, lock_held: bool = False) -> Iterator[None]:
    """Translate write failures inside the block into ``StorageError``. With ``lock_held``
    (the caller holds the writer lock) an unfinished generation is removed on any failure."""
    try:
        yield
    except BaseException as exc:
        if lock_held:
            with contextlib.suppress(OSError):
                layout.remove_unfinished()
        error = storage_error(exc, layout)
        if error is None:
            raise
        raise error from exc
