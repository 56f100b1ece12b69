"""Is a published generation whole? Checked before an incremental update builds on it.

An incremental update copies the published generation and changes the copy, so damage in it
(a truncated docstore, a byte-flipped FAISS file, a lost Whoosh segment) would be carried into
every later generation; worse, SQLite happily turns an emptied docstore into a fresh one and
the copy would silently lose every article. The check opens each store the way a reader does
and compares its counts with ``meta.json``: a few milliseconds, and only when there is work.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import REBUILD_HINT, IndexFormatError
from .layout import DOCSTORE_FILE, KEYWORD_DIR, VECTORS_FILE, IndexLayout, IndexMeta


def problems(generation: Path, meta: IndexMeta) -> list[str]:
    """What is wrong with the stores of ``generation`` (empty when nothing is)."""
    from .docstore import Docstore
    from .keyword import KeywordIndex
    from .vectors import VectorIndex

    found: list[str] = []
    try:
        docs = Docstore(generation / DOCSTORE_FILE)
        counts = (docs.count_articles(), docs.count_paragraphs())
        if counts != (meta.articles, meta.paragraphs):
            found.append(
                f"the docstore holds {counts[0]} articles and {counts[1]} paragraphs, "
                f"meta.json says {meta.articles} and {meta.paragraphs}"
            )
    except IndexFormatError as exc:
        found.append(_detail(exc))
    except sqlite3.DatabaseError as exc:
        found.append(f"docstore: {exc}")
    try:
        kw = KeywordIndex(generation / KEYWORD_DIR)
        try:
            if kw.doc_count() != meta.paragraphs:
                found.append(
                    f"the keyword index holds {kw.doc_count()} paragraphs, "
                    f"meta.json says {meta.paragraphs}"
                )
        finally:
            kw.close()
    except IndexFormatError as exc:
        found.append(_detail(exc))
    try:
        vec = VectorIndex(generation / VECTORS_FILE, meta.model.dim)
        if vec.ntotal != meta.vectors:
            found.append(
                f"the vector index holds {vec.ntotal} vectors, meta.json says {meta.vectors}"
            )
    except IndexFormatError as exc:
        found.append(_detail(exc))
    return found


def _detail(exc: IndexFormatError) -> str:
    return getattr(exc, "detail", None) or str(exc)


def verify_generation(layout: IndexLayout, generation: Path, meta: IndexMeta) -> None:
    """Raise ``IndexFormatError`` naming the damage when the generation is not whole."""
    found = problems(generation, meta)
    if found:
        raise IndexFormatError(
            f"the published index in {layout.root} is damaged ({'; '.join(found)}); nothing "
            f"was changed: {REBUILD_HINT} to build it again from the sources"
        )
