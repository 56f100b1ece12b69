"""Hostile corpus files: each one is skipped or indexed with a warning that names the file (and
the line, for JSONL), the rest of the corpus is indexed, and the run ends with a summary of what
was indexed and what was skipped and why (``--json``: ``skipped``, ``skipped_reasons``,
``warnings``).

Faults the file system cannot be made to produce on demand (a file vanishing or changing at one
exact moment, a permission error while running as root) are injected into the real read call.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import threading
from pathlib import Path

import pytest
from conftest import DEMO, write
from index_checks import check_consistent
from typer.testing import CliRunner

from newsearch.cli.main import app
from newsearch.indexer import builder
from newsearch.indexer import corpus as articles_mod
from newsearch.indexer.corpus import (
    MAX_ARTICLE_BYTES,
    MAX_PARAGRAPH_CHARS,
    read_articles,
)
from newsearch.indexer.encoders.windows import MAX_ARTICLE_WINDOWS
from newsearch.indexer.stories import StoryConfig, assign_stories
from newsearch.indexer.update import update_index
from newsearch.search import Searcher

runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args])


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(200)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256))
ZIP = b"PK\x03\x04" + bytes(100)
JSONL = [
    '{"id": "ok-1", "title": "Penguin census", "text": "Emperor penguins crowd the shelf."}',
    "{not json at all",
    '{"id": "ok-1", "title": "Same id", "text": "A duplicate id about herons."}',
    '{"title": "No id here", "text": "A record without an id about badgers."}',
    '{"id": "../../etc/passwd", "title": "Path-like id", "text": "Otters hold the riverbank."}',
    '["an", "array"]',
    '{"id": "no-text"}',
    '{"id": "nested", "title": "Object text", "text": {"html": "<p>x</p>"}}',
    '{"id": "bad-meta", "title": "Ibis", "text": "Ibises nest early.", "source": {"a": 1}}',
    '{"id": "a\\u0001b", "text": "An id with a control character."}',
    json.dumps({"id": "x" * 600, "text": "An id far too long."}),
    '{"id": "surrogate", "text": "Lemurs \\ud800 leap between trees."}',
    "[" * 100_000 + "]" * 100_000,
    json.dumps({"id": 42, "title": "Numeric id", "text": "Moose cross the road at dusk."}),
    json.dumps({"id": "long-title", "title": "word " * 200, "text": "Body of long title."}),
    "",
    "   ",
]
# line number -> (reason kind,) for the JSONL lines that are skipped
JSONL_SKIPPED = {
    2: "malformed JSON",
    3: "duplicate article id",
    6: "not a JSON object",
    7: "no title or text",
    8: "wrong type",
    10: "bad id",
    11: "id too long",
    13: "malformed JSON",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """DEMO/sport (4 good articles) and every kind of hostile file beside them."""
    root = tmp_path_factory.mktemp("hostile") / "corpus"
    shutil.copytree(DEMO / "sport", root / "sport")
    h = root / "hostile"
    write(h / "empty.txt", "")
    write(h / "blank.txt", "\n\n   \n\t\n")
    write(h / "headline-only.txt", "Zeppelin lands on the harbour roof\n")
    write(h / "image.txt", PNG)
    write(h / "paper.txt", PDF)
    write(h / "photo.txt", JPEG)
    write(h / "archive.txt", ZIP)
    write(h / "notes.txt", gzip.compress(b"Gzipped headline\n\nGzipped body.\n"))
    write(h / "real.pdf", PDF)  # not an article ending: not read at all
    write(h / "real.png", PNG)
    body = "Café owners in Münster praised the naïve jury’s décor award."
    write(h / "damaged-utf8.txt", f"Crème brûlée wins\n\n{body}\n".encode() + b" \xff\xfe end\n")
    write(
        h / "utf16.txt",
        "Sixteen-bit headline\n\nThe quokka census in Perth counted 12,000 animals.\n".encode(
            "utf-16"
        ),
    )
    write(
        h / "utf16be.txt", "\ufeffBig-endian headline\n\nNarwhals surfaced.\n".encode("utf-16-be")
    )
    write(
        h / "latin1.txt",
        "Zürich headline\n\nDie Brücke in Zürich öffnet für Fußgänger.\n".encode("latin-1"),
    )
    write(
        h / "cp1252.txt",
        "Quotes headline\n\nShe said \u201cnever\u201d \u2013 twice.\n".encode("cp1252"),
    )
    write(
        h / "crlf.txt",
        b"Windows headline\r\n\r\nCormorants dive for fish in the bay every morning.\r\n"
        b"The fishermen watch them from the pier.\r\n",
    )
    write(h / "cr-only.txt", b"Old Mac headline\r\rPelicans glide over the lagoon.\r")
    write(h / "nul-inside.txt", b"Looks like text\x00\x00 but has NUL bytes")
    (h / "loop").mkdir()
    (h / "loop" / "again").symlink_to("..", target_is_directory=True)
    (h / "dangling.txt").symlink_to(h / "nowhere.txt")
    os.mkfifo(h / "pipe.txt")
    with (h / "huge-sparse.txt").open("wb") as fh:  # 100 MB + 1 byte, no disk space used
        fh.truncate(MAX_ARTICLE_BYTES + 1)
    bad_name = os.fsencode(str(h)) + b"/caf\xe9-latin1-name.txt"
    with open(bad_name, "wb") as fh:
        fh.write(b"Latin-1 name\n\nA file whose name is not UTF-8.\n")
    write(h / "feed.jsonl", "\n".join(JSONL) + "\n")
    return root


@pytest.fixture(scope="module")
def indexed(hostile, tmp_path_factory) -> tuple[Path, dict]:
    ix = tmp_path_factory.mktemp("hostile_ix") / "ix"
    result = cli("index", hostile, "-i", ix, "--json")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return ix, json.loads(result.stdout)


def skipped_map(summary: dict) -> dict[str, str]:
    """'path[:line]' -> reason, from the JSON summary's 'path[:line]: reason' strings."""
    out = {}
    for entry in summary["skipped"]:
        where, reason = entry.split(": ", 1)
        out[where] = reason
    return out


def test_every_hostile_file_is_reported_by_name(indexed):
    _, summary = indexed
    skipped = skipped_map(summary)
    expect = {
        "hostile/empty.txt": "empty file",
        "hostile/blank.txt": "empty file",
        "hostile/image.txt": "binary data",
        "hostile/paper.txt": "binary data",
        "hostile/photo.txt": "binary data",
        "hostile/archive.txt": "binary data",
        "hostile/notes.txt": "binary data",
        "hostile/nul-inside.txt": "binary data",
        "hostile/loop/again": "symlink loop",
        "hostile/dangling.txt": "broken symbolic link",
        "hostile/pipe.txt": "not a regular file",
        "hostile/huge-sparse.txt": "too large",
        "hostile/caf\ufffd-latin1-name.txt": "file name is not valid UTF-8",
    }
    for line, kind in JSONL_SKIPPED.items():
        expect[f"hostile/feed.jsonl:{line}"] = kind
    for where, kind in expect.items():
        assert where in skipped, (where, sorted(skipped))
        assert skipped[where].startswith(kind), (where, skipped[where])
    assert len(skipped) == len(expect), sorted(set(skipped) - set(expect))
    assert not any(k.endswith(".pdf") or k.endswith(".png") for k in skipped)  # not articles
    reasons = summary["skipped_reasons"]
    assert reasons["binary data"] == 6 and reasons["malformed JSON"] == 2
    assert sum(reasons.values()) == len(summary["skipped"])

    warnings = "\n".join(summary["warnings"])
    assert "hostile/damaged-utf8.txt: invalid UTF-8" in warnings
    assert "hostile/latin1.txt: not UTF-8, decoded as cp1252" in warnings
    assert "hostile/feed.jsonl:9: wrong type: field 'source'" in warnings
    assert "hostile/feed.jsonl:15: a title of 999 characters" in warnings


def test_the_rest_is_indexed(indexed):
    ix, summary = indexed
    good = {
        "hostile/headline-only.txt",
        "hostile/damaged-utf8.txt",
        "hostile/utf16.txt",
        "hostile/utf16be.txt",
        "hostile/latin1.txt",
        "hostile/cp1252.txt",
        "hostile/crlf.txt",
        "hostile/cr-only.txt",
        "ok-1",
        "hostile/feed.jsonl#4",
        "../../etc/passwd",
        "bad-meta",
        "surrogate",
        "42",
        "long-title",
    }
    assert summary["articles"] == 4 + len(good)
    articles, _ = check_consistent(ix)
    assert good <= articles and len(articles - good) == 4


def texts_of(ix: Path, article_id: str) -> list[str]:
    with Searcher(ix) as s:
        rows = s.docstore._conn().execute(
            "SELECT text FROM paragraphs WHERE article_id = ? ORDER BY position", (article_id,)
        )
        return [r[0] for r in rows]


def test_encodings_and_line_endings_are_read_right(indexed):
    ix, _ = indexed
    assert texts_of(ix, "hostile/utf16.txt") == [
        "The quokka census in Perth counted 12,000 animals."
    ]
    assert texts_of(ix, "hostile/utf16be.txt") == ["Narwhals surfaced."]
    assert texts_of(ix, "hostile/latin1.txt") == ["Die Brücke in Zürich öffnet für Fußgänger."]
    assert texts_of(ix, "hostile/cp1252.txt") == ["She said \u201cnever\u201d \u2013 twice."]
    damaged = texts_of(ix, "hostile/damaged-utf8.txt")
    assert damaged[0].startswith("Café owners in Münster")  # UTF-8 kept, not cp1252 mojibake
    assert "\ufffd" in damaged[-1]
    assert texts_of(ix, "hostile/crlf.txt") == [
        "Cormorants dive for fish in the bay every morning.",
        "The fishermen watch them from the pier.",
    ]
    assert texts_of(ix, "hostile/cr-only.txt") == ["Pelicans glide over the lagoon."]
    assert texts_of(ix, "surrogate") == ["Lemurs \ufffd leap between trees."]


def test_hostile_articles_are_searchable(indexed):
    ix, _ = indexed
    with Searcher(ix) as s:

        def top(query: str) -> str:
            return s.search(query, k=1, mode="bm25").hits[0].article_id

        assert top("zeppelin harbour roof") == "hostile/headline-only.txt"
        assert top("quokka census") == "hostile/utf16.txt"
        assert top("Brücke Zürich Fußgänger") == "hostile/latin1.txt"
        assert top("otters riverbank") == "../../etc/passwd"
        assert top("moose dusk") == "42"
        assert top("badgers") == "hostile/feed.jsonl#4"
        long_title = s.search("word", k=1, mode="bm25", collapse=False).hits[0]
        assert long_title.article_id == "long-title" and len(long_title.title) <= 121


def test_path_like_ids_name_no_file(indexed, hostile):
    """An id is a key: stored, searched and shown as given, never joined to a path."""
    ix, _ = indexed
    result = cli("query", "otters riverbank", "--mode", "bm25", "-i", ix, "--json")
    assert json.loads(result.stdout)["hits"][0]["article_id"] == "../../etc/passwd"
    human = cli("query", "otters riverbank", "--mode", "bm25", "-i", ix)
    assert "../../etc/passwd" in human.stdout
    for root in (hostile.parent, ix.parent):
        assert not [p for p in root.rglob("*") if p.name in ("passwd", "etc")]


def test_human_summary_counts_skips_by_reason(indexed, hostile):
    ix, summary = indexed
    result = cli("index", hostile, "-i", ix, "--rebuild")
    assert result.exit_code == 0, result.output
    assert "indexed 19 articles" in " ".join(result.stdout.split())
    assert f"skipped {len(summary['skipped'])} (" in " ".join(result.stdout.split())
    assert "binary data" in result.stdout
    assert "skipped hostile/feed.jsonl:2: malformed JSON" in " ".join(result.stderr.split())


def test_a_fifo_does_not_block_the_build(hostile):
    done: list = []
    reader = threading.Thread(target=lambda: done.append(read_articles([hostile])), daemon=True)
    reader.start()
    reader.join(timeout=120)
    assert done, "read_articles blocked (a FIFO named *.txt is opened for reading?)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_real_permissions(tmp_path):
    shutil.copytree(DEMO / "sport", tmp_path / "c")
    secret = write(tmp_path / "c" / "secret.txt", "Secret\n\nNobody may read this.\n")
    secret.chmod(0)
    try:
        report = read_articles([tmp_path / "c"])
    finally:
        secret.chmod(0o644)
    skipped = {s.path: s.reason for s in report.skipped}
    assert skipped["secret.txt"] == "unreadable (Permission denied)"
    assert len(report.articles) == 4


def fail_reading(monkeypatch, target: Path, exc: OSError, unlink: bool = False) -> None:
    """Make reading ``target`` fail as the file system would (everything else reads)."""
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == target:
            if unlink:
                target.unlink()
            raise exc
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def test_unreadable_file_is_skipped_and_an_indexed_one_is_kept(tmp_path, embedder, monkeypatch):
    corpus, ix = tmp_path / "c", tmp_path / "ix"
    shutil.copytree(DEMO / "sport", corpus)
    victim = next(iter(sorted(corpus.glob("*.txt"))))
    rel = victim.name
    denied = PermissionError(13, "Permission denied", str(victim))
    fail_reading(monkeypatch, victim, denied)
    report = read_articles([corpus])
    assert {s.path: s.reason for s in report.skipped} == {rel: "unreadable (Permission denied)"}
    assert len(report.articles) == 3
    monkeypatch.undo()

    update_index([corpus], ix, embedder=embedder)
    victim.write_text(victim.read_text() + "\nAn edit that cannot be read yet.\n")
    fail_reading(monkeypatch, victim, denied)
    r = update_index([corpus], ix, embedder=embedder)
    assert [str(s) for s in r.skipped] == [
        f"{rel}: unreadable (Permission denied): kept the version indexed before"
    ]
    articles, _ = check_consistent(ix)
    assert rel in articles and len(articles) == 4  # a read error deletes nothing
    monkeypatch.undo()
    r = update_index([corpus], ix, embedder=embedder)
    assert (r.mode, r.changed) == ("incremental", 1)  # readable again: the edit arrives


def test_a_file_vanishing_while_being_read(tmp_path, embedder, monkeypatch):
    corpus, ix = tmp_path / "c", tmp_path / "ix"
    shutil.copytree(DEMO / "sport", corpus)
    victim = sorted(corpus.glob("*.txt"))[-1]
    fail_reading(monkeypatch, victim, FileNotFoundError(2, "No such file", str(victim)), True)
    r = update_index([corpus], ix, embedder=embedder)
    assert [str(s) for s in r.skipped] == [f"{victim.name}: vanished before it could be read"]
    assert r.articles == 3
    monkeypatch.undo()
    assert update_index([corpus], ix, embedder=embedder).mode == "unchanged"
    check_consistent(ix)


def test_a_file_changing_while_being_read(tmp_path, embedder, monkeypatch):
    """The manifest must record the content that was indexed, not a later read of the file:
    else the next run thinks the file unchanged and the edit is never indexed."""
    corpus, ix = tmp_path / "c", tmp_path / "ix"
    shutil.copytree(DEMO / "sport", corpus)
    victim = sorted(corpus.glob("*.txt"))[0]
    real = builder.read_articles

    def read_then_edit(paths):
        report = real(paths)
        victim.write_text(victim.read_text() + "\nFlamingos invaded the stadium at half time.\n")
        return report

    monkeypatch.setattr(builder, "read_articles", read_then_edit)
    update_index([corpus], ix, embedder=embedder)
    monkeypatch.undo()
    with Searcher(ix) as s:
        assert not s.search("flamingos invaded", k=1, mode="bm25").hits
    r = update_index([corpus], ix, embedder=embedder)
    assert (r.mode, r.changed) == ("incremental", 1)
    with Searcher(ix) as s:
        assert s.search("flamingos invaded", k=1, mode="bm25").hits[0].article_id == victim.name


def test_near_identical_tiny_files_fall_back_to_copy_stories():
    """Thousands of short files from one template: every pair shares most words, so the
    pairwise comparison is quadratic. Past the candidate budget (lowered here, so that the
    test is quick) only copies are grouped, then only identical articles."""
    from newsearch.indexer.corpus import Article, Paragraph

    def bulletin(i: int) -> Article:
        text = f"Bulletin {i}: the district office reports a quiet night in sector {i % 7}."
        return Article(f"b{i}.txt", f"Bulletin {i}", [Paragraph(0, text)])

    items = [bulletin(i) for i in range(600)]
    items += [bulletin(5)] * 3  # exact copies are always grouped
    full = assign_stories(items)
    assert not full.limited
    tight = StoryConfig(max_candidates_per_article=5, min_candidate_budget=0)
    limited = assign_stories(items, config=tight)
    assert "only" in limited.limited and "too many similar articles" in limited.limited
    assert len({limited.story_ids[i] for i in (5, 600, 601, 602)}) == 1
    assert limited.clusters >= full.clusters


# -- size: one enormous article, many tiny ones -------------------------------------------------


def sentences(n_chars: int, seed: int) -> str:
    import random

    rng = random.Random(seed)
    vocab = [f"{a}{b}" for a in ("tal", "mor", "vek", "sun", "pri", "dan") for b in "aeiou"]
    out, size = [], 0
    while size < n_chars:
        s = " ".join(rng.choice(vocab) for _ in range(rng.randint(6, 14))).capitalize() + "."
        out.append(s)
        size += len(s) + 1
    return " ".join(out)


@pytest.mark.slow
def test_a_50mb_single_line_file_and_a_1mb_paragraph(tmp_path):
    corpus, ix = tmp_path / "c", tmp_path / "ix"
    shutil.copytree(DEMO / "sport", corpus / "sport")
    block = sentences(1_000_000, 1)
    huge_end = "The zeppelin quartet xylographs marmalade beneath the observatory."
    with (corpus / "dump.txt").open("w", encoding="utf-8") as fh:  # one line, 50 MB
        for _ in range(50):
            fh.write(block + " ")
        fh.write(huge_end + "\n")
    para_end = "Seven walruses audited the lighthouse ledger before dawn."
    write(
        corpus / "long-paragraph.txt",
        f"One enormous paragraph\n\n{sentences(1_000_000, 2)} {para_end}\n",
    )
    result = cli("index", corpus, "-i", ix, "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["articles"] == 6 and summary["skipped"] == []
    warnings = "\n".join(summary["warnings"])
    assert "dump.txt: paragraph 1 has 50,0" in warnings
    assert "long-paragraph.txt: paragraph 1 has 1,0" in warnings
    for name in ("dump.txt", "long-paragraph.txt"):
        assert f"{name}: too long to embed whole" in warnings
    # all 50 MB are in the keyword index, in parts of at most MAX_PARAGRAPH_CHARS
    assert summary["paragraphs"] > 50_000_000 // MAX_PARAGRAPH_CHARS
    with Searcher(ix) as s:
        rows = s.docstore._conn().execute(
            "SELECT pid FROM paragraphs WHERE article_id LIKE 'sport/%'"
        )
        sport = {r[0] for r in rows}
        sport_vectors = sum(1 for v in s.vectors.ids().tolist() if v >> 6 in sport)
        assert summary["vectors"] == sport_vectors + 2 * MAX_ARTICLE_WINDOWS  # bounded
        lengths = s.docstore._conn().execute("SELECT max(length(text)) FROM paragraphs")
        assert lengths.fetchone()[0] <= MAX_PARAGRAPH_CHARS
        for sentence, article in ((huge_end, "dump.txt"), (para_end, "long-paragraph.txt")):
            for query in (sentence, f'"{sentence}"'):
                hit = s.search(query, k=1, mode="bm25").hits[0]
                assert hit.article_id == article
                assert sentence.split()[1] in hit.best.snippet.text
            # (in hybrid mode these keyword-only parts compete on their BM25 score alone and
            # lose to close dense matches: README, "Limits and errors")


@pytest.mark.slow
def test_100k_tiny_files(tmp_path):
    """100,000 tiny article files, indexed, searched, and re-run with nothing to do.

    The files hold 1,000 distinct texts, 100 copies each (a mirrored crawl): every distinct
    text is embedded once (the embedding cache), so the model encodes 1,000 texts instead of
    100,000 -- at the ~100 texts/s this 2-core machine manages under load, 100,000 distinct
    texts would take over 15 minutes of model time alone. Everything else runs at full scale:
    the walk, reading, the manifest, Whoosh and the docstore with 100,000 documents, FAISS with
    100,000 vectors, story clustering (100 copies of each text are one story), and the
    unchanged re-run, which must only stat the files.
    """
    import random

    corpus, ix = tmp_path / "c", tmp_path / "ix"
    rng = random.Random(7)
    vocab = sorted({"".join(rng.choices("bdfgklmnprstvz", k=3)) + "o" for _ in range(20_000)})
    texts = [
        f"Dispatch {n} {' '.join(rng.sample(vocab, 2))}\n\n"
        f"Note {n}: {' '.join(rng.sample(vocab, 12))}.\n"
        for n in range(1000)
    ]
    for i in range(100_000):
        folder = corpus / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"{i:06d}.txt").write_text(texts[i % 1000], encoding="utf-8")
    write(corpus / "d000" / "zz-empty.txt", "")
    result = cli("index", corpus, "-i", ix, "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["articles"] == 100_000 and summary["paragraphs"] == 100_000
    assert summary["vectors"] == 100_000 and summary["embedded"] <= 2_000
    assert summary["stories"] == 1_000
    assert summary["skipped"] == ["d000/zz-empty.txt: empty file"]
    again = cli("index", corpus, "-i", ix, "--json", "-q")
    assert json.loads(again.stdout)["mode"] == "unchanged"
    query = texts[417].split("\n")[-2]  # the body of text 417
    hits = cli("query", query, "-i", ix, "--mode", "bm25", "--json", "-k", "3")
    top = json.loads(hits.stdout)["hits"][0]
    assert top["title"].startswith("Dispatch 417 ") and top["also_in_total"] == 99
    assert len(top["also_in"]) == 20  # the page lists 20 of a story's other articles


def test_articles_module_limits_are_the_documented_ones():
    assert articles_mod.MAX_PARAGRAPH_CHARS == 10_000
    assert articles_mod.MAX_ARTICLE_BYTES == 100 * 2**20
    assert MAX_ARTICLE_WINDOWS == 320
