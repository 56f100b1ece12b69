"""The manifest: which source files a generation was built from, and what each one held.

The next ``newsearch index`` compares the folder against it to read only what changed. A file
is identified by its path; its size and mtime decide cheaply whether it may have changed, and
only then is its content hashed, and only a file whose content hash changed is parsed again.
Each file records the articles it produced (id and a digest of everything the index stores
about the article), so the difference comes out per article: a JSONL file with one corrected
record re-indexes that record only.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .corpus import Article, SourceFile, content_digest

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
#: mtimes within this long before a scan are "racy" (the trick git uses for its index).
RACY_NS = 2 * 10**9


@dataclass
class FileEntry:
    """What the manifest remembers of one source file."""

    rel: str
    category: str
    size: int
    mtime_ns: int
    digest: str
    #: [article id, article digest] for every article parsed from the file, in file order
    #: (including ids that lost to an earlier duplicate).
    articles: list[list[str]] = field(default_factory=list)


@dataclass
class Manifest:
    roots: list[str]
    #: Keyed by ``SourceFile.key``, in reading order (which decides duplicate ids).
    files: dict[str, FileEntry]
    #: When the files were stat'ed (wall clock, ns). A file whose mtime is this close to the
    #: scan may have changed again within the same timestamp tick, so its stat is not trusted.
    scanned_ns: int = 0
    version: int = MANIFEST_VERSION

    def trusts_stat(self, entry: FileEntry) -> bool:
        """Unchanged size and mtime prove an unchanged file unless the mtime was racy."""
        return entry.mtime_ns < self.scanned_ns - RACY_NS

    def winners(self) -> dict[str, tuple[str, str]]:
        """article id -> (article digest, file key) for the articles the index holds: the first
        file in reading order that has an id wins, as in a full build."""
        out: dict[str, tuple[str, str]] = {}
        for key, entry in self.files.items():
            for aid, digest in entry.articles:
                out.setdefault(aid, (digest, key))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "roots": self.roots,
            "scanned_ns": self.scanned_ns,
            "files": {k: dict(vars(v)) for k, v in self.files.items()},  # asdict is slow
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        files = {k: FileEntry(**v) for k, v in data["files"].items()}
        return cls(
            roots=list(data["roots"]),
            files=files,
            scanned_ns=int(data.get("scanned_ns", 0)),
            version=int(data["version"]),
        )


def save(generation: Path, manifest: Manifest) -> None:
    tmp = generation / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest.to_json(), separators=(",", ":")), encoding="utf-8")
    tmp.replace(generation / MANIFEST_FILE)


def load(generation: Path) -> Manifest | None:
    """The generation's manifest, or None when it has none (built before manifests existed,
    or damaged): the caller then falls back to a full build."""
    try:
        data = json.loads((generation / MANIFEST_FILE).read_text(encoding="utf-8"))
        if data.get("version") != MANIFEST_VERSION:
            return None
        return Manifest.from_json(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def file_digest(path: Path) -> str:
    return content_digest(path.read_bytes())


def article_digest(article: Article) -> str:
    """Digest of everything the three stores keep about an article: equal digest, same index."""
    payload = [
        article.id,
        article.title,
        article.source_path,
        article.date,
        article.source,
        article.url,
        article.category,
        [[p.position, p.context, p.text] for p in article.paragraphs],
    ]
    if article.derived_title:  # no headline line: nothing indexed as the headline (appended
        payload.append("derived")  # only then, so the digests of other articles stay as they were)
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def from_build(
    paths: list[str | os.PathLike[str]],
    files: list[SourceFile],
    articles: list[Article],
    scanned_ns: int = 0,
    digests: dict[str, str] | None = None,
) -> Manifest:
    """The manifest of a full build: ``files`` scanned before reading, ``articles`` every article
    parsed (``ReadReport.parsed``: those that lost to a duplicate id too),
    ``digests`` the content digests of the bytes they were parsed from (``ReadReport.digests``).

    The stat is taken before reading and the digest is that of the bytes parsed, so a file
    edited during the build shows up as changed on the next run rather than being missed. A
    file that was not read (it vanished, could not be read) is left out, so the next run tries
    it again.
    """
    by_file: dict[str, list[list[str]]] = {}
    for a in articles:
        by_file.setdefault(a.source_path, []).append([a.id, article_digest(a)])
    entries: dict[str, FileEntry] = {}
    for f in files:
        digest = (digests or {}).get(f.key)
        if digest is None:
            continue
        entries[f.key] = FileEntry(
            f.rel, f.category, f.size, f.mtime_ns, digest, by_file.get(f.key, [])
        )
    return Manifest(roots=[str(p) for p in paths], files=entries, scanned_ns=scanned_ns)
