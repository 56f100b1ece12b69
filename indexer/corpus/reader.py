"""Reading a corpus: which files are articles, in which format, and reading them in one walk.

The walk lists each file once with its stat (``scan``); ``read_articles`` reads what it listed,
so the manifest of a build records the very files, stats and bytes the build indexed. The
format of a file is decided by its ending (``READERS``); a file given by name is read
whatever its ending.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .decode import decode_bytes
from .files import (
    IGNORED_STEMS,
    content_digest,
    missing_reason,
    read_bytes,
    refusal,
    walk,
)
from .jsonl import JSONL_SUFFIXES, read_jsonl
from .records import Article, ReadReport, Skipped, SourceFile
from .sgml import SGML_SUFFIXES, read_sgml
from .text import TEXT_SUFFIXES, bounded, date_from_name, parse_text_article

#: Reads one decoded file (path, article id or prefix, text, report) into articles.
Reader = Callable[[Path, str, str, ReadReport, str], Iterable[Article]]


def _read_text(path: Path, rel: str, text: str, report: ReadReport, category: str) -> list[Article]:
    article = parse_text_article(
        text, rel, source_path=str(path), date=date_from_name(path.name), category=category
    )
    if article is None:
        report.skipped.append(Skipped(rel, "empty file"))
        return []
    return [article]


def _read_jsonl(path: Path, rel: str, text: str, report: ReadReport, category: str) -> Iterator:
    return read_jsonl(path, rel, text, report)


def _read_sgml(path: Path, rel: str, text: str, report: ReadReport, category: str) -> Iterator:
    return read_sgml(path, rel, text, report)


#: File ending -> reader. Anything else found in a folder is not read.
READERS: dict[str, Reader] = {
    **dict.fromkeys(TEXT_SUFFIXES, _read_text),
    **dict.fromkeys(JSONL_SUFFIXES, _read_jsonl),
    **dict.fromkeys(SGML_SUFFIXES, _read_sgml),
}


def is_candidate(path: Path) -> bool:
    """Whether a file found in a folder is read as articles (by its ending and name)."""
    return path.stem.lower() not in IGNORED_STEMS and path.suffix.lower() in READERS


def scan(
    paths: Iterable[str | os.PathLike[str]], report: ReadReport | None = None
) -> list[SourceFile]:
    """The files ``read_articles`` reads under ``paths``, in its order, with their stat.

    Reads no content: on an unchanged folder this is all the work an update does.
    """
    report = report if report is not None else ReadReport()
    out: list[SourceFile] = []
    for given in paths:
        root = Path(given)
        if not root.exists():
            report.skipped.append(Skipped(str(given), "no such file or directory"))
            continue
        if root.is_dir():
            files = [(p, p.relative_to(root).as_posix()) for p in walk(root, report)]
            files = [(p, rel) for p, rel in files if is_candidate(p)]
        else:  # a file given by name is read whatever its ending (FIFOs are refused below)
            files = [(root, root.name)]
        for path, rel in files:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                report.skipped.append(Skipped(rel, missing_reason(path)))
                continue
            except OSError as exc:
                report.skipped.append(Skipped(rel, f"unreadable ({exc.strerror or exc})"))
                continue
            reason = refusal(path, st)
            if reason:
                report.skipped.append(Skipped(rel, reason))
                continue
            category = rel.split("/", 1)[0] if "/" in rel else ""
            out.append(SourceFile(str(path), rel, category, st.st_size, st.st_mtime_ns))
    return out


def read_file(path: Path, rel: str, report: ReadReport, category: str = "") -> list[Article]:
    """Read one file into articles, recording why it was skipped if it was."""
    data = read_bytes(path, rel, report)
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
    reader = READERS.get(path.suffix.lower(), _read_text)
    articles = list(reader(path, rel, text, report, category))
    return [bounded(a, rel, report) for a in articles]


def read_articles(paths: Iterable[str | os.PathLike[str]]) -> ReadReport:
    """Read every article under the given files and folders (recursively).

    Article ids are paths relative to the folder given (``business/001.txt``) so that they
    survive moving the corpus; JSONL records keep their own ids. Duplicate ids keep the first.
    ``ReadReport.sources`` lists the files found, with the stat taken before each was read.
    """
    report = ReadReport()
    seen_ids: set[str] = set()
    for given in paths:
        files = scan([given], report)
        report.sources.extend(files)
        for f in files:
            for article in read_file(f.path, f.rel, report, category=f.category):
                report.parsed.append(article)
                if article.id in seen_ids:
                    report.skipped.append(
                        Skipped(f.rel, f"duplicate article id {article.id!r}", article.line or None)
                    )
                    continue
                seen_ids.add(article.id)
                report.articles.append(article)
    return report
