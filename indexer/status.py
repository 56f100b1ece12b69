"""What an index holds and whether its sources moved on: ``newsearch status`` as a library call.

Reads the published generation's metadata and (with ``check``) stats the recorded sources the
way an update would, without taking the writer lock or opening a store.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .changes import stale
from .layout import IndexLayout


@dataclass(frozen=True)
class Staleness:
    """What a ``newsearch index`` run would apply now."""

    files_added: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    files_deleted: list[str] = field(default_factory=list)
    articles_added: int = 0
    articles_changed: int = 0
    articles_deleted: int = 0

    @property
    def files(self) -> int:
        return len(self.files_added) + len(self.files_changed) + len(self.files_deleted)


@dataclass(frozen=True)
class IndexStatus:
    index_dir: str
    generation: str
    articles: int
    paragraphs: int
    vectors: int
    model: str
    model_path: str
    model_sha256: str
    dim: int
    precision: str
    embed_headline: bool
    sources: list[str]
    built_at: str
    build_seconds: float
    format_version: int
    #: None when not checked.
    stale: Staleness | None = None

    def to_dict(self) -> dict[str, Any]:
        """What ``newsearch status --json`` prints; ``stale`` only when it was checked."""
        data = asdict(self)
        if self.stale is None:
            del data["stale"]
        return data


def index_status(index_dir: str | os.PathLike[str], check: bool = True) -> IndexStatus:
    """The published generation's metadata, and with ``check`` what changed in its sources.
    Raises ``IndexNotFoundError`` (and friends) when there is no readable index."""
    layout = IndexLayout(index_dir)
    generation = layout.current()
    meta = layout.read_meta(generation)
    staleness = None
    if check:
        changes, _ = stale(index_dir)
        staleness = Staleness(
            files_added=changes.files_added,
            files_changed=changes.files_changed,
            files_deleted=changes.files_deleted,
            articles_added=len(changes.added),
            articles_changed=len(changes.changed),
            articles_deleted=len(changes.deleted),
        )
    return IndexStatus(
        index_dir=str(index_dir),
        generation=generation.name,
        articles=meta.articles,
        paragraphs=meta.paragraphs,
        vectors=meta.vectors,
        model=meta.model.name,
        model_path=meta.model.path,
        model_sha256=meta.model.sha256,
        dim=meta.model.dim,
        precision=meta.model.precision,
        embed_headline=meta.embed_headline,
        sources=meta.sources,
        built_at=meta.built_at,
        build_seconds=meta.build_seconds,
        format_version=meta.format_version,
        stale=staleness,
    )


def recorded_sources(index_dir: str | os.PathLike[str]) -> list[Path]:
    """The folders and files the index was last built or updated from: what ``newsearch
    index`` and ``watch`` use when given no path. Raises like ``index_status``."""
    layout = IndexLayout(index_dir)
    return [Path(p) for p in layout.read_meta(layout.current()).sources]
