"""Applying a ChangeSet: a copy of the published generation, changed in all three stores.

Kept apart from ``update`` so that a run with nothing to do never imports Whoosh or FAISS.
Every article written is first deleted (a no-op when it is new), which makes applying the
same change twice harmless.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import keyword, vectors
from . import manifest as mf
from .builder import BuildOptions
from .cache import EmbeddingCache
from .changes import ChangeSet
from .docstore import DocstoreWriter
from .embedding import capped_warning, embed_texts, window_texts
from .encoders import document_encoder
from .encoders.base import Encoder, ModelInfo
from .encoders.model import built_model
from .encoders.sbert import Embedder
from .encoders.windows import WindowSplitter
from .layout import (
    DOCSTORE_FILE,
    KEYWORD_DIR,
    VECTORS_FILE,
    IndexLayout,
    IndexMeta,
    copy_generation,
    utc_now,
)
from .progress import NoProgress, Progress
from .reports import UpdateReport


class _EmbedderOnDemand:
    """The index's model, loaded (and verified by hash) only if a text misses the cache:
    an edit whose paragraphs are all known never imports torch."""

    def __init__(self, meta: IndexMeta, options: BuildOptions, given: Encoder | None) -> None:
        self.info: ModelInfo = given.info if given else meta.model
        self._meta = meta
        self._options = options
        self._real = given

    def encode(self, texts, progress=None) -> np.ndarray:
        if self._real is None:
            options = self._options
            model = built_model(self._meta.model, options.model_path, updating=True)
            int8 = self._meta.model.precision == "int8"
            self._real = document_encoder(model, options.device, options.batch_size, int8)
        if len(texts) > SMALL_BATCH or not isinstance(self._real, Embedder):
            return self._real.encode(texts, progress=progress)
        with _one_torch_thread():
            return self._real.encode(texts, progress=progress)


#: Up to this many texts (a typical edit) are encoded on one torch thread.
SMALL_BATCH = 32


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """A few texts gain nothing from torch's thread pool, and on a busy machine its spinning
    workers cost a lot: one paragraph took 0.3-1.0 s on two threads and 0.08 s on one, with the
    load average at 10 on two cores. The setting is per process and restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def apply_changes(
    layout: IndexLayout,
    current: Path,
    meta: IndexMeta,
    cs: ChangeSet,
    roots: list[Path],
    options: BuildOptions | None,
    progress: Progress | None,
    embedder: Embedder | None,
    started: float,
) -> UpdateReport:
    """Write ``cs`` into a new generation copied from ``current`` and publish it."""
    options = options or BuildOptions(embed_headline=meta.embed_headline)
    progress = progress or NoProgress()
    new_articles = [cs.articles[a] for a in cs.added + cs.changed if a in cs.articles]
    rewrite = cs.deleted + [a.id for a in new_articles]

    gen = layout.new_generation()
    copy_generation(current, gen)

    writer = DocstoreWriter(gen / DOCSTORE_FILE)
    removed: list[int] = []
    pids: list[int] = []
    rows: list[tuple] = []
    try:
        for aid in rewrite:
            removed.extend(writer.delete_article(aid))
        for a in new_articles:
            pids.extend(writer.add_article(a))
            rows.extend((a, i) for i in range(len(a.paragraphs)))
    finally:
        writer.close()

    progress.start("keyword index", len(rows))
    keyword.apply_changes(gen / KEYWORD_DIR, rewrite, list(keyword.keyword_docs(pids, rows)))
    progress.advance(len(rows))
    progress.finish()

    notes: list[str] = []
    lazy = _EmbedderOnDemand(meta, options, embedder)
    vids, matrix, embedded, reused = _vectors_for(
        layout, meta, options, lazy, pids, rows, progress, notes
    )
    progress.start("vectors", 1)
    nvec = vectors.apply_changes(gen / VECTORS_FILE, removed, np.asarray(vids), matrix)
    progress.advance(1)
    progress.finish()

    story, story_embedded = _stories_for(layout, meta, lazy, gen, rewrite, new_articles, notes)

    narticles, nparagraphs = _counts(gen / DOCSTORE_FILE)
    new_meta = meta_after(meta, narticles, nparagraphs, nvec, roots, started)
    layout.write_meta(gen, new_meta)
    mf.save(gen, cs.manifest)
    final = layout.publish(gen)
    layout.cleanup()
    return UpdateReport(
        mode="incremental",
        generation=final.name,
        articles=narticles,
        paragraphs=nparagraphs,
        vectors=nvec,
        embedded=embedded,
        reused=reused,
        added=len(cs.added),
        changed=len(cs.changed),
        deleted=len(cs.deleted),
        stories=story.stories if story.done else None,
        story_embedded=story_embedded,
        seconds=time.perf_counter() - started,
        skipped=cs.read.skipped,
        warnings=cs.read.warnings + notes,
    )


def _stories_for(layout, meta, lazy, gen, rewrite, new_articles, notes):
    """Stories of the new and changed articles, and of those whose story they touch, as a
    full build would assign them (``story_state.py``); texts encoded for it go through the
    cache like the index's."""
    from .story_state import update_stories

    cache = EmbeddingCache(
        layout.cache_path, meta.model.sha256, meta.model.dim, meta.model.precision
    )
    encoded = 0

    def encode(texts: list[str]) -> np.ndarray:
        nonlocal encoded
        matrix, n, _ = embed_texts(texts, lazy, cache, NoProgress())
        encoded += n
        return matrix

    try:
        story = update_stories(gen / DOCSTORE_FILE, rewrite, new_articles, encode)
    finally:
        cache.close()
    if not story.done:
        notes.append(
            "stories: this index was built before stories were kept up to date by updates; "
            "new articles are stories of their own until `newsearch index PATH --rebuild`"
        )
    return story, encoded


def _vectors_for(layout, meta, options, lazy, pids, rows, progress, notes):
    """Window, look up or encode the new paragraphs exactly as a full build would; warnings
    (articles past the window budget, a damaged cache) go to ``notes``."""
    if not rows:
        return [], np.zeros((0, meta.model.dim), dtype=np.float32), 0, 0
    tokenizer_model = (
        meta.model
        if os.path.isdir(meta.model.path)
        else built_model(meta.model, options.model_path, updating=True)
    )
    splitter = WindowSplitter(tokenizer_model, meta.window_tokens, meta.window_overlap)
    capped: list[str] = []
    vids, texts = window_texts(splitter, pids, rows, meta.embed_headline, capped)
    notes.extend(capped_warning(aid) for aid in capped)
    cache = EmbeddingCache(
        layout.cache_path, meta.model.sha256, meta.model.dim, meta.model.precision
    )
    try:
        matrix, embedded, reused = embed_texts(texts, lazy, cache, progress)
    finally:
        cache.close()
    if cache.warning:
        notes.append(cache.warning)
    return vids, matrix, embedded, reused


def _counts(docstore: Path) -> tuple[int, int]:
    conn = sqlite3.connect(str(docstore))
    try:
        a = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        p = conn.execute("SELECT count(*) FROM paragraphs").fetchone()[0]
    finally:
        conn.close()
    return int(a), int(p)


def meta_after(meta: IndexMeta, articles: int, paragraphs: int, vectors: int, roots, started):
    return replace(
        meta,
        articles=articles,
        paragraphs=paragraphs,
        vectors=vectors,
        sources=[str(r) for r in roots],
        built_at=utc_now(),
        build_seconds=round(time.perf_counter() - started, 2),
    )
