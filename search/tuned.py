"""Query-time settings tuned for one index (``newsearch tune``), kept in a file beside it.

The global defaults (coverage fusion, tau 0.3, min-max alpha 0.6, BM25 k1 0.9 / b 0.75 /
headline 0.5) were chosen to hold up on SciFact *and* on judged news queries; a setting that is
best for scientific claims costs news queries, so no single default is best everywhere. What
search engines do instead (Pyserini's per-dataset BM25 parameters, Vespa's rank profiles) is
keep the choice per collection: ``newsearch tune`` scores a grid of query-time settings on a
collection's own judged queries and saves the best here, and ``Searcher`` opened without an
explicit ``SearchConfig`` uses it.

Only settings applied at query time are stored (fusion, and BM25 k1 / b / headline boost /
idf, which the keyword index computes from stored term frequencies when a query runs), so nothing
has to be rebuilt to use or drop them. BM25 is stored twice: the hybrid's (``keyword``, chosen
with the fusion) and bm25 mode's (``bm25``, chosen on BM25 alone). They differ: on SciFact the
hybrid wants a BM25 that saturates early and weighs the headline little (k1 0.6, headline 0.3),
which ranks worse alone than the defaults (SciFact test .6728 vs .6782). Either is saved as
the defaults, written out, when the tuning split cannot tell the best from them (a paired
test, ``search/significance.py``): a file then records that tuning ran and what it found.

The file sits at the index root, outside the generations: incremental updates and rebuilds
publish new generations and keep it. It is versioned and written atomically (a temporary
file renamed over it); a file that cannot be read, or of a version this code does not know,
is an error with the command that fixes it, never silently ignored (searching with settings
other than the ones the user tuned would be a quiet quality regression).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from newsearch.indexer.errors import NewsearchError
from newsearch.indexer.keyword import KeywordConfig
from newsearch.indexer.layout import TUNED_FILE

from .fusion import Fusion

#: The file's name at the index root (``indexer/layout.py`` lists the root's files).
#: Bumped when the file's meaning changes; a reader refuses versions it does not know.
#: Version 2 added ``bm25``; a version 1 file is still read (bm25 mode then uses ``keyword``,
#: as it did when the file was written).
TUNED_VERSION = 2
READABLE_VERSIONS = (1, 2)


C = TypeVar("C")


class TunedSettingsError(NewsearchError):
    """The index's tuned settings file is damaged or of an unknown version."""

    exit_code = 2


@dataclass(frozen=True)
class TunedSettings:
    """The chosen query-time settings and where they came from (shown by ``status``/``eval``).

    ``ndcg10`` is the chosen setting's nDCG@10 on the tuning split, ``default_ndcg10`` the
    global defaults' on the same queries and lists; ``bm25_ndcg10`` bm25 mode's with ``bm25``
    (None: bm25 mode searches with ``keyword``). ``best_ndcg10`` is the grid's best, and
    ``p_value`` its paired test against the defaults: above ``max_p`` the defaults were kept
    (the chosen setting is then the defaults); ``bm25_p_value`` the same for bm25 mode. Files
    written before the test was made have None there.
    """

    fusion: Fusion
    keyword: KeywordConfig
    bm25: KeywordConfig | None = None
    bm25_ndcg10: float = 0.0
    dataset: str = ""
    split: str = ""
    queries: int = 0
    ndcg10: float = 0.0
    default_ndcg10: float = 0.0
    tuned_at: str = ""
    generation: str = ""
    best_ndcg10: float | None = None
    p_value: float | None = None
    bm25_p_value: float | None = None
    max_p: float | None = None

    def search_config(self, base: C) -> C:
        """``base`` (a ``SearchConfig``) with the tuned fusion and BM25s put in."""
        return replace(base, fusion=self.fusion, keyword=self.keyword, keyword_alone=self.bm25)  # type: ignore[type-var]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {"version": TUNED_VERSION, **data}

    @classmethod
    def from_json(cls, data: Any) -> TunedSettings:
        """Raises ``ValueError``/``TypeError``/``KeyError`` on anything malformed."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        version = data.get("version")
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            raise _VersionError(version)
        fusion = Fusion(**_only(data["fusion"], Fusion))
        keyword = _keyword(data["keyword"], "keyword")
        bm25 = data.get("bm25") if version >= 2 else None
        rest = {
            f.name: data[f.name]
            for f in fields(cls)
            if f.name not in ("fusion", "keyword", "bm25") and f.name in data
        }
        return cls(
            fusion=fusion,
            keyword=keyword,
            bm25=_keyword(bm25, "bm25") if bm25 is not None else None,
            **rest,
        )

    def describe(self) -> str:
        """One line: what is in use and how it scored (``status``, ``eval``, ``tune``)."""
        f = self.fusion
        if f.method == "rrf":
            how = f"rrf k={f.rrf_k:g}"
        elif f.method == "coverage":
            how = f"coverage tau={f.tau:g} {f.norm} alpha={f.alpha:g}"
        else:
            how = f"convex {f.norm} alpha={f.alpha:g}"
        text = f"{how}; bm25 {_bm25_text(self.keyword)}"
        if self.bm25 is not None:
            text += f"; bm25 mode {_bm25_text(self.bm25)}"
        if self.split:
            text += (
                f" (tuned on {Path(self.dataset).name or self.dataset} {self.split}, "
                f"{self.queries} queries: nDCG@10 {self.ndcg10:.4f}, "
                f"defaults {self.default_ndcg10:.4f}"
            )
            if self.bm25 is not None:
                text += f", bm25 mode {self.bm25_ndcg10:.4f}"
            kept = [
                f"{what}'s best p={p:.3g}"
                for what, p in (("the grid", self.p_value), ("bm25 mode", self.bm25_p_value))
                if p is not None and self.max_p is not None and p > self.max_p
            ]
            if kept:
                text += f"; defaults kept where not significant: {', '.join(kept)}"
            text += ")"
        return text


def _bm25_text(k: KeywordConfig) -> str:
    text = f"k1={k.k1:g} b={k.b:g} headline={k.title_boost:g}"
    return text + (f" idf={k.idf}" if k.idf != "whoosh" else "")


def _keyword(data: Any, name: str) -> KeywordConfig:
    keyword = KeywordConfig(**_only(data, KeywordConfig))
    for field in ("k1", "b", "title_boost"):
        value = getattr(keyword, field)
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}.{field} must be a number >= 0, got {value!r}")
    return keyword


class _VersionError(ValueError):
    def __init__(self, version: object) -> None:
        readable = " and ".join(str(v) for v in READABLE_VERSIONS)
        super().__init__(f"version {version!r}, this newsearch reads versions {readable}")


def _only(data: Any, cls: type) -> dict[str, Any]:
    """The dataclass's own fields from ``data``; an unknown key is an error (a typo'd or
    newer setting must not be dropped silently)."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} settings are not a JSON object")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting {unknown[0]!r}")
    return data


def tuned_path(index_dir: str | os.PathLike[str]) -> Path:
    return Path(index_dir) / TUNED_FILE


def load_tuned(index_dir: str | os.PathLike[str]) -> TunedSettings | None:
    """The index's tuned settings, or None when it has none. ``TunedSettingsError`` (one line,
    with the way out) when the file cannot be read or is of another version."""
    path = tuned_path(index_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        # No file, or no index folder at all (a path that is a file): opening the index
        # then says what is wrong, in its own words.
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(path, exc) from None
    try:
        return TunedSettings.from_json(json.loads(text))
    except _VersionError as exc:
        raise TunedSettingsError(
            f"tuned settings {path} have {exc}: run `newsearch tune DATASET --split SPLIT "
            f"-i {index_dir}` again, or `newsearch tune --reset -i {index_dir}` to drop them"
        ) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise _damaged(path, exc) from None


def _damaged(path: Path, exc: BaseException) -> TunedSettingsError:
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    index_dir = path.parent
    return TunedSettingsError(
        f"tuned settings {path} cannot be read ({what}): run `newsearch tune --reset "
        f"-i {index_dir}` to drop them (or tune again)"
    )


def save_tuned(index_dir: str | os.PathLike[str], settings: TunedSettings) -> Path:
    """Write the settings atomically: a reader sees the old file or the new one, whole."""
    path = tuned_path(index_dir)
    data = json.dumps(settings.to_json(), indent=2, sort_keys=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".tuned-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it 0600: readable as the rest is
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def reset_tuned(index_dir: str | os.PathLike[str]) -> bool:
    """Remove the tuned settings (the global defaults apply again); whether there were any."""
    try:
        tuned_path(index_dir).unlink()
    except FileNotFoundError:
        return False
    return True
