"""What the corpus readers produce: articles cut into paragraphs, and what they skipped.

Everything a result page shows about an article comes from here, so an article keeps its
headline and metadata with it; every format reader (text, JSONL, SGML) yields these types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_REASON_KIND = re.compile(r":| \(| '|, ")


#: What every article-shaped record carries besides its id, under these names: ``Article``
#: here, the docstore's ``StoredArticle``, and the results' ``ArticleHit`` and ``StoryCopy``
#: (tests/test_corpus.py checks that all four have them). Copy them with ``article_meta``.
META_FIELDS = ("title", "source_path", "date", "source", "url", "category")


def article_meta(record: object) -> dict[str, str]:
    """The ``META_FIELDS`` of an article-shaped record, to build another one from it."""
    return {name: getattr(record, name) for name in META_FIELDS}


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

    @property
    def headline(self) -> str:
        """The headline as indexed and embedded; a title derived from the first paragraph is
        not (it would only repeat that paragraph)."""
        return "" if self.derived_title else self.title


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


@dataclass(frozen=True)
class SourceFile:
    """A file the walk found under a source path: where it is and its stat, content unread."""

    key: str  #: the path string articles record as their ``source_path``
    rel: str  #: path relative to the folder given: the article id of a text article
    category: str  #: the first folder under the folder given ('' at its top)
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return Path(self.key)


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
    #: The files found, with the stat taken before they were read (the manifest's record).
    sources: list[SourceFile] = field(default_factory=list)
    #: Every article parsed, in reading order, with those that lost to an earlier duplicate
    #: id (``articles`` holds the winners): the manifest records both, so deleting a winner
    #: lets the next update bring the loser in, as a full build would.
    parsed: list[Article] = field(default_factory=list)
