"""What a build or an update did: typed reports, and their JSON form for scripts (the CLI's
``--json``, the server's answers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .corpus import Skipped


@dataclass
class BuildReport:
    generation: str
    articles: int
    paragraphs: int
    vectors: int
    embedded: int
    reused: int
    seconds: float
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files_read: int = 0
    #: Story clusters among the articles (copies and rewrites of one story count once).
    stories: int = 0
    #: Texts encoded for story clustering (paragraphs alone, without the headline), on top
    #: of ``embedded``: a cold build of a large corpus spends real time on them.
    story_embedded: int = 0


@dataclass
class UpdateReport:
    mode: str  #: "full", "incremental" or "unchanged"
    generation: str
    articles: int
    paragraphs: int
    vectors: int
    embedded: int = 0
    reused: int = 0
    added: int = 0
    changed: int = 0
    deleted: int = 0
    #: Story clusters after the run: an incremental run assigns the stories a full build
    #: would (``indexer/story_state.py``). None when nothing changed, or when the index was
    #: built before updates kept stories (new articles are then stories of their own).
    stories: int | None = None
    #: Texts encoded for story clustering, beside ``embedded``.
    story_embedded: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self, index_dir: str = "") -> dict[str, Any]:
        """What ``newsearch index --json`` prints (and the server answers)."""
        return {
            "index_dir": str(index_dir),
            "mode": self.mode,
            "generation": self.generation,
            "articles": self.articles,
            "stories": self.stories,
            "paragraphs": self.paragraphs,
            "vectors": self.vectors,
            "added": self.added,
            "changed": self.changed,
            "deleted": self.deleted,
            "embedded": self.embedded,
            "reused_embeddings": self.reused,
            "embedded_for_stories": self.story_embedded,
            "skipped": [str(s) for s in self.skipped],
            "skipped_reasons": skip_reasons(self.skipped),
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 2),
        }


def skip_reasons(skipped: list[Skipped]) -> dict[str, int]:
    """How many sources were skipped for each kind of reason, most first."""
    counts: dict[str, int] = {}
    for s in skipped:
        counts[s.kind] = counts.get(s.kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
