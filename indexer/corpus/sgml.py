"""Reuters-21578 style SGML newswire files (``.sgm``): many articles per file.

Each ``<REUTERS NEWID=…>`` element is one article: ``<TITLE>``, ``<DATELINE>`` and ``<BODY>``
inside ``<TEXT>``, plus ``<DATE>`` and ``<TOPICS><D>…</D></TOPICS>``. The text keeps SGML
character references (``&lt;``, ``&#3;`` as an end-of-text mark) which are decoded, and
control characters dropped. The wire copy is hard-wrapped at ~65 columns; a new paragraph
starts at an indented line, and the trailing "Reuter" sign-off is not news.
``TYPE="BRIEF"`` items are headline only ("Blah blah blah." body); ``TYPE="UNPROC"`` items
have no markup inside ``<TEXT>``: their first line is the headline.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from .records import Article, Paragraph, ReadReport, Skipped

#: File endings read as SGML newswire collections.
SGML_SUFFIXES = {".sgm", ".sgml"}
SOURCE = "Reuters"
#: Pieces shorter than this (table rows, "Blah blah blah.") join the paragraph before them.
MIN_PARAGRAPH_WORDS = 5

DOCUMENT = re.compile(r"<REUTERS\b([^>]*)>(.*?)</REUTERS>", re.DOTALL | re.IGNORECASE)
_ATTR = re.compile(r'([A-Z]+)="([^"]*)"', re.IGNORECASE)
_SIGNOFF = re.compile(r"^\s*reuter\W*$", re.IGNORECASE)
#: The sign-off is sometimes on the last text line itself: "... an ounce. REUTER".
_TRAILING_SIGNOFF = re.compile(r"(?<=[.\")\d])\s+reuter\W*$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BLAH = re.compile(r"^\s*(?:blah\W*)+$", re.IGNORECASE)


def _element(doc: str, tag: str) -> str | None:
    m = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", doc, re.DOTALL | re.IGNORECASE)
    return m.group(1) if m else None


def _decode(raw: str) -> str:
    """Character references decoded, control characters (``&#3;`` etc.) dropped."""
    text = html.unescape(raw).replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", _CONTROL.sub("", text))


def _iso_date(raw: str) -> str:
    """``26-FEB-1987 15:01:01.79`` -> ``1987-02-26`` ('' when it does not parse)."""
    try:
        return datetime.strptime(raw.strip()[:11], "%d-%b-%Y").date().isoformat()
    except ValueError:
        return ""


def split_wire_paragraphs(body: str) -> list[str]:
    """Hard-wrapped wire text -> paragraphs: an indented line starts a new one, wrapped lines
    join with spaces, the sign-off goes, and short pieces join the paragraph before them."""
    lines = body.split("\n")
    while lines and (not lines[-1].strip() or _SIGNOFF.match(lines[-1])):
        lines.pop()
    pieces: list[list[str]] = []
    for line in lines:
        if not line.strip():
            if pieces and pieces[-1]:
                pieces.append([])
            continue
        if line[:1].isspace() or not pieces:
            pieces.append([])
        pieces[-1].append(line.strip())
    out: list[str] = []
    for piece in pieces:
        text = " ".join(piece)
        if not text or _BLAH.match(text):
            continue
        if out and len(text.split()) < MIN_PARAGRAPH_WORDS:
            out[-1] = f"{out[-1]} {text}"
        else:
            out.append(text)
    if out:
        out[-1] = _TRAILING_SIGNOFF.sub("", out[-1])
    if len(out) > 1 and len(out[0].split()) < MIN_PARAGRAPH_WORDS:
        out[1] = f"{out[0]} {out[1]}"
        del out[0]
    return out


def parse_reuters(doc: str, article_id: str) -> Article | None:
    """One ``<REUTERS>`` element (its attribute text and its content) as an article."""
    text = _element(doc, "TEXT") or ""
    title = _element(text, "TITLE")
    body = _element(text, "BODY")
    dateline = _element(text, "DATELINE")
    if title is None and body is None:  # TYPE="UNPROC": plain lines, the first one heads
        lines = _decode(text).strip().split("\n", 1)
        title, body = lines[0], lines[1] if len(lines) > 1 else ""
    title = " ".join(_decode(title or "").split()).strip("* ")
    paragraphs_text = split_wire_paragraphs(_decode(body or ""))
    if not paragraphs_text:
        if not title:
            return None
        paragraphs_text = [title]
    context = " ".join(_decode(dateline or "").split()).rstrip(" -–")
    paragraphs = [Paragraph(i, t, context if i == 0 else "") for i, t in enumerate(paragraphs_text)]
    topics = re.findall(r"<D>(.*?)</D>", _element(doc, "TOPICS") or "", re.IGNORECASE)
    return Article(
        id=article_id,
        title=title or paragraphs_text[0][:80],
        derived_title=not title,
        paragraphs=paragraphs,
        date=_iso_date(_decode(_element(doc, "DATE") or "")),
        source=SOURCE,
        category=_decode(topics[0]).strip() if topics else "",
    )


def read_sgml(path: Path, rel: str, text: str, report: ReadReport) -> Iterator[Article]:
    """Every article of one SGML file; ids are ``<file>#<NEWID>``, ``line`` where it starts."""
    found = 0
    line, counted_to = 1, 0
    for m in DOCUMENT.finditer(text):
        found += 1
        line += text.count("\n", counted_to, m.start())
        counted_to = m.start()
        attrs = {k.upper(): v for k, v in _ATTR.findall(m.group(1))}
        newid = attrs.get("NEWID") or f"L{line}"
        article = parse_reuters(m.group(2), f"{rel}#{newid}")
        if article is None:
            report.skipped.append(Skipped(rel, "SGML document with no title or text", line))
            continue
        article.source_path = str(path)
        article.line = line
        yield article
    if not found:
        report.skipped.append(Skipped(rel, "no <REUTERS> documents in this SGML file"))
