"""The manifest (indexer/manifest.py): what a generation was built from, saved beside it.

No model and no index: manifests are written to and read from real files in tmp_path, and
``from_build`` is fed by the real corpus reader over real files.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from newsearch.indexer import manifest as mf
from newsearch.indexer.corpus import Article, Paragraph, read_articles, scan


def _manifest() -> mf.Manifest:
    return mf.Manifest(
        roots=["/corpus/news", "/corpus/wire.jsonl"],
        files={
            "/corpus/news/z.txt": mf.FileEntry(
                "z.txt", "", 120, 1_700_000_000_000_000_001, "d" * 32, [["z.txt", "a" * 32]]
            ),
            "/corpus/news/sport/b.txt": mf.FileEntry(
                "sport/b.txt", "sport", 7, 5, "e" * 32, [["sport/b.txt", "b" * 32]]
            ),
            "/corpus/wire.jsonl": mf.FileEntry(
                "wire.jsonl", "", 99, 6, "f" * 32, [["r1", "c" * 32], ["r2", "0" * 32]]
            ),
        },
        scanned_ns=1_700_000_000_500_000_000,
    )


def test_save_then_load_gives_the_same_manifest_in_the_same_order(tmp_path):
    original = _manifest()
    mf.save(tmp_path, original)
    loaded = mf.load(tmp_path)
    assert loaded == original
    # Reading order decides duplicate ids: it must survive the round trip (dict == ignores it).
    assert list(loaded.files) == list(original.files)
    assert loaded.scanned_ns == original.scanned_ns and loaded.version == mf.MANIFEST_VERSION
    assert [p.name for p in tmp_path.iterdir()] == [mf.MANIFEST_FILE]  # no .tmp left behind


def test_save_replaces_the_previous_manifest(tmp_path):
    mf.save(tmp_path, _manifest())
    smaller = _manifest()
    smaller.files.pop("/corpus/wire.jsonl")
    mf.save(tmp_path, smaller)
    assert mf.load(tmp_path) == smaller


def _write(path: Path, data: bytes | str) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def _valid_json() -> dict:
    return _manifest().to_json()


@pytest.mark.parametrize(
    "damage",
    [
        "missing",
        "empty",
        "truncated",
        "not json",
        "not utf-8",
        "a list",
        "no files",
        "unknown entry field",
        "files not a mapping",
        "newer version",
        "older version",
        "no version",
        "a directory",
    ],
)
def test_a_missing_damaged_or_other_version_manifest_loads_as_none(tmp_path, damage):
    """None means "no manifest": the caller falls back to a full build instead of failing."""
    path = tmp_path / mf.MANIFEST_FILE
    good = json.dumps(_valid_json())
    data = _valid_json()
    if damage == "missing":
        pass
    elif damage == "empty":
        _write(path, "")
    elif damage == "truncated":
        _write(path, good[: len(good) // 2])
    elif damage == "not json":
        _write(path, "manifest? what manifest")
    elif damage == "not utf-8":
        _write(path, b"\xff\xfe" + good.encode("utf-8"))
    elif damage == "a list":
        _write(path, json.dumps([data]))
    elif damage == "no files":
        del data["files"]
        _write(path, json.dumps(data))
    elif damage == "unknown entry field":
        next(iter(data["files"].values()))["inode"] = 42
        _write(path, json.dumps(data))
    elif damage == "files not a mapping":
        data["files"] = [1, 2, 3]
        _write(path, json.dumps(data))
    elif damage == "newer version":
        data["version"] = mf.MANIFEST_VERSION + 1
        _write(path, json.dumps(data))
    elif damage == "older version":
        data["version"] = mf.MANIFEST_VERSION - 1
        _write(path, json.dumps(data))
    elif damage == "no version":
        del data["version"]
        _write(path, json.dumps(data))
    elif damage == "a directory":
        path.mkdir()
    assert mf.load(tmp_path) is None


def _entry(articles: list[list[str]]) -> mf.FileEntry:
    return mf.FileEntry("rel", "", 1, 1, "x" * 32, articles)


def test_winners_the_first_file_in_reading_order_keeps_a_duplicate_id():
    # Keys are deliberately not in sorted order: reading order is the dict's order.
    manifest = mf.Manifest(
        roots=["/c"],
        files={
            "/c/z.jsonl": _entry([["shared", "digest-z"], ["only-z", "dz"]]),
            "/c/a.jsonl": _entry([["shared", "digest-a"], ["only-a", "da"]]),
            "/c/m.jsonl": _entry([["only-a", "dm"], ["shared", "digest-m"]]),
        },
    )
    assert manifest.winners() == {
        "shared": ("digest-z", "/c/z.jsonl"),
        "only-z": ("dz", "/c/z.jsonl"),
        "only-a": ("da", "/c/a.jsonl"),
    }
    reordered = mf.Manifest(roots=["/c"], files=dict(reversed(manifest.files.items())))
    assert reordered.winners()["shared"] == ("digest-m", "/c/m.jsonl")
    assert reordered.winners()["only-a"] == ("dm", "/c/m.jsonl")


def test_winners_within_one_file_the_first_record_wins():
    manifest = mf.Manifest(["/c"], {"/c/w.jsonl": _entry([["r", "first"], ["r", "second"]])})
    assert manifest.winners() == {"r": ("first", "/c/w.jsonl")}


def test_winners_of_an_empty_manifest_and_of_files_without_articles():
    assert mf.Manifest(["/c"], {}).winners() == {}
    assert mf.Manifest(["/c"], {"/c/empty.txt": _entry([])}).winners() == {}


def test_trusts_stat_only_for_mtimes_older_than_the_racy_window():
    scanned = 10 * mf.RACY_NS
    manifest = mf.Manifest(["/c"], {}, scanned_ns=scanned)

    def at(mtime_ns: int) -> mf.FileEntry:
        return replace(_entry([]), mtime_ns=mtime_ns)

    assert manifest.trusts_stat(at(0))
    assert manifest.trusts_stat(at(scanned - mf.RACY_NS - 1))
    # Within RACY_NS of the scan the file may have changed again in the same timestamp tick.
    assert not manifest.trusts_stat(at(scanned - mf.RACY_NS))
    assert not manifest.trusts_stat(at(scanned - 1))
    assert not manifest.trusts_stat(at(scanned))
    assert not manifest.trusts_stat(at(scanned + 10**9))  # a clock in the future
    # A manifest that recorded no scan time trusts no stat of a file dated after 1970.
    assert not mf.Manifest(["/c"], {}).trusts_stat(at(1_700_000_000 * 10**9))


def _article() -> Article:
    return Article(
        id="world/zebras.txt",
        title="Zebras cross the river",
        paragraphs=[
            Paragraph(0, "Thousands of zebras crossed on Sunday.", "NAIROBI"),
            Paragraph(1, "Rangers counted them from the air."),
        ],
        source_path="/corpus/world/zebras.txt",
        date="2026-04-26",
        source="Wire",
        url="https://example.org/zebras",
        category="world",
    )


STORED_CHANGES = {
    "id": lambda a: replace(a, id="world/zebras2.txt"),
    "title": lambda a: replace(a, title="Zebras cross the river again"),
    "source_path": lambda a: replace(a, source_path="/elsewhere/world/zebras.txt"),
    "date": lambda a: replace(a, date="2026-04-27"),
    "source": lambda a: replace(a, source="Other Wire"),
    "url": lambda a: replace(a, url="https://example.org/zebras?2"),
    "category": lambda a: replace(a, category="nature"),
    "paragraph text": lambda a: replace(
        a, paragraphs=[a.paragraphs[0], Paragraph(1, "Rangers counted them from a plane.")]
    ),
    "paragraph context": lambda a: replace(
        a, paragraphs=[Paragraph(0, a.paragraphs[0].text, "ARUSHA"), a.paragraphs[1]]
    ),
    "paragraph position": lambda a: replace(
        a, paragraphs=[a.paragraphs[0], Paragraph(2, a.paragraphs[1].text)]
    ),
    "paragraph order": lambda a: replace(
        a,
        paragraphs=[
            Paragraph(0, a.paragraphs[1].text, a.paragraphs[1].context),
            Paragraph(1, a.paragraphs[0].text, a.paragraphs[0].context),
        ],
    ),
    "a paragraph added": lambda a: replace(a, paragraphs=[*a.paragraphs, Paragraph(2, "More.")]),
    "a paragraph removed": lambda a: replace(a, paragraphs=a.paragraphs[:1]),
    "context moved into the text": lambda a: replace(
        a, paragraphs=[Paragraph(0, "NAIROBI " + a.paragraphs[0].text), a.paragraphs[1]]
    ),
}


@pytest.mark.parametrize("field", list(STORED_CHANGES))
def test_article_digest_changes_with_every_stored_field(field):
    assert mf.article_digest(STORED_CHANGES[field](_article())) != mf.article_digest(_article())


def test_article_digest_is_stable_and_ignores_what_no_store_keeps():
    digest = mf.article_digest(_article())
    assert mf.article_digest(_article()) == digest  # an equal article built again
    assert len(digest) == 32 and int(digest, 16) >= 0
    # The JSONL line number is only used to name a skipped record; moving the record to
    # another line of its file must not re-index it.
    assert mf.article_digest(replace(_article(), line=7)) == digest


def test_article_digest_changes_when_the_title_stops_being_derived():
    derived = replace(_article(), derived_title=True)
    assert derived.headline != _article().headline  # what the indexes see differs ...
    assert mf.article_digest(derived) != mf.article_digest(_article())  # ... so must this


def _corpus(root: Path) -> Path:
    (root / "sport").mkdir(parents=True)
    (root / "sport" / "race.txt").write_text(
        "Marathon record falls\n\nThe record fell by a minute.\n", encoding="utf-8"
    )
    (root / "wire.jsonl").write_text(
        json.dumps({"id": "w1", "title": "Rates held", "text": "The bank held rates."})
        + "\n"
        + json.dumps({"id": "w2", "title": "Rates cut", "text": "Another bank cut rates."})
        + "\n",
        encoding="utf-8",
    )
    (root / "notes.txt").write_text("Zebras\n\nZebras crossed the river.\n", encoding="utf-8")
    return root


def test_from_build_records_each_file_read_with_its_articles(tmp_path):
    root = _corpus(tmp_path / "c")
    read = read_articles([root])
    manifest = mf.from_build([root], read.sources, read.articles, 123, read.digests)
    assert manifest.roots == [str(root)] and manifest.scanned_ns == 123
    assert list(manifest.files) == [f.key for f in read.sources]  # reading order
    for f in read.sources:
        entry = manifest.files[f.key]
        assert (entry.rel, entry.category, entry.size, entry.mtime_ns) == (
            f.rel,
            f.category,
            f.size,
            f.mtime_ns,
        )
        assert entry.digest == mf.file_digest(f.path)
        assert entry.articles == [
            [a.id, mf.article_digest(a)] for a in read.articles if a.source_path == f.key
        ]
    wire = manifest.files[str(root / "wire.jsonl")]
    assert [aid for aid, _ in wire.articles] == ["w1", "w2"]
    # ... and it saves and loads like any other manifest.
    mf.save(tmp_path, manifest)
    assert mf.load(tmp_path) == manifest


def test_from_build_leaves_out_a_file_that_was_not_read(tmp_path):
    """A file stat'ed by the scan but gone before it was read is left out, so the next
    run finds it missing from the manifest and tries it again (here: sees it deleted)."""
    root = _corpus(tmp_path / "c")
    files = scan([root])  # the stat taken before reading
    (root / "notes.txt").unlink()
    read = read_articles([root])
    assert str(root / "notes.txt") in [f.key for f in files]
    manifest = mf.from_build([root], files, read.articles, 0, read.digests)
    assert str(root / "notes.txt") not in manifest.files
    assert set(manifest.files) == {str(root / "sport" / "race.txt"), str(root / "wire.jsonl")}
    # Without digests nothing counts as read.
    assert mf.from_build([root], files, read.articles).files == {}


def test_from_build_keeps_a_file_that_was_read_but_held_no_article(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / "blank.txt").write_text("\n\n   \n", encoding="utf-8")
    read = read_articles([root])
    assert read.articles == []
    manifest = mf.from_build([root], read.sources, read.articles, 0, read.digests)
    assert manifest.files[str(root / "blank.txt")].articles == []  # unchanged: not read again


def test_from_build_of_a_real_read_records_ids_that_lost_to_a_duplicate(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    for name, text in (("a.jsonl", "Zebras crossed the river."), ("b.jsonl", "Giraffes ate.")):
        (root / name).write_text(json.dumps({"id": "X", "text": text}) + "\n", encoding="utf-8")
    read = read_articles([root])
    manifest = mf.from_build([root], read.sources, read.parsed, 0, read.digests)
    assert manifest.winners()["X"][1] == str(root / "a.jsonl")
    assert [aid for aid, _ in manifest.files[str(root / "b.jsonl")].articles] == ["X"]
