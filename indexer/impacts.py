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
* ``impacts_S.offsets.npy``: int64, where each row's term starts in the terms file (and
  where the file ends)
* ``impacts_S.terms``: a JSON header line (format, documents, each field's range of rows),
  then each row's term and a newline, by field, each field's terms in ascending UTF-8 order;
  written last, so its presence says the segment's arrays are complete. A reader maps it and
  finds a term by bisection: opening costs no parsing (a dict of Reuters' 65k terms took
  70 ms, most of a one-off query's keyword time).

Postings of deleted documents stay in the arrays, as they stay in Whoosh's postings until a
merge: Whoosh's document frequencies count them, and the scorer masks them out.
"""

from __future__ import annotations

import json
import mmap
import os
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.reading import IndexReader

FORMAT = 2
PREFIX = "impacts_"
_SUFFIXES = (".ptr.npy", ".docs.npy", ".tf.npy", ".offsets.npy", ".terms")

Postings = tuple[np.ndarray, np.ndarray]
#: (field, word) lookups a segment remembers.
MAX_FOUND = 200_000


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
    """Read every posting list of ``fields`` in one segment; rows by field, then term."""
    terms = leaf._terms  # W3TermsReader: items() walks the term table without hashed lookups
    postfile = terms._postfile
    rows: list[tuple[str, bytes, np.ndarray, np.ndarray]] = []
    wanted = set(fields)
    for (fieldname, tbytes), info in terms.items():
        if fieldname not in wanted or b"\n" in tbytes:
            continue  # a term with a newline cannot be a line; the analyzers never make one
        if info.is_inlined():
            ids, weights, _ = info.inlined_postings()
            d = np.asarray(ids, dtype=np.int64)
            w = np.asarray(weights, dtype=np.float64)
        else:
            offset, length = info.extent()
            fmt = leaf.schema[fieldname].format
            d, w = read_matcher(W3LeafMatcher(postfile, offset, length, fmt))
        rows.append((fieldname, tbytes, d, w))
    rows.sort(key=lambda r: (r[0], r[1]))  # the order the reader bisects in
    ranges: dict[str, list[int]] = {}
    for i, (fieldname, _, _, _) in enumerate(rows):
        ranges.setdefault(fieldname, [i, i])[1] = i + 1
    header = {"format": FORMAT, "documents": leaf.doc_count_all(), "rows": len(rows)}
    head = (json.dumps({**header, "fields": ranges}) + "\n").encode("utf-8")
    lengths = np.asarray([len(r[1]) + 1 for r in rows], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64) + len(head)
    sizes = np.asarray([len(r[2]) for r in rows], dtype=np.int64)
    arrays = {
        ".ptr.npy": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        ".docs.npy": np.concatenate([r[2] for r in rows] or [np.zeros(0)]).astype(np.int32),
        ".tf.npy": np.concatenate([r[3] for r in rows] or [np.zeros(0)]).astype(np.float32),
        ".offsets.npy": offsets,
    }
    for suffix, arr in arrays.items():
        _save(directory / f"{PREFIX}{sid}{suffix}", arr)
    body = head + b"".join(r[1] + b"\n" for r in rows)
    _atomic_write(directory / f"{PREFIX}{sid}.terms", body)
    return int(sizes.sum())


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


class _Terms:
    """The terms of a mapped terms file as a sequence of bytes, for ``bisect``."""

    def __init__(self, data: mmap.mmap, offsets: np.ndarray) -> None:
        self._data = data
        self._offsets = offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, row: int) -> bytes:
        return self._data[int(self._offsets[row]) : int(self._offsets[row + 1]) - 1]


@dataclass(frozen=True)
class _Segment:
    offset: int
    fields: dict[str, tuple[int, int]]
    terms: _Terms
    ptr: np.ndarray
    docs: np.ndarray
    tf: np.ndarray
    #: Rows found so far ((field, term) -> row or None): a word asked again costs a dict get.
    found: dict[tuple[str, str], int | None] = field(default_factory=dict)

    def row(self, fieldname: str, term: str) -> int | None:
        try:
            return self.found[(fieldname, term)]
        except KeyError:
            pass
        span = self.fields.get(fieldname)
        row: int | None = None
        if span is not None:
            key = term.encode("utf-8")
            at = bisect_left(self.terms, key, span[0], span[1])
            row = at if at < span[1] and self.terms[at] == key else None
        if len(self.found) < MAX_FOUND:  # words never seen by the index count too: bounded
            self.found[(fieldname, term)] = row
        return row


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
                with open(f"{base}.terms", "rb") as f:
                    data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                header = json.loads(data[: data.find(b"\n")])
                if header.get("format") != FORMAT or header.get("documents") != count:
                    return None
                ptr = np.load(f"{base}.ptr.npy", mmap_mode="r").view(np.ndarray)
                docs = np.load(f"{base}.docs.npy", mmap_mode="r").view(np.ndarray)
                tf = np.load(f"{base}.tf.npy", mmap_mode="r").view(np.ndarray)
                offsets = np.load(f"{base}.offsets.npy", mmap_mode="r").view(np.ndarray)
                fields = {f: (int(lo), int(hi)) for f, (lo, hi) in header["fields"].items()}
                rows = int(header["rows"])
            except (OSError, ValueError, KeyError, TypeError):
                return None
            shape_ok = len(ptr) == rows + 1 and len(offsets) == rows + 1 and len(docs) == len(tf)
            if not shape_ok or ptr[0] != 0 or ptr[-1] != len(docs) or offsets[-1] != len(data):
                return None  # not these arrays' files: Whoosh's postings serve instead
            terms = _Terms(data, offsets)
            segments.append(_Segment(offset, fields, terms, ptr, docs, tf))
        return Impacts(segments)

    def postings(self, field: str, term: str) -> Postings:
        """(document numbers, term frequencies) of ``term`` in ``field`` over all segments,
        deleted documents included (their count is Whoosh's document frequency)."""
        docs: list[np.ndarray] = []
        tfs: list[np.ndarray] = []
        for s in self._segments:
            row = s.row(field, term)
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
        total = 0
        for s in self._segments:
            row = s.row(field, term)
            if row is not None:
                total += int(s.ptr[row + 1] - s.ptr[row])
        return total
