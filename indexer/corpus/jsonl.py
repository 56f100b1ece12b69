"""JSONL articles, one JSON object per line (also BEIR ``corpus.jsonl``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from .records import Article, Paragraph, ReadReport, Skipped
from .text import MAX_TITLE_CHARS, clean_line, paragraphs_from_field, shorten

#: File endings read as one JSON article per line (also BEIR ``corpus.jsonl``).
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
#: JSONL ids longer than this are refused (an id is a key, printed with every hit).
MAX_ID_CHARS = 512
_BAD_ID = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


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
    paragraphs = paragraphs_from_field(text or "")
    derived = False
    if len(title) > MAX_TITLE_CHARS:  # not a headline: keep it whole as the first paragraph
        if warnings is not None:
            warnings.append(
                f"a title of {len(title):,} characters is not a headline: "
                "indexed as the first paragraph"
            )
        paragraphs = [Paragraph(0, title), *paragraphs]
        title, derived = shorten(title), True
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


def read_jsonl(path: Path, rel: str, text: str, report: ReadReport) -> Iterator[Article]:
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
