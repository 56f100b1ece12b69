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
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import manifest as mf
from .corpus import Article, ReadReport, Skipped, SourceFile, read_file, scan
from .embedder import DEFAULT_MODEL_SHA256, Embedder, ModelInfo
from .errors import EmptyCorpusError, ModelError
from .layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE, IndexLayout, IndexMeta, utc_now
from .storage import writing

if TYPE_CHECKING:  # builder imports Whoosh and FAISS: not needed for a run with no changes
    from .builder import BuildOptions, Progress

#: Whoosh files that are rewritten or locked in place: copied, never hard-linked.
_NO_LINK_SUFFIXES = ("WRITELOCK", "READLOCK", ".lock")


@dataclass
class ChangeSet:
    """What differs between the folders and the current generation."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    #: New content of every added or changed article.
    articles: dict[str, Article] = field(default_factory=dict)
    files_added: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    files_deleted: list[str] = field(default_factory=list)
    manifest: mf.Manifest | None = None
    read: ReadReport = field(default_factory=ReadReport)
    #: Files whose stat changed but whose content did not (only the manifest is updated).
    touched: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.deleted)

    @property
    def stale_files(self) -> int:
        return len(self.files_added) + len(self.files_changed) + len(self.files_deleted)


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
    #: Story clusters after a full build; None after an incremental run, which leaves existing
    #: stories as they are and files each added article as a story of its own until the next
    #: ``--rebuild`` (re-clustering every article would break the 2-second edit budget).
    stories: int | None = None
    #: Texts encoded for story clustering, beside ``embedded`` (full builds only).
    story_embedded: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def plan(paths: Sequence[str | os.PathLike[str]], old: mf.Manifest | None) -> ChangeSet:
    """Compare the folders with ``old``: stat every file, hash the ones whose size or mtime
    moved, parse the ones whose content changed. Reads nothing else."""
    cs = ChangeSet(read=ReadReport())
    old_files = old.files if old else {}
    scanned_ns = time.time_ns()
    files = scan(list(paths), cs.read)
    entries: dict[str, mf.FileEntry] = {}
    parsed: dict[str, list[Article]] = {}
    for f in files:
        prev = old_files.get(f.key)
        same_stat = bool(
            prev and prev.size == f.size and prev.mtime_ns == f.mtime_ns and prev.rel == f.rel
        )
        if same_stat and old is not None and old.trusts_stat(prev):
            entries[f.key] = prev
            continue
        try:
            digest = mf.file_digest(f.path)
        except FileNotFoundError:
            cs.read.skipped.append(Skipped(f.rel, "vanished before it could be read"))
            continue
        except OSError as exc:
            _keep_unreadable(cs, f, prev, exc, entries)
            continue
        if prev and prev.digest == digest and prev.rel == f.rel:
            if same_stat:
                entries[f.key] = prev
            else:
                entries[f.key] = replace(prev, size=f.size, mtime_ns=f.mtime_ns)
                cs.touched += 1
            continue
        articles = read_file(f.path, f.rel, cs.read, category=f.category)
        if f.key not in cs.read.digests:  # vanished or became unreadable since the hash
            if prev is not None and f.path.exists():
                entries[f.key] = prev
            continue
        parsed[f.key] = articles
        entries[f.key] = mf.FileEntry(
            f.rel,
            f.category,
            f.size,
            f.mtime_ns,
            cs.read.digests[f.key],  # of the bytes parsed, not of the earlier read
            [[a.id, mf.article_digest(a)] for a in articles],
        )
        (cs.files_changed if prev else cs.files_added).append(f.rel)
    cs.files_deleted = [e.rel for k, e in old_files.items() if k not in entries]
    cs.manifest = mf.Manifest([str(p) for p in paths], entries, scanned_ns=scanned_ns)

    new_win = cs.manifest.winners()
    old_win = old.winners() if old else {}
    cs.deleted = [a for a in old_win if a not in new_win]
    cs.added = [a for a in new_win if a not in old_win]
    cs.changed = [a for a in new_win if a in old_win and old_win[a][0] != new_win[a][0]]
    for aid in cs.added + cs.changed:
        key = new_win[aid][1]
        if key not in parsed:  # an unchanged file whose article now wins a duplicate id
            entry = entries[key]
            parsed[key] = read_file(Path(key), entry.rel, cs.read, category=entry.category)
        article = next((a for a in parsed[key] if a.id == aid), None)
        if article is None:
            # The file changed again between two reads: drop the article and forget the file,
            # so the next run sees it as new and adds what it holds then.
            cs.manifest.files.pop(key, None)
            if aid in old_win:
                cs.deleted.append(aid)
            continue
        cs.articles[aid] = article
    cs.added = [a for a in cs.added if a in cs.articles]
    cs.changed = [a for a in cs.changed if a in cs.articles]
    for key, articles in parsed.items():
        for a in articles:
            if new_win.get(a.id, ("", key))[1] != key:
                rel = entries[key].rel
                cs.read.skipped.append(
                    Skipped(rel, f"duplicate article id {a.id!r}", a.line or None)
                )
    return cs


def _keep_unreadable(cs: ChangeSet, f: SourceFile, prev, exc: OSError, entries) -> None:
    """A file that is there but cannot be read now (permissions, I/O error) keeps what the
    index holds of it: a passing read error must not delete articles already indexed."""
    reason = f"unreadable ({exc.strerror or exc})"
    if prev is not None:
        entries[f.key] = prev
        reason += ": kept the version indexed before"
    cs.read.skipped.append(Skipped(f.rel, reason))


def stale(
    index_dir: str | os.PathLike[str], paths: Sequence[str | os.PathLike[str]] | None = None
) -> tuple[ChangeSet, IndexMeta]:
    """What an ``index`` run would change now: (ChangeSet, meta). Takes no lock, writes nothing."""
    layout = IndexLayout(index_dir)
    gen = layout.current()
    meta = layout.read_meta(gen)
    roots = [Path(p) for p in (paths or meta.sources)]
    return plan(roots, mf.load(gen)), meta


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
        from .embedder import resolve_model

        asked = resolve_model(options.model_path)
    if asked is not None and (asked.sha256 != meta.model.sha256 or asked.dim != meta.model.dim):
        raise ModelError(
            f"this index was built with model {meta.model.name} (weights "
            f"{meta.model.sha256[:12]}…) but {asked.name} (weights {asked.sha256[:12]}…) was "
            "given: run `newsearch index PATH --rebuild` to rebuild it with the new model"
        )
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


def index_model(meta: IndexMeta, options: BuildOptions | None) -> ModelInfo:
    """The model to encode new paragraphs with: the one asked for, else the one that built
    the index (its folder if it still exists, else the packaged default); verified by hash."""
    from .embedder import resolve_model

    if options is not None and options.model_path:
        info = resolve_model(options.model_path)
    elif os.path.isdir(meta.model.path):
        info = resolve_model(meta.model.path)
    elif meta.model.sha256 == DEFAULT_MODEL_SHA256:
        info = resolve_model(None)
    else:
        raise ModelError(
            f"the model that built this index is gone ({meta.model.path}): pass --model, or "
            "run `newsearch index PATH --rebuild`"
        )
    if info.sha256 != meta.model.sha256:
        raise ModelError(
            f"the model at {info.path} is not the one that built this index (weights "
            f"{info.sha256[:12]}…, index {meta.model.sha256[:12]}…): run "
            "`newsearch index PATH --rebuild`"
        )
    return info


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


def copy_generation(src: Path, dst: Path, link_stores: bool = False) -> None:
    """Make ``dst`` a private, writable copy of the published generation ``src``.

    Whoosh segment and TOC files are hard-linked: Whoosh writes every change into new files
    (new segments, a new numbered TOC renamed into place) and only unlinks old ones, so a
    writer in ``dst`` never touches ``src``'s bytes. The docstore (SQLite writes in place) and
    the FAISS file (rewritten whole) are copied, unless ``link_stores`` says they stay as is.
    """
    kw_src, kw_dst = src / KEYWORD_DIR, dst / KEYWORD_DIR
    kw_dst.mkdir(parents=True, exist_ok=True)
    for f in kw_src.iterdir():
        if not f.is_file():
            continue
        if f.name.endswith(_NO_LINK_SUFFIXES):
            continue  # a lock file: Whoosh makes its own
        _link_or_copy(f, kw_dst / f.name)
    for name in (DOCSTORE_FILE, VECTORS_FILE):
        if link_stores:
            _link_or_copy(src / name, dst / name)
        else:
            shutil.copyfile(src / name, dst / name)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # a filesystem without hard links
        shutil.copy2(src, dst)


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
