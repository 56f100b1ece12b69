"""Incremental updates: apply only what changed in the source folders to a new generation.

``update_index`` compares the folders with the current generation's manifest, and

* nothing changed: returns after a stat of every file (no model, no torch, no index opened);
* articles were added, edited or deleted: copies the current generation cheaply (Whoosh
  segment files are hard-linked, since Whoosh never rewrites a segment file; the docstore
  and FAISS file are copied), applies the deletes and adds to all three stores, and publishes
  the copy like a full build. Paragraph texts already embedded come from the embedding cache,
  so an edit encodes only the paragraphs whose text changed;
* no index, no manifest, or ``rebuild=True``: runs a full ``build_index``.

Everything is written into a private generation folder and published by one atomic swap of
``CURRENT``; a crash at any moment leaves the published generation as it was, and the next run
removes the leftovers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import manifest as mf
from .changes import plan
from .encoders.base import ModelInfo
from .encoders.model import check_same_model
from .encoders.sbert import Embedder
from .errors import EmptyCorpusError, ModelError
from .layout import IndexLayout, IndexMeta, copy_generation
from .reports import UpdateReport
from .storage import writing

if TYPE_CHECKING:  # builder imports Whoosh and FAISS: not needed for a run with no changes
    from .builder import BuildOptions
    from .progress import Progress


def update_index(
    paths: Sequence[str | os.PathLike[str]],
    index_dir: str | os.PathLike[str],
    options: BuildOptions | None = None,
    progress: Progress | None = None,
    wait: float = 0.0,
    embedder: Embedder | None = None,
    rebuild: bool = False,
) -> UpdateReport:
    """Bring the index in ``index_dir`` up to date with ``paths``, doing as little as possible.

    ``options`` and ``progress`` are those of ``build_index``. Raises ``ModelError`` when the
    index was built with another model or other embedding settings than asked for: mixing
    vectors from two models would silently break dense search, so that needs ``rebuild``.
    """
    started = time.perf_counter()
    layout = IndexLayout(index_dir)
    roots = [Path(p).resolve() for p in paths]
    with writing(layout), layout.writer_lock(wait=wait), writing(layout, lock_held=True):
        old_manifest = None
        meta = None
        if not rebuild and layout.exists():
            gen = layout.current()
            meta = layout.read_meta(gen)  # refuses other format versions (says --rebuild)
            _check_options(meta, options, embedder)
            old_manifest = mf.load(gen)
        if old_manifest is None or meta is None:
            return _full(roots, index_dir, options, progress, embedder, started)

        layout.cleanup()  # leftovers of a crashed run
        cs = plan(roots, old_manifest)
        if cs.empty:
            if cs.touched or [str(r) for r in roots] != old_manifest.roots:
                _republish_manifest(layout, gen, meta, cs.manifest, roots)
            if not cs.manifest.winners():
                raise EmptyCorpusError(
                    "no articles found under " + ", ".join(str(p) for p in paths)
                )
            return UpdateReport(
                mode="unchanged",
                generation=layout.current_name(),
                articles=meta.articles,
                paragraphs=meta.paragraphs,
                vectors=meta.vectors,
                seconds=time.perf_counter() - started,
                skipped=cs.read.skipped,
                warnings=cs.read.warnings,
            )
        if not cs.manifest.winners():
            raise EmptyCorpusError("no articles found under " + ", ".join(str(p) for p in paths))
        from .apply import apply_changes  # whoosh, faiss: only when there is work
        from .integrity import verify_generation

        verify_generation(layout, gen, meta)  # never carry damage into a new generation
        return apply_changes(layout, gen, meta, cs, roots, options, progress, embedder, started)


def _full(roots, index_dir, options, progress, embedder, started) -> UpdateReport:
    from .builder import build_index

    r = build_index(roots, index_dir, options, progress, embedder=embedder, lock_held=True)
    return UpdateReport(
        mode="full",
        generation=r.generation,
        articles=r.articles,
        paragraphs=r.paragraphs,
        vectors=r.vectors,
        embedded=r.embedded,
        reused=r.reused,
        added=r.articles,
        stories=r.stories,
        story_embedded=r.story_embedded,
        seconds=time.perf_counter() - started,
        skipped=r.skipped,
        warnings=r.warnings,
    )


def _check_options(
    meta: IndexMeta, options: BuildOptions | None, embedder: Embedder | None
) -> None:
    """Refuse to mix: a different model or headline setting needs a full ``--rebuild``."""
    asked: ModelInfo | None = embedder.info if embedder else None
    if asked is None and options is not None and options.model_path:
        from .encoders.model import resolve_model

        asked = resolve_model(options.model_path)
    if asked is not None:
        check_same_model(meta.model, asked, updating=True)
    if options is not None and options.embed_headline != meta.embed_headline:
        flag = "--headline" if meta.embed_headline else "--no-headline"
        raise ModelError(
            f"this index was built with {flag}: pass {flag}, or run "
            "`newsearch index PATH --rebuild` to change it"
        )
    _check_precision(meta, options, embedder)


def _check_precision(
    meta: IndexMeta, options: BuildOptions | None, embedder: Embedder | None
) -> None:
    """fp32 and int8 vectors are different spaces: an update keeps the index's precision."""
    if embedder is not None:
        asked = embedder.info.precision
    elif options is not None and options.int8 is not None:
        asked = "int8" if options.int8 else "fp32"
    else:
        return
    if asked != meta.model.precision:
        flag = f"--{asked}"
        raise ModelError(
            f"this index holds {meta.model.precision} vectors and {flag} was asked for: the two "
            f"never mix in one index; run `newsearch index PATH --rebuild {flag}` to re-encode "
            f"it all in {asked}, or drop {flag}"
        )


def _republish_manifest(
    layout: IndexLayout, gen: Path, meta: IndexMeta, manifest: mf.Manifest, roots
) -> None:
    """Only mtimes (or the spelling of the sources) moved: publish a copy with the fresh
    manifest so the next run does not hash those files again. The stores are hard-linked."""
    new = layout.new_generation()
    copy_generation(gen, new, link_stores=True)  # nothing in the stores changes
    mf.save(new, manifest)
    layout.write_meta(new, replace(meta, sources=[str(r) for r in roots]))
    layout.publish(new)
    layout.cleanup()
