"""What differs between the source folders and the published generation: a ChangeSet.

``plan`` stats every file, hashes the ones whose size or mtime moved and parses the ones whose
content changed; it writes nothing and opens no store, so "nothing changed" costs a walk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import manifest as mf
from .corpus import Article, ReadReport, Skipped, SourceFile, read_file, scan
from .layout import IndexLayout, IndexMeta


@dataclass
class ChangeSet:
    """What differs between the folders and the current generation."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: New content of every added or changed article.
    articles: dict[str, Article] = field(default_factory=dict)
    files_added: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    files_deleted: list[str] = field(default_factory=list)
    manifest: mf.Manifest | None = None
    read: ReadReport = field(default_factory=ReadReport)
    #: Files whose stat changed but whose content did not (only the manifest is updated).
    touched: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.deleted)

    @property
    def stale_files(self) -> int:
        return len(self.files_added) + len(self.files_changed) + len(self.files_deleted)


def plan(paths: Sequence[str | os.PathLike[str]], old: mf.Manifest | None) -> ChangeSet:
    """Compare the folders with ``old``: stat every file, hash the ones whose size or mtime
    moved, parse the ones whose content changed. Reads nothing else."""
    cs = ChangeSet(read=ReadReport())
    old_files = old.files if old else {}
    scanned_ns = time.time_ns()
    files = scan(list(paths), cs.read)
    entries: dict[str, mf.FileEntry] = {}
    parsed: dict[str, list[Article]] = {}
    for f in files:
        prev = old_files.get(f.key)
        same_stat = bool(
            prev and prev.size == f.size and prev.mtime_ns == f.mtime_ns and prev.rel == f.rel
        )
        if same_stat and old is not None and old.trusts_stat(prev):
            entries[f.key] = prev
            continue
        try:
            digest = mf.file_digest(f.path)
        except FileNotFoundError:
            cs.read.skipped.append(Skipped(f.rel, "vanished before it could be read"))
            continue
        except OSError as exc:
            _keep_unreadable(cs, f, prev, exc, entries)
            continue
        if prev and prev.digest == digest and prev.rel == f.rel:
            if same_stat:
                entries[f.key] = prev
            else:
                entries[f.key] = replace(prev, size=f.size, mtime_ns=f.mtime_ns)
                cs.touched += 1
            continue
        articles = read_file(f.path, f.rel, cs.read, category=f.category)
        if f.key not in cs.read.digests:  # vanished or became unreadable since the hash
            if prev is not None and f.path.exists():
                entries[f.key] = prev
            continue
        parsed[f.key] = articles
        entries[f.key] = mf.FileEntry(
            f.rel,
            f.category,
            f.size,
            f.mtime_ns,
            cs.read.digests[f.key],  # of the bytes parsed, not of the earlier read
            [[a.id, mf.article_digest(a)] for a in articles],
        )
        (cs.files_changed if prev else cs.files_added).append(f.rel)
    cs.files_deleted = [e.rel for k, e in old_files.items() if k not in entries]
    cs.manifest = mf.Manifest([str(p) for p in paths], entries, scanned_ns=scanned_ns)

    new_win = cs.manifest.winners()
    old_win = old.winners() if old else {}
    cs.deleted = [a for a in old_win if a not in new_win]
    cs.added = [a for a in new_win if a not in old_win]
    cs.changed = [a for a in new_win if a in old_win and old_win[a][0] != new_win[a][0]]
    for aid in cs.added + cs.changed:
        key = new_win[aid][1]
        if key not in parsed:  # an unchanged file whose article now wins a duplicate id
            entry = entries[key]
            parsed[key] = read_file(Path(key), entry.rel, cs.read, category=entry.category)
        article = next((a for a in parsed[key] if a.id == aid), None)
        if article is None:
            # The file changed again between two reads: drop the article and forget the file,
            # so the next run sees it as new and adds what it holds then.
            cs.manifest.files.pop(key, None)
            if aid in old_win:
                cs.deleted.append(aid)
            continue
        cs.articles[aid] = article
    cs.added = [a for a in cs.added if a in cs.articles]
    cs.changed = [a for a in cs.changed if a in cs.articles]
    for key, articles in parsed.items():
        for a in articles:
            if new_win.get(a.id, ("", key))[1] != key:
                rel = entries[key].rel
                cs.read.skipped.append(
                    Skipped(rel, f"duplicate article id {a.id!r}", a.line or None)
                )
    return cs


def _keep_unreadable(cs: ChangeSet, f: SourceFile, prev, exc: OSError, entries) -> None:
    """A file that is there but cannot be read now (permissions, I/O error) keeps what the
    index holds of it: a passing read error must not delete articles already indexed."""
    reason = f"unreadable ({exc.strerror or exc})"
    if prev is not None:
        entries[f.key] = prev
        reason += ": kept the version indexed before"
    cs.read.skipped.append(Skipped(f.rel, reason))


def stale(
    index_dir: str | os.PathLike[str], paths: Sequence[str | os.PathLike[str]] | None = None
) -> tuple[ChangeSet, IndexMeta]:
    """What an ``index`` run would change now: (ChangeSet, meta). Takes no lock, writes nothing."""
    layout = IndexLayout(index_dir)
    gen = layout.current()
    meta = layout.read_meta(gen)
    roots = [Path(p) for p in (paths or meta.sources)]
    return plan(roots, mf.load(gen)), meta
