"""Reading news articles from disk and cutting them into paragraphs.

A paragraph is the unit both indexes store: short enough for the embedding model to see whole
(most of the time) and for a hit to point at the sentence that matters, long enough to carry
meaning. Everything a result page shows about an article comes from here, so the parser keeps
the article's headline and metadata with it and drops page residue ("Listen to article") that
would otherwise become hits of its own.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: File endings read as plain-text articles (headline on line 1, paragraphs after it).
TEXT_SUFFIXES = {".txt", ".text", ".md"}
#: File endings read as one JSON article per line (also BEIR ``corpus.jsonl``).
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
#: Documentation files that sit beside corpora (``README.TXT``, ``SOURCE.md``) are not articles.
IGNORED_STEMS = {"readme", "source", "license", "licence", "copying", "notice", "changelog"}

_MAX_CONTEXT_WORDS = 5
_MAX_CONTEXT_CHARS = 40
#: A first line longer than this is a paragraph, not a headline.
_MAX_HEADLINE_WORDS = 30

_RESIDUE_WORDS = (
    r"leave a comment|listen to (?:this )?article|advertisement|share this article|share|"
    r"subscribe|skip to (?:main )?content|print|email|comments?|close|menu"
)
_RESIDUE_LINE = re.compile(rf"^(?:\s*(?:{_RESIDUE_WORDS})\s*[|·•:]?\s*)+$", re.IGNORECASE)
_RESIDUE_PREFIX = re.compile(
    r"^(?:read also|also read|read more|see also|related|watch|recommended)\s*[:|-]", re.IGNORECASE
)
_SYNDICATION_NOTE = re.compile(r"has not been edited by .{1,40} staff", re.IGNORECASE)
_NO_WORDS = re.compile(r"^[\W_]*$")
_QUOTES = "\"'‘’“”«» "
_DATE_IN_NAME = re.compile(r"(\d{4})-(\d{2})-(\d{2})")

_BINARY_MAGIC = (
    b"%PDF",
    b"\x1f\x8b",
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"PK\x03\x04",
    b"BZh",
    b"\xfd7zXZ",
)


@dataclass(frozen=True)
class Paragraph:
    """One paragraph of an article; ``context`` holds a dateline or subhead that preceded it."""

    position: int
    text: str
    context: str = ""

    @property
    def full_text(self) -> str:
        """The text both indexes see: the dateline/subhead belongs to the paragraph it heads."""
        return f"{self.context} {self.text}" if self.context else self.text


@dataclass
class Article:
    """A parsed article with a stable id (relative path or the JSONL id)."""

    id: str
    title: str
    paragraphs: list[Paragraph]
    source_path: str = ""
    date: str = ""
    source: str = ""
    url: str = ""
    category: str = ""
    #: Line of a JSONL file the article came from (0 for whole-file articles).
    line: int = 0
    #: True when the file had no headline line and ``title`` was made from the first paragraph:
    #: such a title is not indexed or embedded again (it would only repeat that paragraph).
    derived_title: bool = False


@dataclass(frozen=True)
class Skipped:
    """A source (file, or line of a JSONL file) that was not indexed, and why."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"


@dataclass
class ReadReport:
    """Articles read from a set of paths plus everything skipped or decoded with a fallback."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files_read: int = 0


def is_residue(line: str) -> bool:
    """Page furniture copied along with an article: share buttons, 'Read also' teasers, rules."""
    s = line.strip()
    if not s or _NO_WORDS.match(s):
        return True
    if _RESIDUE_LINE.match(s) or _RESIDUE_PREFIX.match(s):
        return True
    return bool(_SYNDICATION_NOTE.search(s)) and len(s) < 200


def _is_context_line(line: str) -> bool:
    """Datelines ('Kyiv:') and subheads ('‘Promising’') are too short to stand as hits."""
    if len(line) > _MAX_CONTEXT_CHARS or len(line.split()) > _MAX_CONTEXT_WORDS:
        return False
    return not line.strip(_QUOTES).endswith((".", "!", "?"))


def _blocks(lines: list[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.strip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _is_hard_wrapped(block: list[str]) -> bool:
    """A block of similar-width lines is one paragraph wrapped by an editor, not many."""
    if len(block) < 2:
        return False
    body = block[:-1]
    if max(len(x) for x in body) > 100 or sum(len(x) for x in body) / len(body) < 40:
        return False
    # Wrapped lines end mid-sentence; one-paragraph-per-line text ends lines at full stops.
    open_ended = sum(not x.rstrip(_QUOTES).endswith((".", "!", "?", ":")) for x in body)
    return open_ended * 2 > len(body)


def split_paragraphs(body: str) -> list[Paragraph]:
    """Cut body text into paragraphs: blank-line separated blocks, or one paragraph per line.

    Both layouts occur in the wild (see the two seed articles); a block whose lines look
    hard-wrapped is joined back into one paragraph.
    """
    raw: list[str] = []
    for block in _blocks([x for x in body.split("\n") if not x.strip() or not is_residue(x)]):
        if _is_hard_wrapped(block):
            raw.append(" ".join(block))
        else:
            raw.extend(block)
    kept = [" ".join(p.split()) for p in raw if not is_residue(p)]

    paragraphs: list[Paragraph] = []
    pending: list[str] = []
    for i, text in enumerate(kept):
        if _is_context_line(text) and i < len(kept) - 1:
            pending.append(text)
            continue
        paragraphs.append(Paragraph(len(paragraphs), text, " ".join(pending)))
        pending = []
    if pending:  # trailing short lines: keep them rather than lose text
        paragraphs.append(Paragraph(len(paragraphs), " ".join(pending)))
    return paragraphs


def parse_text_article(text: str, article_id: str, **meta: str) -> Article | None:
    """Parse the plain-text layout: headline on the first non-empty line, paragraphs after it.

    Returns None for a file with no words at all. A headline with no body becomes a one
    paragraph article so that it can still be found.
    """
    lines = normalize_text(text).split("\n")
    while lines and is_residue(lines[0]):
        lines.pop(0)
    if not lines:
        return None
    first = " ".join(lines[0].split())
    derived = len(first.split()) > _MAX_HEADLINE_WORDS
    if derived:
        # No headline line (a page copied from its first paragraph): name the article by the
        # start of that paragraph and keep the paragraph as body.
        title, body = _shorten(first), lines
    else:
        title, body = first, lines[1:]
    paragraphs = split_paragraphs("\n".join(body))
    if not paragraphs:
        paragraphs = [Paragraph(0, title)]
    return Article(article_id, title, paragraphs, derived_title=derived, **meta)


def _shorten(text: str, words: int = 12) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")


def normalize_text(text: str) -> str:
    """Unify line endings and Unicode forms, and drop control characters that break indexers."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")


def decode_bytes(data: bytes) -> tuple[str | None, str | None]:
    """Decode a file's bytes: (text, note). text is None for binary data.

    UTF-8 and UTF-16 with a BOM are honoured; text that is not UTF-8 is read as cp1252 (the
    usual culprit in news archives) or Latin-1, with a note so the user learns about it.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError:
            return None, "binary data (bad UTF-16)"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    head = data[:8192]
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        return None, "binary data"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "not UTF-8, decoded as cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "not UTF-8, decoded as Latin-1"


def _date_from_name(name: str) -> str:
    m = _DATE_IN_NAME.search(name)
    return "-".join(m.groups()) if m else ""


def _paragraphs_from_field(text: str) -> list[Paragraph]:
    return split_paragraphs(normalize_text(text))


def parse_jsonl_record(record: dict, fallback_id: str) -> Article | None:
    """One JSONL/BEIR record: ``id``/``_id``, ``title``, ``text``, optional metadata."""
    rid = record.get("id", record.get("_id"))
    article_id = str(rid) if rid not in (None, "") else fallback_id
    title = " ".join(str(record.get("title") or "").split())
    text = str(record.get("text") or record.get("body") or "")
    paragraphs = _paragraphs_from_field(text)
    if not paragraphs:
        if not title:
            return None
        paragraphs = [Paragraph(0, title)]
    return Article(
        id=article_id,
        title=title or paragraphs[0].text[:80],
        paragraphs=paragraphs,
        date=str(record.get("date") or ""),
        source=str(record.get("source") or ""),
        url=str(record.get("url") or ""),
        category=str(record.get("category") or ""),
    )


def _read_jsonl(path: Path, rel: str, text: str, report: ReadReport) -> Iterator[Article]:
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            report.skipped.append(Skipped(rel, f"malformed JSON ({exc.msg})", lineno))
            continue
        if not isinstance(record, dict):
            report.skipped.append(Skipped(rel, "not a JSON object", lineno))
            continue
        article = parse_jsonl_record(record, fallback_id=f"{rel}#{lineno}")
        if article is None:
            report.skipped.append(Skipped(rel, "no title or text", lineno))
            continue
        article.source_path = str(path)
        article.line = lineno
        yield article


def _walk(root: Path, report: ReadReport) -> Iterator[Path]:
    """Files under root in a stable order; hidden entries and symlink loops are skipped."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=None):
        try:
            st = os.stat(dirpath)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            report.skipped.append(Skipped(dirpath, "directory already visited (symlink loop)"))
            dirnames[:] = []
            continue
        seen.add(key)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _is_candidate(path: Path) -> bool:
    suffix = path.suffix.lower()
    if path.stem.lower() in IGNORED_STEMS:
        return False
    return suffix in TEXT_SUFFIXES or suffix in JSONL_SUFFIXES


def read_file(path: Path, rel: str, report: ReadReport, category: str = "") -> list[Article]:
    """Read one file into articles, recording why it was skipped if it was."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.skipped.append(Skipped(rel, f"unreadable ({exc.strerror or exc})"))
        return []
    report.files_read += 1
    text, note = decode_bytes(data)
    if text is None:
        report.skipped.append(Skipped(rel, note or "binary data"))
        return []
    if note:
        report.warnings.append(f"{rel}: {note}")
    if path.suffix.lower() in JSONL_SUFFIXES:
        return list(_read_jsonl(path, rel, text, report))
    article = parse_text_article(
        text,
        rel,
        source_path=str(path),
        date=_date_from_name(path.name),
        category=category,
    )
    if article is None:
        report.skipped.append(Skipped(rel, "empty file"))
        return []
    return [article]


def read_articles(paths: Iterable[str | os.PathLike[str]]) -> ReadReport:
    """Read every article under the given files and folders (recursively).

    Article ids are paths relative to the folder given (``business/001.txt``) so that they
    survive moving the corpus; JSONL records keep their own ids. Duplicate ids keep the first.
    """
    report = ReadReport()
    seen_ids: set[str] = set()
    for given in paths:
        root = Path(given)
        if not root.exists():
            report.skipped.append(Skipped(str(given), "no such file or directory"))
            continue
        if root.is_file():
            files = [(root, root.name)]
        else:
            files = [(p, p.relative_to(root).as_posix()) for p in _walk(root, report)]
        for path, rel in files:
            if root.is_dir() and not _is_candidate(path):
                continue
            parent = Path(rel).parent
            category = parent.parts[0] if parent.parts else ""
            for article in read_file(path, rel, report, category=category):
                if article.id in seen_ids:
                    report.skipped.append(
                        Skipped(rel, f"duplicate article id {article.id!r}", article.line or None)
                    )
                    continue
                seen_ids.add(article.id)
                report.articles.append(article)
    return report
