"""Collapsing a result list to one hit per news story.

The indexer gives every article a story id (``indexer/stories.py``); copies and rewrites of
one story share it. A result page shows each story once: its representative is the member
that scored best for this query, and among members with equally good evidence (exact copies
score the same by BM25 and by cosine) the earliest published one, so the original outlet
rather than a later re-post stands for the story. The others are listed in ``also_in``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from newsearch.indexer.docstore import StoredArticle

from .results import ArticleHit, StoryCopy

_TIE = 1e-6


def _evidence(hit: ArticleHit) -> tuple[float, float]:
    best = hit.best
    return (best.keyword_score or 0.0, best.vector_score or 0.0)


def _same_evidence(a: ArticleHit, b: ArticleHit) -> bool:
    return all(abs(x - y) <= _TIE for x, y in zip(_evidence(a), _evidence(b), strict=True))


def _date_key(date: str) -> str:
    return date or "9999"  # undated articles never win on date


def choose_representative(members: list[ArticleHit]) -> ArticleHit:
    """Best score; among those tied with it on evidence, the earliest date, then the id."""
    best = max(members, key=lambda h: h.score)
    tied = [h for h in members if _same_evidence(h, best)] or [best]
    return min(tied, key=lambda h: (_date_key(h.date), h.article_id))


def collapse_stories(
    hits: list[ArticleHit],
    members: Mapping[str, list[StoredArticle]] | Callable[[list[str]], Mapping[str, list]],
    k: int,
) -> list[ArticleHit]:
    """At most ``k`` hits, one per story, in the order of each story's best member.

    ``hits`` are articles best first; ``members`` maps story id -> all its articles in the
    index, or is a function that looks them up (``Docstore.story_members``): then only the
    ``k`` stories shown are looked up (a templated wire corpus can put thousands of articles
    in one story). Copies that were not retrieved, or were filtered out, are still listed in
    ``also_in`` (with ``score`` None): the reader learns where else the story ran.
    """
    by_story: dict[str, list[ArticleHit]] = {}
    for hit in hits:
        by_story.setdefault(hit.story_id or hit.article_id, []).append(hit)
    chosen = [(story, choose_representative(group)) for story, group in by_story.items()]
    # A tied representative may score a hair below its story's best member: keep the page
    # ordered by the scores it shows (a stable sort keeps the best-member order otherwise).
    chosen.sort(key=lambda sr: -sr[1].score)
    chosen = chosen[:k]
    if callable(members):
        members = members([story for story, _ in chosen])
    out: list[ArticleHit] = []
    for rank, (story, rep) in enumerate(chosen, start=1):
        scored = {h.article_id: h.score for h in by_story[story]}
        others = [a for a in members.get(story, []) if a.id != rep.article_id]
        others.sort(key=lambda a: (a.id not in scored, -scored.get(a.id, 0.0), _date_key(a.date)))
        also = [
            StoryCopy(
                article_id=a.id,
                title=a.title,
                source_path=a.source_path,
                date=a.date,
                source=a.source,
                url=a.url,
                category=a.category,
                score=scored.get(a.id),
                note=a.story_note,
            )
            for a in others
        ]
        out.append(replace(rep, also_in=also, rank=rank))
    return out
