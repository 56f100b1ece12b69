"""Related stories ("more like this"): the stories nearest to one article of the index.

Two signals, as in a hybrid query, because each catches what the other misses:

* **Meaning**: the mean of the article's stored paragraph vectors (every window of every
  paragraph, read back from the vector index, not encoded again), searched like a query
  vector; an article scores by its nearest paragraph.
* **Shared rare words**: the article's most distinctive words (tf x idf over the keyword
  index: names, companies, places) as one BM25 query; an article scores by its best paragraph.

Each list is min-max normalized over the candidates left once the article's own story is
removed (its own paragraphs would otherwise set every maximum), and the two are mixed
convexly, ``alpha`` for meaning. Then, as for a query, one hit per story (``collapse``).

On 25 judged BBC pairs (an article and a later report of the same thread, in another story)
the follow-up ranks in the top 5 for all 25, MRR .738 (bench/related.py, BENCHMARKS.md);
meaning alone finds 24 (MRR .688), shared words alone 25 (MRR .647).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from newsearch.indexer.analysis import analyzer as _analyzer
from newsearch.indexer.bm25 import whoosh_idf
from newsearch.indexer.corpus.records import article_meta
from newsearch.indexer.docstore import StoredArticle, StoredParagraph
from newsearch.indexer.errors import QueryError, UnknownArticleError
from newsearch.indexer.stores import DocumentReader, KeywordReader, VectorReader

from .collapse import collapse_stories
from .results import ArticleHit, ParagraphHit
from .snippets import make_snippet

#: Version of ``newsearch related --json`` / ``GET /articles/{id}/related``.
RELATED_SCHEMA = "newsearch.related/1"

__all__ = [
    "RELATED_SCHEMA",
    "RelatedConfig",
    "RelatedResults",
    "UnknownArticleError",
    "distinctive_terms",
    "related_stories",
]


@dataclass(frozen=True)
class RelatedConfig:
    """``terms``: distinctive words in the keyword query; ``candidates``: paragraphs taken from
    each single search; ``alpha``: the weight of meaning against shared words (0.5, the
    untuned midpoint, ranked the judged BBC follow-ups higher than either side alone)."""

    terms: int = 25
    candidates: int = 300
    alpha: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.terms < 1 or self.candidates < 1:
            raise ValueError("terms and candidates must be at least 1")


@dataclass(frozen=True)
class RelatedResults:
    """The stories related to ``article_id``, best first, one hit per story."""

    article_id: str
    title: str
    story_id: str
    k: int
    hits: list[ArticleHit] = field(default_factory=list)
    #: The distinctive words the keyword side searched for (in their first written form).
    terms: list[str] = field(default_factory=list)
    took_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"schema": RELATED_SCHEMA, **asdict(self)}

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self):
        return iter(self.hits)


@dataclass
class _Evidence:
    """The best paragraph of a candidate article on each side, with its rank and score."""

    dense: tuple[int, int, float] | None = None  # (pid, rank, cosine)
    keyword: tuple[int, int, float] | None = None  # (pid, rank, bm25)


def related_stories(
    article_id: str,
    k: int,
    docstore: DocumentReader,
    keyword: KeywordReader,
    vectors: VectorReader,
    encode: Callable[[list[str]], np.ndarray],
    config: RelatedConfig | None = None,
) -> RelatedResults:
    """The ``k`` stories nearest to ``article_id``, its own story left out.

    ``encode`` turns texts into vectors; it is called only when the vector store cannot hand
    back the article's stored vectors (a backend without ``paragraph_vectors``).
    """
    started = time.perf_counter()
    config = config or RelatedConfig()
    if not isinstance(k, int) or k < 1:
        raise QueryError(f"k must be a positive whole number, got {k!r}")
    article = docstore.articles([article_id]).get(article_id)
    if article is None:
        raise UnknownArticleError(f"no article {article_id!r} in the index")
    own_story = article.story_id or article.id
    paragraphs = docstore.article_paragraphs(article_id)
    text = " ".join([article.title, *(f"{p.context} {p.text}" for p in paragraphs)])

    centroid = _centroid(paragraphs, article, vectors, encode)
    dense = vectors.ranked(centroid, config.candidates) if centroid is not None else []
    terms = distinctive_terms(text, keyword, config.terms)
    kw = keyword.search(" ".join(terms), config.candidates) if terms else []

    evidence = _per_article(dense, kw, docstore)
    stored = docstore.articles(evidence)
    # Drop the article's own story before normalizing: its paragraphs top both lists.
    evidence = {
        aid: ev
        for aid, ev in evidence.items()
        if aid in stored and (stored[aid].story_id or aid) != own_story
    }
    scores = _mix(evidence, config.alpha)
    order = sorted(scores, key=lambda aid: (-scores[aid], aid))
    # Only the first k stories are shown: describe (read, snippet) their articles alone.
    shown = set(list(dict.fromkeys(stored[aid].story_id or aid for aid in order))[:k])
    order = [aid for aid in order if (stored[aid].story_id or aid) in shown]
    texts = docstore.paragraphs(
        pid
        for aid in order
        for pid in {e[0] for e in (evidence[aid].dense, evidence[aid].keyword) if e}
    )
    stems = frozenset(t.text for t in _analyzer()(" ".join(terms)))
    hits = [
        _hit(rank, stored[aid], scores[aid], evidence[aid], texts, stems)
        for rank, aid in enumerate(order, start=1)
    ]
    hits = [h for h in hits if h.paragraphs]  # the stores disagree: never show an empty hit
    hits = collapse_stories(hits, docstore, k)
    took = (time.perf_counter() - started) * 1000
    return RelatedResults(
        article_id=article.id,
        title=article.title,
        story_id=own_story,
        k=k,
        hits=hits,
        terms=terms,
        took_ms=round(took, 2),
    )


def distinctive_terms(text: str, keyword: KeywordReader, n: int) -> list[str]:
    """The ``n`` words of ``text`` with the highest (1 + log tf) x idf, idf from the keyword
    index's paragraph statistics; each in its first written form, so searching them stems
    them to the same terms. Stopwords and words no paragraph holds are left out."""
    counts: Counter[str] = Counter()
    surface: dict[str, str] = {}
    for token in _analyzer()(text, chars=True):
        counts[token.text] += 1
        surface.setdefault(token.text, text[token.startchar : token.endchar])
    if not counts:
        return []
    stats = keyword.stats(" ".join(surface.values()))
    weight = {}
    for stem, tf in counts.items():
        df = stats.df.get(("text", stem), 0)
        if df:
            weight[stem] = (1 + math.log(tf)) * whoosh_idf(stats.n, df)
    best = sorted(weight, key=lambda s: (-weight[s], s))[:n]
    return [surface[s] for s in best]


def _centroid(
    paragraphs: list[StoredParagraph],
    article: StoredArticle,
    vectors: VectorReader,
    encode: Callable[[list[str]], np.ndarray],
) -> np.ndarray | None:
    """The unit mean of the article's paragraph vectors (None: an article with no text)."""
    read = getattr(vectors, "paragraph_vectors", None)
    matrix = read([p.pid for p in paragraphs]) if read is not None else None
    if matrix is None or not len(matrix):
        texts = [f"{article.title}. {p.context} {p.text}".strip() for p in paragraphs]
        if not texts:
            return None
        matrix = encode(texts)
    mean = np.asarray(matrix, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else None


def _per_article(
    dense: list[tuple[int, float]], kw: list[tuple[int, float]], docstore: DocumentReader
) -> dict[str, _Evidence]:
    """Each candidate article's best paragraph on each side (lists come best first)."""
    rows = docstore.paragraphs({pid for pid, _ in dense} | {pid for pid, _ in kw})
    out: dict[str, _Evidence] = {}
    for side, ranked in (("dense", dense), ("keyword", kw)):
        for rank, (pid, score) in enumerate(ranked, start=1):
            p = rows.get(pid)
            if p is None:
                continue
            ev = out.setdefault(p.article_id, _Evidence())
            if getattr(ev, side) is None:
                setattr(ev, side, (pid, rank, score))
    return out


def _mix(evidence: dict[str, _Evidence], alpha: float) -> dict[str, float]:
    """alpha x min-max(cosine) + (1 - alpha) x min-max(BM25); a side that did not find an
    article gives it 0."""
    dense = _minmax({a: e.dense[2] for a, e in evidence.items() if e.dense})
    kw = _minmax({a: e.keyword[2] for a, e in evidence.items() if e.keyword})
    return {a: alpha * dense.get(a, 0.0) + (1 - alpha) * kw.get(a, 0.0) for a in evidence}


def _minmax(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo <= 1e-12:
        return dict.fromkeys(scores, 1.0)
    return {a: (s - lo) / (hi - lo) for a, s in scores.items()}


def _hit(
    rank: int,
    article: StoredArticle,
    score: float,
    ev: _Evidence,
    texts: Mapping[int, StoredParagraph],
    stems: frozenset[str],
) -> ArticleHit:
    """A candidate as a result hit: its best paragraph by meaning, then by shared words, each
    with the ranks it had (the snippet marks the shared distinctive words)."""
    paragraphs: list[ParagraphHit] = []
    for pid in dict.fromkeys(e[0] for e in (ev.dense, ev.keyword) if e):
        p = texts.get(pid)
        if p is None:
            continue
        kw = ev.keyword if ev.keyword and ev.keyword[0] == pid else None
        dense = ev.dense if ev.dense and ev.dense[0] == pid else None
        shown = f"{p.context} {p.text}" if p.context else p.text
        paragraphs.append(
            ParagraphHit(
                pid=pid,
                position=p.position,
                text=p.text,
                context=p.context,
                score=score,
                keyword_rank=kw[1] if kw else None,
                keyword_score=kw[2] if kw else None,
                vector_rank=dense[1] if dense else None,
                vector_score=dense[2] if dense else None,
                snippet=make_snippet(shown, stems),
            )
        )
    return ArticleHit(
        rank=rank,
        article_id=article.id,
        score=score,
        paragraphs=paragraphs,
        story_id=article.story_id or article.id,
        story_note=article.story_note,
        **article_meta(article),
    )
