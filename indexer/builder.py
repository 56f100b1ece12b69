"""Building an index: articles in, one published generation out.

The three stores (docstore, Whoosh, FAISS) are written into a fresh generation folder and
published together, so they always describe the same paragraphs. Embeddings go through the
cache first, and new ones are written back chunk by chunk: an interrupted build keeps the
vectors it paid for.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import keyword, manifest, story_state, vectors
from .cache import EmbeddingCache
from .corpus import Article, ReadReport, read_articles
from .docstore import DocstoreWriter
from .embedding import capped_warning, embed_texts, window_texts
from .encoders import document_encoder, export_query_encoder
from .encoders.base import Encoder, ModelInfo
from .encoders.model import resolve_model
from .encoders.windows import (
    WINDOW_OVERLAP,
    WINDOW_TOKENS,
    WindowSplitter,
)
from .errors import EmptyCorpusError, ModelError
from .keyword_process import CHILD_MIN_PARAGRAPHS, KeywordJob
from .layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE, IndexLayout, IndexMeta, utc_now
from .progress import NoProgress, Progress
from .reports import BuildReport
from .storage import writing


@dataclass(frozen=True)
class BuildOptions:
    """How paragraphs become vectors. Recorded in the index so queries match the build."""

    model_path: str | None = None
    embed_headline: bool = True
    window_tokens: int = WINDOW_TOKENS
    window_overlap: int = WINDOW_OVERLAP
    device: str = "auto"
    batch_size: int = 32
    #: ``flat`` (exact), ``ivf-sq8``, ``hnsw`` or ``auto``: IVF-SQ8 from
    #: ``vectors.IVF_MIN_VECTORS`` vectors.
    vector_index: str = "auto"
    #: Export the weights to ONNX (once per weights, in the user cache) for fast queries.
    export_onnx: bool = True
    #: Encode with the int8-quantized ONNX export (``encoders/int8.py``): faster on the CPU, a
    #: little less accurate (BENCHMARKS.md). None: as the index already is (fp32 for a new
    #: one); an update that would change it is refused (it needs a rebuild).
    int8: bool | None = None


def build_index(
    paths: Sequence[str | os.PathLike[str]],
    index_dir: str | os.PathLike[str],
    options: BuildOptions | None = None,
    progress: Progress | None = None,
    wait: float = 0.0,
    embedder: Encoder | None = None,
    lock_held: bool = False,
    *,
    read: ReadReport | None = None,
    first_pids: Mapping[str, int] | None = None,
) -> BuildReport:
    """Read ``paths`` and publish a new generation of the index in ``index_dir``.

    ``lock_held``: the caller already holds the writer lock (``update_index`` does).
    ``read``: the articles, already read from ``paths`` (a shard of a cluster build gets its
    part of one read of the corpus); ``first_pids``: article id -> its first paragraph id
    (a shard numbers paragraphs as one index over the whole corpus would).
    """
    options = options or BuildOptions()
    progress = progress or NoProgress()
    layout = IndexLayout(index_dir)
    started = time.perf_counter()
    if embedder is None:
        embedder = document_encoder(
            resolve_model(options.model_path),
            options.device,
            options.batch_size,
            bool(options.int8),
        )
    elif options.int8 is not None and options.int8 != (embedder.info.precision == "int8"):
        raise ModelError(
            f"BuildOptions(int8={options.int8}) but the encoder given is {embedder.info.precision}"
        )
    model = embedder.info

    with (
        writing(layout),
        contextlib.nullcontext() if lock_held else layout.writer_lock(wait=wait),
        writing(layout, lock_held=True),
    ):
        layout.cleanup()
        scanned_ns = time.time_ns()
        read = read if read is not None else read_articles(paths)
        if not read.articles:
            reasons = "; ".join(str(s) for s in read.skipped[:3])
            raise EmptyCorpusError(
                "no articles found under "
                + ", ".join(str(p) for p in paths)
                + (f" ({reasons})" if reasons else "")
            )
        gen = layout.new_generation()
        pids, rows = _write_docstore(gen / DOCSTORE_FILE, read.articles, first_pids)

        with (
            KeywordJob(gen / KEYWORD_DIR, list(keyword.keyword_docs(pids, rows)))
            if len(rows) >= CHILD_MIN_PARAGRAPHS
            else contextlib.nullcontext()
        ) as keyword_job:
            if keyword_job is None:  # a small build: not worth a process
                progress.start("keyword index", len(rows))
                keyword.write_index(
                    gen / KEYWORD_DIR, _counting(keyword.keyword_docs(pids, rows), progress)
                )
                progress.finish()
            splitter = WindowSplitter(model, options.window_tokens, options.window_overlap)
            capped: list[str] = []
            vids, texts = window_texts(splitter, pids, rows, options.embed_headline, capped)

            cache = EmbeddingCache(layout.cache_path, model.sha256, model.dim, model.precision)
            try:
                matrix, embedded, reused = embed_texts(texts, embedder, cache, progress)
                story_embedded = 0

                def encode_for_stories(story_texts: list[str]) -> np.ndarray:
                    nonlocal story_embedded
                    story_matrix, n, _ = embed_texts(story_texts, embedder, cache, progress)
                    story_embedded += n
                    return story_matrix

                story = story_state.write_stories(
                    gen / DOCSTORE_FILE, read.articles, encode_for_stories
                )
            finally:
                cache.close()
            if cache.warning:
                read.warnings.append(cache.warning)
            if story.limited:
                read.warnings.append(f"story clustering: {story.limited}")
            nvec = vectors.write_index(
                gen / VECTORS_FILE, model.dim, np.asarray(vids), matrix, kind=options.vector_index
            )
            if keyword_job is not None:  # written beside the embeddings (keyword_process.py)
                progress.start("keyword index", len(rows))
                keyword_job.result()
                progress.advance(len(rows))
                progress.finish()
        export_warning = _export_query_encoder(model) if options.export_onnx else None

        meta = IndexMeta(
            model=model,
            articles=len(read.articles),
            paragraphs=len(rows),
            vectors=nvec,
            sources=[str(Path(p).resolve()) for p in paths],
            embed_headline=options.embed_headline,
            window_tokens=splitter.window,
            window_overlap=splitter.window - splitter.step,
            built_at=utc_now(),
            build_seconds=round(time.perf_counter() - started, 2),
        )
        layout.write_meta(gen, meta)
        manifest.save(
            gen,
            manifest.from_build(list(paths), read.sources, read.parsed, scanned_ns, read.digests),
        )
        final = layout.publish(gen)
        layout.cleanup()

    return BuildReport(
        generation=final.name,
        articles=meta.articles,
        paragraphs=meta.paragraphs,
        vectors=nvec,
        embedded=embedded,
        reused=reused,
        seconds=time.perf_counter() - started,
        skipped=read.skipped,
        warnings=read.warnings
        + [capped_warning(aid) for aid in capped]
        + ([export_warning] if export_warning else []),
        files_read=read.files_read,
        stories=story.clusters,
        story_embedded=story_embedded,
    )


def _export_query_encoder(model: ModelInfo) -> str | None:
    """Export the ONNX query encoder (int8: also its quantization) for fast queries; it loads
    the model only when there is no good export yet. A failure only slows fp32 queries."""
    try:
        export_query_encoder(model)
    except Exception as exc:  # exporter missing, read-only cache: queries fall back
        return f"could not export the ONNX query encoder ({exc}); queries will start slowly"
    return None


def _write_docstore(
    path: Path, articles: list[Article], first_pids: Mapping[str, int] | None = None
) -> tuple[list[int], list]:
    writer = DocstoreWriter(path)
    pids: list[int] = []
    rows: list[tuple[Article, int]] = []
    try:
        for article in articles:
            first = first_pids[article.id] if first_pids is not None else None
            pids.extend(writer.add_article(article, first))
            rows.extend((article, i) for i in range(len(article.paragraphs)))
    finally:
        writer.close()
    return pids, rows


def _counting(items, progress: Progress):
    for item in items:
        yield item
        progress.advance(1)
