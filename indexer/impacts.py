"""The keyword index's postings as memory-mapped arrays, one set per Whoosh segment.

Whoosh keeps postings in compressed blocks that are decoded in Python (an unpickle per block
of 128 postings, a hashed term-info lookup per term): on BBC, a query whose words were not
decoded before cost 4 ms for the lookups and decoding against 0.5 ms for the BM25F
arithmetic. bm25s instead keeps a sparse term x document matrix in memory and sums its rows.
This module does the same beside Whoosh: for every segment, a CSR matrix of (field, term) x
document with the term frequency as value, written once when the segment is written and
memory-mapped by readers. Whoosh stays the index of record (analysis, phrase positions,
stored fields); the arrays hold what BM25F reads of it.

Why frequencies and not finished BM25F weights: a weight depends on the corpus's document
count and average field length, which every incremental update changes (and a sharded
cluster scores with global statistics), so stored weights would be stale after the next
update. Frequencies of a segment never change (Whoosh segments are immutable; deletions
are recorded beside them), so an update only writes the arrays of the segment it adds, and
the per-query arithmetic over the gathered postings is a few numpy operations.

Files, in the Whoosh directory, per segment id ``S`` (Whoosh's own file patterns, which its
writer cleans up, never match them; each is written to a temporary name and renamed, so a
hard-linked copy of a generation never sees another generation's bytes change):

* ``impacts_S.ptr.npy``: int64, row r's postings are ``[ptr[r], ptr[r + 1])``
* ``impacts_S.docs.npy``: int32 document numbers within the segment, ascending per row
* ``impacts_S.tf.npy``: float32 term frequencies (Whoosh's posting weights)
* ``impacts_S.terms``: a JSON header line, then one ``field<TAB>term`` per row; written
  last, so its presence says the segment's arrays are complete.

Postings of deleted documents stay in the arrays, as they stay in Whoosh's postings until a
merge: Whoosh's document frequencies count them, and the scorer masks them out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.reading import IndexReader

FORMAT = 1
PREFIX = "impacts_"
_SUFFIXES = (".ptr.npy", ".docs.npy", ".tf.npy", ".terms")

Postings = tuple[np.ndarray, np.ndarray]


def segment_ids(reader: IndexReader) -> list[tuple[str, int, int]]:
    """(segment id, document number offset, documents incl. deleted) of each leaf reader,
    in Whoosh's document numbering order."""
    out = []
    for leaf, offset in reader.leaf_readers():
        segment = getattr(leaf, "_segment", None)
        if segment is None:
            return []
        out.append((segment.segment_id(), offset, leaf.doc_count_all()))
    return out


def write_impacts(directory: Path, fields: Sequence[str] = ("text", "title")) -> int:
    """Bring the arrays in ``directory`` in step with its Whoosh index: write those of every
    segment that has none (after a build: all; after an update: the new or merged segment;
    after the first update of an index written before the arrays: all, once), and delete
    those of segments Whoosh no longer lists. Returns the postings written."""
    directory = Path(directory)
    ix = whoosh_index.open_dir(str(directory))
    written = 0
    with ix.reader() as reader:
        current = set()
        for leaf, _ in reader.leaf_readers():
            sid = leaf._segment.segment_id()
            current.add(sid)
            if not (directory / f"{PREFIX}{sid}.terms").exists():
                written += _write_segment(directory, sid, leaf, fields)
    for f in directory.iterdir():
        if f.name.startswith(PREFIX) and f.name.endswith(_SUFFIXES):
            sid = f.name[len(PREFIX) :].split(".", 1)[0]
            if sid not in current:
                f.unlink(missing_ok=True)  # a hard link of an older generation's file
    return written


def _write_segment(directory: Path, sid: str, leaf: IndexReader, fields: Sequence[str]) -> int:
    """Read every posting list of ``fields`` in one segment, in the terms file's order."""
    terms = leaf._terms  # W3TermsReader: items() walks the term table without hashed lookups
    postfile = terms._postfile
    keys: list[str] = []
    ptr = [0]
    docs: list[np.ndarray] = []
    tfs: list[np.ndarray] = []
    wanted = set(fields)
    for (fieldname, tbytes), info in terms.items():
        if fieldname not in wanted:
            continue
        text = tbytes.decode("utf-8")
        if "\n" in text or "\t" in text:
            continue  # cannot be written as a line; never produced by the analyzers in use
        if info.is_inlined():
            ids, weights, _ = info.inlined_postings()
            d = np.asarray(ids, dtype=np.int64)
            w = np.asarray(weights, dtype=np.float64)
        else:
            offset, length = info.extent()
            fmt = leaf.schema[fieldname].format
            d, w = read_matcher(W3LeafMatcher(postfile, offset, length, fmt))
        keys.append(f"{fieldname}\t{text}")
        docs.append(d)
        tfs.append(w)
        ptr.append(ptr[-1] + len(d))
    arrays = {
        ".ptr.npy": np.asarray(ptr, dtype=np.int64),
        ".docs.npy": (np.concatenate(docs) if docs else np.zeros(0)).astype(np.int32),
        ".tf.npy": (np.concatenate(tfs) if tfs else np.zeros(0)).astype(np.float32),
    }
    for suffix, arr in arrays.items():
        _save(directory / f"{PREFIX}{sid}{suffix}", arr)
    header = {"format": FORMAT, "documents": leaf.doc_count_all(), "rows": len(keys)}
    body = json.dumps(header) + "\n" + "\n".join(keys)
    _atomic_write(directory / f"{PREFIX}{sid}.terms", body.encode("utf-8"))
    return int(ptr[-1])


def read_matcher(matcher: W3LeafMatcher) -> Postings:
    """A term's postings (document numbers, weights) read block by block."""
    ids: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    while matcher.is_active():
        if matcher._data is None:
            matcher._read_data()
        # Ids are delta-encoded within a block; weights are float32 (or one value).
        ids.append(np.cumsum(np.asarray(matcher._data[0], dtype=np.int64)))
        matcher._read_weights()
        weights.append(np.asarray(matcher._weights, dtype=np.float64))
        matcher._next_block()
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(ids), np.concatenate(weights)


def _save(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr)
    os.replace(tmp, path)  # a new inode: a hard-linked old generation keeps its file


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class _Segment:
    offset: int
    rows: dict[str, int]
    ptr: np.ndarray
    docs: np.ndarray
    tf: np.ndarray


class Impacts:
    """The arrays of every segment of one opened Whoosh reader, memory-mapped.

    Read-only after construction, so threads share it freely. ``open`` returns None when any
    segment lacks its arrays (an index written before them, or by another tool): the caller
    then decodes Whoosh's postings as before.
    """

    def __init__(self, segments: list[_Segment]) -> None:
        self._segments = segments

    @staticmethod
    def open(directory: Path, reader: IndexReader) -> Impacts | None:
        directory = Path(directory)
        ids = segment_ids(reader)
        if not ids:
            return None
        segments = []
        for sid, offset, count in ids:
            base = directory / f"{PREFIX}{sid}"
            try:
                lines = (directory / f"{PREFIX}{sid}.terms").read_text("utf-8").split("\n")
                header = json.loads(lines[0])
                if header.get("format") != FORMAT or header.get("documents") != count:
                    return None
                keys = lines[1:] if header["rows"] else []
                ptr = np.load(f"{base}.ptr.npy", mmap_mode="r").view(np.ndarray)
                docs = np.load(f"{base}.docs.npy", mmap_mode="r").view(np.ndarray)
                tf = np.load(f"{base}.tf.npy", mmap_mode="r").view(np.ndarray)
            except (OSError, ValueError, KeyError):
                return None
            shape_ok = len(ptr) == len(keys) + 1 and len(docs) == len(tf)
            if len(keys) != header["rows"] or not shape_ok or ptr[0] != 0 or ptr[-1] != len(docs):
                return None  # not these arrays' files: Whoosh's postings serve instead
            rows = {key: i for i, key in enumerate(keys)}
            segments.append(_Segment(offset, rows, ptr, docs, tf))
        return Impacts(segments)

    def postings(self, field: str, term: str) -> Postings:
        """(document numbers, term frequencies) of ``term`` in ``field`` over all segments,
        deleted documents included (their count is Whoosh's document frequency)."""
        key = f"{field}\t{term}"
        docs: list[np.ndarray] = []
        tfs: list[np.ndarray] = []
        for s in self._segments:
            row = s.rows.get(key)
            if row is None:
                continue
            lo, hi = int(s.ptr[row]), int(s.ptr[row + 1])
            docs.append(s.docs[lo:hi] + s.offset if s.offset else s.docs[lo:hi])
            tfs.append(s.tf[lo:hi])
        if not docs:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if len(docs) == 1:
            return docs[0], tfs[0]
        return np.concatenate(docs), np.concatenate(tfs)

    def doc_frequency(self, field: str, term: str) -> int:
        """Whoosh's document frequency: postings over all segments, deleted included."""
        key = f"{field}\t{term}"
        total = 0
        for s in self._segments:
            row = s.rows.get(key)
            if row is not None:
                total += int(s.ptr[row + 1] - s.ptr[row])
        return total
