"""The on-disk layout of an index directory and its metadata.

```
index_dir/
  CURRENT               name of the published generation (replaced atomically, last)
  generations/<name>/   meta.json, keyword/ (Whoosh), vectors.faiss, docstore.sqlite
  embeddings.sqlite     embedding cache shared by all generations
  tuned.json            query-time settings chosen by ``newsearch tune`` (search/tuned.py)
  writer.lock           flock held by the one process that builds
```

Each generation also holds ``reader.lock``: a reader keeps a shared flock on it while it has
the generation open, and ``cleanup`` never removes a generation whose lock it cannot take.

A build writes a whole new generation beside the published one and publishes it by replacing
``CURRENT``; readers resolve ``CURRENT`` once when they open, so they never see a half-built
index, and a crash mid-build leaves the previous generation untouched.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .encoders.base import ModelInfo
from .errors import IndexFormatError, IndexNotFoundError, LockedError

FORMAT_VERSION = 1
CURRENT = "CURRENT"
GENERATIONS = "generations"
META = "meta.json"
KEYWORD_DIR = "keyword"
VECTORS_FILE = "vectors.faiss"
DOCSTORE_FILE = "docstore.sqlite"
CACHE_FILE = "embeddings.sqlite"
LOCK_FILE = "writer.lock"
#: Query-time settings chosen by ``newsearch tune`` (search/tuned.py), beside the generations.
TUNED_FILE = "tuned.json"
READER_LOCK = "reader.lock"
_BUILDING = ".building-"
#: What ``CURRENT`` may name: a published generation folder (``20260314T101500-123-456``).
_GENERATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}")


@dataclass
class IndexMeta:
    """What a generation holds and how it was made; readers check it before trusting the rest."""

    model: ModelInfo
    articles: int
    paragraphs: int
    vectors: int
    sources: list[str] = field(default_factory=list)
    embed_headline: bool = True
    window_tokens: int = 0
    window_overlap: int = 0
    built_at: str = ""
    build_seconds: float = 0.0
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexMeta:
        data = dict(data)
        data["model"] = ModelInfo(**data["model"])
        return cls(**data)


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _fsync_dir(path: Path) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_unless_leased(generation: Path) -> bool:
    """Remove a generation unless a reader holds its lock; the exclusive lock is held while
    deleting, so a reader that arrives meanwhile waits and then sees the generation gone."""
    try:
        fd = os.open(str(generation / READER_LOCK), os.O_RDONLY)
    except OSError:
        shutil.rmtree(generation, ignore_errors=True)
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        # meta.json goes first: a reader that got the lock after us sees no meta and retries.
        with contextlib.suppress(OSError):
            (generation / META).unlink()
        shutil.rmtree(generation, ignore_errors=True)
        return True
    finally:
        os.close(fd)


class IndexLayout:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def cache_path(self) -> Path:
        return self.root / CACHE_FILE

    @property
    def generations(self) -> Path:
        return self.root / GENERATIONS

    def exists(self) -> bool:
        return (self.root / CURRENT).is_file()

    def current_name(self) -> str:
        pointer = self.root / CURRENT
        try:
            name = pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            if not self.root.exists():
                raise IndexNotFoundError(
                    f"no index at {self.root}: build one with `newsearch index PATH "
                    f"--index-dir {self.root}`"
                ) from None
            raise IndexNotFoundError(
                f"{self.root} holds no newsearch index: build one with `newsearch index PATH "
                f"--index-dir {self.root}`"
            ) from None
        except NotADirectoryError:
            raise IndexNotFoundError(
                f"{self.root} is a file, not an index directory: pass --index-dir DIR"
            ) from None
        except UnicodeDecodeError:
            name = ""
        except OSError as exc:
            raise IndexFormatError(f"cannot read {pointer}: {exc.strerror}") from exc
        if not _GENERATION_NAME.fullmatch(name):
            raise IndexFormatError(f"{pointer} is damaged: run `newsearch index PATH --rebuild`")
        return name

    def current(self) -> Path:
        gen = self.generations / self.current_name()
        if not gen.is_dir():
            raise IndexFormatError(
                f"published generation {gen.name} is missing: run `newsearch index PATH --rebuild`"
            )
        return gen

    def read_meta(self, generation: Path) -> IndexMeta:
        try:
            data = json.loads((generation / META).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexFormatError(
                f"index metadata in {generation} is missing or damaged: "
                "run `newsearch index PATH --rebuild`"
            ) from exc
        version = data.get("format_version") if isinstance(data, dict) else None
        if version != FORMAT_VERSION:
            raise IndexFormatError(
                f"index at {self.root} has format version {version}, this newsearch reads "
                f"version {FORMAT_VERSION}: run `newsearch index PATH --rebuild`"
            )
        try:
            return IndexMeta.from_json(data)
        except (TypeError, KeyError, ValueError) as exc:
            raise IndexFormatError(f"index metadata in {generation} is damaged: {exc}") from exc

    def new_generation(self) -> Path:
        """A private folder to build into; invisible to readers until published."""
        self.generations.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = self.generations / f"{_BUILDING}{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        path.mkdir()
        (path / READER_LOCK).touch()
        return path

    def open_current(self) -> tuple[Path, int | None]:
        """Resolve ``CURRENT`` and take a reader lease on it: (generation, lease fd).

        The lease (a shared flock on the generation's ``reader.lock``) keeps ``cleanup`` from
        removing the generation while the reader uses it; release it with ``release``. A
        generation removed between reading ``CURRENT`` and locking is detected and the
        pointer read again. Generations without a lock file (read-only copies, older builds)
        are opened without a lease.
        """
        for _ in range(50):
            gen = self.current()
            try:
                fd = os.open(str(gen / READER_LOCK), os.O_RDONLY)
            except FileNotFoundError:
                if gen.is_dir() and (gen / META).is_file():
                    return gen, None
                continue  # removed under us: CURRENT has moved on
            except OSError:
                return gen, None
            fcntl.flock(fd, fcntl.LOCK_SH)
            if (gen / META).is_file():
                return gen, fd
            os.close(fd)  # cleanup removed it while we waited for the lock
        raise IndexFormatError(f"the index at {self.root} keeps changing; try again")

    @staticmethod
    def release(lease: int | None) -> None:
        if lease is not None:
            os.close(lease)

    def write_meta(self, generation: Path, meta: IndexMeta) -> None:
        tmp = generation / (META + ".tmp")
        tmp.write_text(json.dumps(meta.to_json(), indent=2), encoding="utf-8")
        tmp.replace(generation / META)

    def publish(self, building: Path) -> Path:
        """Make a finished generation the current one: rename it, then swap CURRENT."""
        for f in building.rglob("*"):
            if f.is_file():
                with f.open("rb") as fh:
                    os.fsync(fh.fileno())
        final = building.with_name(building.name[len(_BUILDING) :])
        building.rename(final)
        _fsync_dir(self.generations)
        tmp = self.root / (CURRENT + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.write(final.name + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.root / CURRENT)
        except BaseException:
            # Not published (disk full while writing CURRENT): hand the folder back to the
            # unfinished builds, so that it is removed and never mistaken for a previous one.
            with contextlib.suppress(OSError):
                tmp.unlink()
            with contextlib.suppress(OSError):
                final.rename(building)
            raise
        _fsync_dir(self.root)
        return final

    def cleanup(self, keep_previous: int = 1) -> list[str]:
        """Remove unfinished builds and all but the newest ``keep_previous`` old generations,
        except those a reader still holds a lease on.

        One previous generation is kept so a reader that resolved ``CURRENT`` just before the
        swap can still open it. Call only while holding the writer lock.
        """
        if not self.generations.is_dir():
            return []
        removed = self.remove_unfinished()
        try:
            current = self.current_name() if self.exists() else None
        except IndexFormatError:
            # A damaged CURRENT names no generation: keep every published one (a --rebuild is
            # about to publish a new one; the next cleanup trims them).
            return removed
        old = [
            entry
            for entry in sorted(self.generations.iterdir())
            if entry.is_dir() and entry.name != current and not entry.name.startswith(_BUILDING)
        ]
        old.sort(key=lambda p: p.stat().st_mtime)
        for entry in old[: max(0, len(old) - keep_previous)]:
            if _remove_unless_leased(entry):
                removed.append(entry.name)
        return removed

    def remove_unfinished(self) -> list[str]:
        """Remove the folders of builds that did not publish (crashed or failed). Call only
        while holding the writer lock: another writer's build folder looks the same."""
        if not self.generations.is_dir():
            return []
        removed = []
        for entry in sorted(self.generations.iterdir()):
            if entry.name.startswith(_BUILDING):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        return removed

    def generation_names(self) -> list[str]:
        """Published generations on disk (current and old), oldest first."""
        if not self.generations.is_dir():
            return []
        gens = [p for p in self.generations.iterdir() if p.is_dir() and p.name[0] != "."]
        return [p.name for p in sorted(gens, key=lambda p: p.stat().st_mtime)]

    @contextlib.contextmanager
    def writer_lock(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the one-writer lock. The kernel drops a flock when its process dies, so a lock
        left by a killed build never blocks the next one."""
        if self.root.exists() and not self.root.is_dir():
            raise IndexNotFoundError(
                f"{self.root} is a file, not an index directory: pass --index-dir DIR"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(str(self.root / LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(0.0, wait)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise LockedError(
                            f"another newsearch process is writing the index at {self.root}; "
                            "wait for it or pass --wait SECONDS"
                        ) from None
                    time.sleep(0.2)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)


#: Whoosh files that are rewritten or locked in place: copied, never hard-linked.
_NO_LINK_SUFFIXES = ("WRITELOCK", "READLOCK", ".lock")


def copy_generation(src: Path, dst: Path, link_stores: bool = False) -> None:
    """Make ``dst`` a private, writable copy of the published generation ``src``.

    Whoosh segment and TOC files are hard-linked: Whoosh writes every change into new files
    (new segments, a new numbered TOC renamed into place) and only unlinks old ones, so a
    writer in ``dst`` never touches ``src``'s bytes. The docstore (SQLite writes in place) and
    the FAISS file (rewritten whole) are copied, unless ``link_stores`` says they stay as is.
    """
    kw_src, kw_dst = src / KEYWORD_DIR, dst / KEYWORD_DIR
    kw_dst.mkdir(parents=True, exist_ok=True)
    for f in kw_src.iterdir():
        if not f.is_file():
            continue
        if f.name.endswith(_NO_LINK_SUFFIXES):
            continue  # a lock file: Whoosh makes its own
        _link_or_copy(f, kw_dst / f.name)
    for name in (DOCSTORE_FILE, VECTORS_FILE):
        if link_stores:
            _link_or_copy(src / name, dst / name)
        else:
            shutil.copyfile(src / name, dst / name)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # a filesystem without hard links
        shutil.copy2(src, dst)
