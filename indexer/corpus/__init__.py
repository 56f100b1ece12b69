"""Corpus reading: news files on disk -> articles cut into paragraphs.

One module per format (``text``, ``jsonl``, ``sgml``), the walk and file checks in ``files``,
byte decoding in ``decode``, the types every reader yields in ``records``, and the suffix ->
reader table with the one walk-then-read loop in ``reader``.
"""

from __future__ import annotations

from .files import MAX_ARTICLE_BYTES, content_digest
from .jsonl import RecordError, parse_jsonl_record
from .reader import READERS, is_candidate, read_articles, read_file, scan
from .records import Article, Paragraph, ReadReport, Skipped, SourceFile
from .text import MAX_PARAGRAPH_CHARS, MAX_TITLE_CHARS, parse_text_article, split_paragraphs

__all__ = [
    "MAX_ARTICLE_BYTES",
    "MAX_PARAGRAPH_CHARS",
    "MAX_TITLE_CHARS",
    "READERS",
    "Article",
    "Paragraph",
    "ReadReport",
    "RecordError",
    "Skipped",
    "SourceFile",
    "content_digest",
    "is_candidate",
    "parse_jsonl_record",
    "parse_text_article",
    "read_articles",
    "read_file",
    "scan",
    "split_paragraphs",
]
