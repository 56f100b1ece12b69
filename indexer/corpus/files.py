"""Finding article files: the walk over source folders, what is refused unread, and the
stat and content digest the manifest records of each file."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from .records import ReadReport, Skipped
from .text import SURROGATE, TEXT_SUFFIXES

#: Documentation files that sit beside corpora (``README.TXT``, ``SOURCE.md``) are not articles.
IGNORED_STEMS = {"readme", "source", "license", "licence", "copying", "notice", "changelog"}

#: Limits that keep one hostile file from taking the whole build down (README, "Limits").
#: A plain-text article file larger than this is skipped; JSONL and SGML collections are not
#: limited (they hold many articles).
MAX_ARTICLE_BYTES = 100 * 2**20


def walk(root: Path, report: ReadReport) -> Iterator[Path]:
    """Files under root in a stable order; hidden entries, symlink loops and names that are not
    valid UTF-8 (they cannot be stored or shown) are skipped, the last two with a reason."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=None):
        try:
            st = os.stat(dirpath)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            rel = Path(dirpath).relative_to(root).as_posix()
            report.skipped.append(Skipped(rel, "symlink loop: directory already visited"))
            dirnames[:] = []
            continue
        seen.add(key)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if SURROGATE.search(str(path)):
                rel = os.fsencode(path.relative_to(root).as_posix()).decode("utf-8", "replace")
                report.skipped.append(Skipped(rel, "file name is not valid UTF-8: rename it"))
                continue
            yield path


def content_digest(data: bytes) -> str:
    """What the manifest records of a file's content."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def refusal(path: Path, st: os.stat_result) -> str | None:
    """Why a file found by the walk is not read at all, or None: not a regular file (a FIFO
    named ``x.txt`` would block the build forever), or a text article over the size limit."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size > MAX_ARTICLE_BYTES and path.suffix.lower() in TEXT_SUFFIXES:
        return (
            f"too large: {st.st_size / 2**20:,.0f} MB, over the "
            f"{MAX_ARTICLE_BYTES // 2**20} MB limit for one article file"
        )
    return None


def read_bytes(path: Path, rel: str, report: ReadReport) -> bytes | None:
    """The file's bytes, or None with the reason recorded: vanished, unreadable, refused."""
    try:
        reason = refusal(path, path.stat())
        if reason:
            report.skipped.append(Skipped(rel, reason))
            return None
        return path.read_bytes()
    except FileNotFoundError:
        report.skipped.append(Skipped(rel, missing_reason(path)))
    except OSError as exc:
        report.skipped.append(Skipped(rel, f"unreadable ({exc.strerror or exc})"))
    return None


def missing_reason(path: Path) -> str:
    """Why a file the walk listed cannot be found now."""
    return "broken symbolic link" if path.is_symlink() else "vanished before it could be read"
