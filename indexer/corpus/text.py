"""Plain-text articles: the headline on the first line, then paragraphs; and the text rules
every format shares (normalisation, page residue, datelines, cutting over-long paragraphs).

A paragraph is the unit both indexes store: short enough for the embedding model to see whole
(most of the time) and for a hit to point at the sentence that matters, long enough to carry
meaning. The parser drops page residue ("Listen to article") that would otherwise become hits
of its own.
"""

from __future__ import annotations

import re
import unicodedata

from .records import Article, Paragraph, ReadReport

#: File endings read as plain-text articles (headline on line 1, paragraphs after it).
TEXT_SUFFIXES = {".txt", ".text", ".md"}

_MAX_CONTEXT_WORDS = 5
_MAX_CONTEXT_CHARS = 40
#: A first line longer than this is a paragraph, not a headline.
_MAX_HEADLINE_WORDS = 30

#: A paragraph longer than this is indexed as consecutive parts of at most this many characters,
#: cut at sentence ends where possible: BM25 normalizes by length, so one 1 MB "paragraph" would
#: never rank, and snippets and result pages stay small. No paragraph of the BBC, SciFact or
#: Reuters corpora is longer (SciFact's longest abstracts are exactly 10,000 characters).
MAX_PARAGRAPH_CHARS = 10_000
#: A headline longer than this is not a headline: the text is kept as the first paragraph and
#: the title made from its start.
MAX_TITLE_CHARS = 500

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
SURROGATE = re.compile(r"[\ud800-\udfff]")
_SENTENCE_END = re.compile(r"[.!?…][\"'’”»)]*\s")


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
        title, body = shorten(first), lines
    else:
        title, body = first, lines[1:]
    paragraphs = split_paragraphs("\n".join(body))
    if not paragraphs:
        paragraphs = [Paragraph(0, title)]
    return Article(article_id, title, paragraphs, derived_title=derived, **meta)


def shorten(text: str, words: int = 12, chars: int = 120) -> str:
    """The start of a whitespace-normalized text as a title: 12 words, at most 120 characters."""
    short = " ".join(text[: 4 * chars].split()[:words])[:chars].rstrip()
    return short + ("…" if len(short) < len(text.strip()) else "")


def normalize_text(text: str) -> str:
    """Unify line endings and Unicode forms, and drop control characters that break indexers
    (lone surrogates become U+FFFD). Regular expressions, not a loop per character: a 50 MB
    file takes a second, not ten."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", SURROGATE.sub("\ufffd", text))
    return _CONTROL.sub("", text)


def clean_line(text: str) -> str:
    """A one-line field (headline, metadata): normalized, whitespace runs made single spaces."""
    return " ".join(normalize_text(text).split())


def date_from_name(name: str) -> str:
    m = _DATE_IN_NAME.search(name)
    return "-".join(m.groups()) if m else ""


def paragraphs_from_field(text: str) -> list[Paragraph]:
    return split_paragraphs(normalize_text(text))


def bounded(article: Article, rel: str, report: ReadReport) -> Article:
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
