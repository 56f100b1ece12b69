"""Typed search results. The CLI's ``--json`` output is ``SearchResults.to_dict()``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ParagraphHit:
    """A matching paragraph, with where each single searcher ranked it (None: not retrieved)."""

    pid: int
    position: int
    text: str
    context: str
    score: float
    keyword_rank: int | None = None
    keyword_score: float | None = None
    vector_rank: int | None = None
    vector_score: float | None = None


@dataclass(frozen=True)
class ArticleHit:
    """One article, scored by its best paragraph, with its best paragraphs attached."""

    rank: int
    article_id: str
    title: str
    score: float
    paragraphs: list[ParagraphHit]
    source_path: str = ""
    date: str = ""
    source: str = ""
    url: str = ""
    category: str = ""

    @property
    def best(self) -> ParagraphHit:
        return self.paragraphs[0]


@dataclass(frozen=True)
class SearchResults:
    query: str
    mode: str
    k: int
    hits: list[ArticleHit] = field(default_factory=list)
    took_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self):
        return iter(self.hits)
