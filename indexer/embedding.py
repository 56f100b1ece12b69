"""Paragraphs to vectors: the texts a paragraph is embedded as, and encoding them through
the embedding cache. Full builds and incremental updates both go through here, so they make
the very same texts (or the cache would miss and the vectors disagree).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import vectors
from .cache import EmbeddingCache, text_key
from .corpus import Article
from .encoders.base import Encoder
from .encoders.windows import MAX_ARTICLE_WINDOWS, WindowSplitter
from .progress import Progress

ENCODE_CHUNK = 512


def embedding_text(title: str, window: str, embed_headline: bool) -> str:
    """The headline gives a paragraph its topic ('he said …' alone says little)."""
    return f"{title}. {window}" if embed_headline and title else window


def capped_warning(article_id: str) -> str:
    return (
        f"{article_id}: too long to embed whole: its first {MAX_ARTICLE_WINDOWS} windows of "
        "text are embedded, the rest is found by keyword search only"
    )


def window_texts(
    splitter: WindowSplitter,
    pids: Sequence[int],
    rows: Sequence[tuple[Article, int]],
    embed_headline: bool,
    capped: list[str] | None = None,
) -> tuple[list[int], list[str]]:
    """(vector ids, texts to embed) for paragraphs ``rows``: full builds and incremental
    updates must produce the very same texts, or the cache misses and vectors disagree.

    An article gets at most ``MAX_ARTICLE_WINDOWS`` windows; its paragraphs past them have no
    vector (found by keywords only) and its id is added to ``capped``."""
    windows = article_windows(splitter, rows, capped)
    vids: list[int] = []
    texts: list[str] = []
    for pid, (a, _), wins in zip(pids, rows, windows, strict=True):
        for w, win in enumerate(wins):
            vids.append(vectors.vector_id(pid, w))
            texts.append(embedding_text(a.headline, win, embed_headline))
    return vids, texts


def article_windows(
    splitter: WindowSplitter, rows: Sequence[tuple[Article, int]], capped: list[str] | None = None
) -> list[list[str]]:
    """Windows of each paragraph of ``rows`` (all paragraphs of each article, in order).

    Most articles cannot reach the per-article budget (a paragraph of T tokens has at most
    T / step + 1 windows, and a token covers at least one character), and are split in one
    batch; the others paragraph by paragraph, up to the budget."""
    texts = [a.paragraphs[pos].full_text for a, pos in rows]
    bound: dict[str, int] = {}
    rows_of: dict[str, list[int]] = {}
    for i, ((a, _), text) in enumerate(zip(rows, texts, strict=True)):
        bound[a.id] = bound.get(a.id, 0) + len(text) // splitter.step + 1
        rows_of.setdefault(a.id, []).append(i)
    big = [aid for aid, n in bound.items() if n > MAX_ARTICLE_WINDOWS]
    small = [i for i, (a, _) in enumerate(rows) if bound[a.id] <= MAX_ARTICLE_WINDOWS]
    windows: list[list[str]] = [[] for _ in rows]
    for i, wins in zip(small, splitter.split_many([texts[i] for i in small]), strict=True):
        windows[i] = wins
    for aid in big:
        idx = rows_of[aid]
        split = splitter.split_budget([texts[i] for i in idx], MAX_ARTICLE_WINDOWS)
        for i, wins in zip(idx, split, strict=True):
            windows[i] = wins
        if capped is not None and any(not w for w in split):
            capped.append(aid)
    return windows


def embed_texts(
    texts: list[str], embedder: Encoder, cache: EmbeddingCache, progress: Progress
) -> tuple[np.ndarray, int, int]:
    """Vectors for ``texts``: each distinct text encoded at most once, ever (per model and
    precision)."""
    keys = [text_key(t) for t in texts]
    unique: dict[bytes, str] = {}
    for k, t in zip(keys, texts, strict=True):
        unique.setdefault(k, t)
    known = cache.get_many(list(unique))
    missing = [k for k in unique if k not in known]
    missing.sort(key=lambda k: len(unique[k]), reverse=True)

    progress.start("embedding", len(missing))
    for i in range(0, len(missing), ENCODE_CHUNK):
        chunk = missing[i : i + ENCODE_CHUNK]
        vecs = embedder.encode([unique[k] for k in chunk], progress=progress.advance)
        cache.put_many(chunk, vecs)
        known.update(zip(chunk, vecs, strict=True))
    progress.finish()

    matrix = np.zeros((len(texts), embedder.info.dim), dtype=np.float32)
    for row, k in enumerate(keys):
        matrix[row] = known[k]
    return matrix, len(missing), len(texts) - len(missing)
