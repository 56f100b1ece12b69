"""Reading news articles from disk and cutting them into paragraphs.

A paragraph is the unit both indexes store: short enough for the embedding model to see whole
(most of the time) and for a hit to point at the sentence that matters, long enough to carry
meaning. Everything a result page shows about an article comes from here, so the parser keeps
the article's headline and metadata with it and drops page residue ("Listen to article") that
would otherwise become hits of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: File endings read as plain-text articles (headline on line 1, paragraphs after it).
TEXT_SUFFIXES = {".txt", ".text", ".md"}
#: File endings read as one JSON article per line (also BEIR ``corpus.jsonl``).
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
#: File endings read as SGML newswire collections (Reuters-21578), see ``sgml.py``.
SGML_SUFFIXES = {".sgm", ".sgml"}
#: Documentation files that sit beside corpora (``README.TXT``, ``SOURCE.md``) are not articles.
IGNORED_STEMS = {"readme", "source", "license", "licence", "copying", "notice", "changelog"}

_MAX_CONTEXT_WORDS = 5
_MAX_CONTEXT_CHARS = 40
#: A first line longer than this is a paragraph, not a headline.
_MAX_HEADLINE_WORDS = 30

#: Limits that keep one hostile file from taking the whole build down (README, "Limits").
#: A plain-text article file larger than this is skipped; JSONL and SGML collections are not
#: limited (they hold many articles).
MAX_ARTICLE_BYTES = 100 * 2**20
#: A paragraph longer than this is indexed as consecutive parts of at most this many characters,
#: cut at sentence ends where possible: BM25 normalizes by length, so one 1 MB "paragraph" would
#: never rank, and snippets and result pages stay small. No paragraph of the BBC, SciFact or
#: Reuters corpora is longer (SciFact's longest abstracts are exactly 10,000 characters).
MAX_PARAGRAPH_CHARS = 10_000
#: A headline longer than this is not a headline: the text is kept as the first paragraph and
#: the title made from its start.
MAX_TITLE_CHARS = 500
#: JSONL ids longer than this are refused (an id is a key, printed with every hit).
MAX_ID_CHARS = 512

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
#: Control characters (Unicode category Cc) other than tab and newline; carriage returns are
#: turned into newlines before this applies.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Lone surrogates: JSON escapes (a lone ``\ud800``) produce them, and SQLite and UTF-8
#: writers refuse them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BAD_ID = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_REASON_KIND = re.compile(r":| \(| '|, ")
_SENTENCE_END = re.compile(r"[.!?…][\"'’”»)]*\s")

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

    @property
    def kind(self) -> str:
        """The reason without its particulars ("malformed JSON", "duplicate article id"),
        for a summary that counts skips by reason."""
        return _REASON_KIND.split(self.reason, maxsplit=1)[0].strip() or self.reason


@dataclass
class ReadReport:
    """Articles read from a set of paths plus everything skipped or decoded with a fallback."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files_read: int = 0
    #: Content digest (``content_digest``) of the bytes each file's articles were parsed from,
    #: by path string: the manifest records these, never a second read that could see a newer
    #: version of a file edited while it was being indexed.
    digests: dict[str, str] = field(default_factory=dict)


def is_residue(line: str) -> bool:
    """Page furniture copied along with an article: share buttons, 'Read also' teasers, rules."""
    s = line.strip()
    if not s or _NO_WORDS.match(s):
        return True
    if _RESIDUE_LINE.match(s) or _RESIDUE_PREFIX.match(s):
        return True
    return len(s) < 200 and bool(_SYNDICATION_NOTE.search(s))


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
    derived = len(first.split()) > _MAX_HEADLINE_WORDS or len(first) > MAX_TITLE_CHARS
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


def _shorten(text: str, words: int = 12, chars: int = 120) -> str:
    """The start of a whitespace-normalized text as a title: 12 words, at most 120 characters."""
    short = " ".join(text[: 4 * chars].split()[:words])[:chars].rstrip()
    return short + ("…" if len(short) < len(text.strip()) else "")


def normalize_text(text: str) -> str:
    """Unify line endings and Unicode forms, and drop control characters that break indexers
    (lone surrogates become U+FFFD). Regular expressions, not a loop per character: a 50 MB
    file takes a second, not ten."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", text))
    return _CONTROL.sub("", text)


def clean_line(text: str) -> str:
    """A one-line field (headline, metadata): normalized, whitespace runs made single spaces."""
    return " ".join(normalize_text(text).split())


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
    # UTF-8 with a few damaged bytes (a truncated download, one pasted cp1252 character) is
    # still UTF-8: decoding all of it as cp1252 would garble every accented letter it holds.
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if non_ascii - bad > bad:
        return text, f"invalid UTF-8: {bad} damaged byte sequence(s) replaced by U+FFFD"
    try:
        return data.decode("cp1252"), "not UTF-8, decoded as cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "not UTF-8, decoded as Latin-1"


def _date_from_name(name: str) -> str:
    m = _DATE_IN_NAME.search(name)
    return "-".join(m.groups()) if m else ""


def _paragraphs_from_field(text: str) -> list[Paragraph]:
    return split_paragraphs(normalize_text(text))


class RecordError(ValueError):
    """A JSONL record that cannot be an article; the message says why (it names the field)."""


_TYPE_NAMES = {dict: "an object", list: "an array", bool: "true/false", float: "a number"}


def _text_field(record: dict, name: str, numbers: bool = True) -> str | None:
    """A text field of a record: None when absent or null; numbers read as text if allowed."""
    value = record.get(name)
    if value is None or isinstance(value, str):
        return value
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    kind = _TYPE_NAMES.get(type(value), type(value).__name__)
    raise RecordError(f"wrong type: field {name!r} is {kind}, not text")


def _record_id(record: dict) -> str | None:
    key = "id" if record.get("id") not in (None, "") else "_id"
    value = record.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        kind = _TYPE_NAMES.get(type(value), type(value).__name__)
        raise RecordError(f"wrong type: field {key!r} is {kind}, not a string or whole number")
    article_id = str(value)
    if len(article_id) > MAX_ID_CHARS:
        raise RecordError(f"id too long: {len(article_id):,} characters (limit {MAX_ID_CHARS})")
    if _BAD_ID.search(article_id):
        raise RecordError(f"bad id: {article_id!r} holds control characters or invalid Unicode")
    return article_id


def parse_jsonl_record(
    record: dict, fallback_id: str, warnings: list[str] | None = None
) -> Article | None:
    """One JSONL/BEIR record: ``id``/``_id``, ``title``, ``text``, optional metadata.

    Returns None when the record has neither title nor text; raises ``RecordError`` when the
    id, title or text is of the wrong type (an object, an array). Metadata of the wrong type is
    dropped with a note in ``warnings``. Ids are opaque keys, never paths: ``../../etc/passwd``
    is stored and shown as it is and names no file.
    """
    article_id = _record_id(record) or fallback_id
    title = clean_line(_text_field(record, "title") or "")
    text = _text_field(record, "text", numbers=False) or _text_field(record, "body", numbers=False)
    paragraphs = _paragraphs_from_field(text or "")
    derived = False
    if len(title) > MAX_TITLE_CHARS:  # not a headline: keep it whole as the first paragraph
        if warnings is not None:
            warnings.append(
                f"a title of {len(title):,} characters is not a headline: "
                "indexed as the first paragraph"
            )
        paragraphs = [Paragraph(0, title), *paragraphs]
        title, derived = _shorten(title), True
    if not paragraphs:
        if not title:
            return None
        paragraphs = [Paragraph(0, title)]
    meta: dict[str, str] = {}
    for name in ("date", "source", "url", "category"):
        try:
            meta[name] = clean_line(_text_field(record, name) or "")
        except RecordError as exc:
            meta[name] = ""
            if warnings is not None:
                warnings.append(f"{exc}: ignored")
    return Article(
        id=article_id,
        title=title or paragraphs[0].text[:80],
        paragraphs=[Paragraph(i, p.text, p.context) for i, p in enumerate(paragraphs)],
        derived_title=derived,
        **meta,
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
        except RecursionError:
            report.skipped.append(Skipped(rel, "malformed JSON (nested too deeply)", lineno))
            continue
        if not isinstance(record, dict):
            report.skipped.append(Skipped(rel, "not a JSON object", lineno))
            continue
        notes: list[str] = []
        try:
            article = parse_jsonl_record(record, fallback_id=f"{rel}#{lineno}", warnings=notes)
        except RecordError as exc:
            report.skipped.append(Skipped(rel, str(exc), lineno))
            continue
        report.warnings.extend(f"{rel}:{lineno}: {n}" for n in notes)
        if article is None:
            report.skipped.append(Skipped(rel, "no title or text", lineno))
            continue
        article.source_path = str(path)
        article.line = lineno
        yield article


def _walk(root: Path, report: ReadReport) -> Iterator[Path]:
    """Files under root in a stable order; hidden entries, symlink loops and names that are not
    valid UTF-8 (they cannot be stored or shown) are skipped, the last two with a reason."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=None):
        try:
            st = os.stat(dirpath)
        except OSError:
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            rel = Path(dirpath).relative_to(root).as_posix()
            report.skipped.append(Skipped(rel, "symlink loop: directory already visited"))
            dirnames[:] = []
            continue
        seen.add(key)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if _SURROGATE.search(str(path)):
                rel = os.fsencode(path.relative_to(root).as_posix()).decode("utf-8", "replace")
                report.skipped.append(Skipped(rel, "file name is not valid UTF-8: rename it"))
                continue
            yield path


def _is_candidate(path: Path) -> bool:
    suffix = path.suffix.lower()
    if path.stem.lower() in IGNORED_STEMS:
        return False
    return suffix in TEXT_SUFFIXES or suffix in JSONL_SUFFIXES or suffix in SGML_SUFFIXES


def content_digest(data: bytes) -> str:
    """What the manifest records of a file's content."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def refusal(path: Path, st: os.stat_result) -> str | None:
    """Why a file found by the walk is not read at all, or None: not a regular file (a FIFO
    named ``x.txt`` would block the build forever), or a text article over the size limit."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size > MAX_ARTICLE_BYTES and path.suffix.lower() in TEXT_SUFFIXES:
        return (
            f"too large: {st.st_size / 2**20:,.0f} MB, over the "
            f"{MAX_ARTICLE_BYTES // 2**20} MB limit for one article file"
        )
    return None


def _read_bytes(path: Path, rel: str, report: ReadReport) -> bytes | None:
    """The file's bytes, or None with the reason recorded: vanished, unreadable, refused."""
    try:
        reason = refusal(path, path.stat())
        if reason:
            report.skipped.append(Skipped(rel, reason))
            return None
        return path.read_bytes()
    except FileNotFoundError:
        report.skipped.append(Skipped(rel, missing_reason(path)))
    except OSError as exc:
        report.skipped.append(Skipped(rel, f"unreadable ({exc.strerror or exc})"))
    return None


def missing_reason(path: Path) -> str:
    """Why a file the walk listed cannot be found now."""
    return "broken symbolic link" if path.is_symlink() else "vanished before it could be read"


def read_file(path: Path, rel: str, report: ReadReport, category: str = "") -> list[Article]:
    """Read one file into articles, recording why it was skipped if it was."""
    data = _read_bytes(path, rel, report)
    if data is None:
        return []
    report.files_read += 1
    report.digests[str(path)] = content_digest(data)
    text, note = decode_bytes(data)
    del data
    if text is None:
        report.skipped.append(Skipped(rel, note or "binary data"))
        return []
    if note:
        report.warnings.append(f"{rel}: {note}")
    if path.suffix.lower() in JSONL_SUFFIXES:
        articles = list(_read_jsonl(path, rel, text, report))
    elif path.suffix.lower() in SGML_SUFFIXES:
        from .sgml import read_sgml

        articles = list(read_sgml(path, rel, text, report))
    else:
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
        articles = [article]
    return [_bounded(a, rel, report) for a in articles]


def _bounded(article: Article, rel: str, report: ReadReport) -> Article:
    """The article with every paragraph longer than ``MAX_PARAGRAPH_CHARS`` cut into parts."""
    if all(len(p.text) <= MAX_PARAGRAPH_CHARS for p in article.paragraphs):
        return article
    paragraphs: list[Paragraph] = []
    for p in article.paragraphs:
        parts = cut_text(p.text, MAX_PARAGRAPH_CHARS)
        if len(parts) > 1:
            where = f"{rel}:{article.line}" if article.line else rel
            report.warnings.append(
                f"{where}: paragraph {p.position + 1} has {len(p.text):,} characters: indexed "
                f"as {len(parts):,} parts of at most {MAX_PARAGRAPH_CHARS:,}"
            )
        for i, part in enumerate(parts):
            paragraphs.append(Paragraph(len(paragraphs), part, p.context if i == 0 else ""))
    article.paragraphs = paragraphs
    return article


def cut_text(text: str, limit: int) -> list[str]:
    """``text`` in consecutive pieces of at most ``limit`` characters, each ending at a sentence
    end if one lies in its second half, else at a space, else (one enormous word) anywhere.
    Joining the pieces with single spaces gives the text back (but where a word was cut)."""
    parts: list[str] = []
    start, n = 0, len(text)
    while n - start > limit:
        window = text[start : start + limit + 1]
        cut = -1
        for m in _SENTENCE_END.finditer(window, limit // 2):
            cut = m.end() - 1  # at the space after the sentence
        if cut < 0:
            cut = window.rfind(" ", limit // 2)
        if cut <= 0:
            parts.append(text[start : start + limit])
            start += limit
            continue
        parts.append(text[start : start + cut].rstrip())
        start += cut + 1
    if start < n:
        parts.append(text[start:])
    return [p for p in parts if p]


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
        if root.is_dir():
            files = [
                (p, p.relative_to(root).as_posix()) for p in _walk(root, report) if _is_candidate(p)
            ]
        else:  # a file given by name is read whatever its ending (FIFOs are refused there)
            files = [(root, root.name)]
        for path, rel in files:
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
