"""Typed search results. The CLI's ``--json`` output is ``SearchResults.to_dict()``.

The JSON schema (README, "JSON output") is exactly these dataclasses as dicts, plus a
``schema`` version key: add fields with defaults, never rename or remove one without bumping
``SCHEMA``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .facets import Facets
from .filters import Filter
from .snippets import Snippet

#: Version of the JSON output: the major number changes on any incompatible change, the
#: minor one when fields are added (1.1: ``facets``, ``recency``, ``kind`` on snippet matches).
SCHEMA = "newsearch.results/1.1"


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
    #: The paragraph as shown: query words marked, trimmed around them when long.
    snippet: Snippet | None = None


@dataclass(frozen=True)
class StoryCopy:
    """Another article of a hit's story (a copy or rewrite) folded into the hit."""

    article_id: str
    title: str
    source_path: str = ""
    date: str = ""
    source: str = ""
    url: str = ""
    category: str = ""
    #: Its own fused score for this query when it was retrieved (and passed the filters).
    score: float | None = None
    #: Why the indexer put it in this story (the pair it was linked by, with the figures).
    note: str = ""


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
    story_id: str = ""
    #: Why this article is in its story ('' when the story has one article).
    story_note: str = ""
    #: The story's other articles, when results are collapsed: the retrieved ones best
    #: first, then the others by date; at most ``collapse.MAX_ALSO_IN`` of them.
    also_in: list[StoryCopy] = field(default_factory=list)
    #: How many other articles the story has in all (``also_in`` may list fewer).
    also_in_total: int = 0

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
    collapse: bool = True
    filters: Filter = field(default_factory=Filter)
    #: Stories (articles) ranked above this page's first hit.
    offset: int = 0
    #: About how many stories (articles) match in all: exact when the last page is short.
    total_estimate: int = 0
    #: Counts of category, source and month over all matching stories, when asked for
    #: (``search(facets=True)``; schema 1.1); None otherwise.
    facets: Facets | None = None
    #: The recency decay applied to the scores (``half_life_days``, ``weight``, ``now``), or
    #: None when off.
    recency: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self):
        return iter(self.hits)
