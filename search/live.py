"""A live index: the current searcher, the recent generations still open, and what replaced them.

A long-running reader (``newsearch serve``, later other backends) must move to each newly
published generation without a restart, keep serving while a bad one is refused, and keep
answering paged requests on the generation their first page came from. ``LiveIndex`` owns
that: ``refresh()`` (called by a poller every ``poll`` seconds, and cheap when nothing moved:
one read of ``CURRENT``) opens a new generation, checks its stores against ``meta.json``
(``indexer.integrity``), warms it, and only then makes it current. The generation name is the
token a client passes back to pin its pages; up to ``keep`` superseded generations stay open
(each holds its reader lease, so ``cleanup`` leaves it on disk) for ``keep_seconds``.

A searcher in use is counted, so retiring a generation never closes it under a running query.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from newsearch.indexer.encoders.base import ModelInfo
from newsearch.indexer.errors import (
    IndexFormatError,
    IndexNotFoundError,
    ModelError,
    NewsearchError,
    QueryError,
)
from newsearch.indexer.layout import IndexLayout

from .searcher import SearchConfig, Searcher

#: What a generation token may look like (a generation folder name); anything else is refused
#: before it is used, and it is only ever a key, never a path.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}")


class IndexUnavailableError(NewsearchError):
    """No generation can be served (none published, or the only one is damaged)."""


class GenerationGoneError(QueryError):
    """A generation token names a generation no longer kept open: start again at page 1."""


@dataclass(frozen=True)
class Refused:
    """A published generation that was not put in service, and why."""

    generation: str
    reason: str
    at: float


class _SharedEncoder:
    """The query encoder of one generation handed to the next one of the same model, so a
    new generation does not load the model again (``Searcher`` checks ``info`` against the
    index's model and refuses it when they differ)."""

    def __init__(self, info: ModelInfo, encoder: object) -> None:
        self.info = info
        self._encoder = encoder

    def encode_query(self, text: str):  # type: ignore[no-untyped-def]
        return self._encoder.encode_query(text)  # type: ignore[attr-defined]

    def encode(self, texts, progress=None):  # type: ignore[no-untyped-def]
        """Sentences of a page's semantic highlights (``search/highlights.py``)."""
        return self._encoder.encode(texts, progress)  # type: ignore[attr-defined]


class _Open:
    """An open generation and how many queries use it."""

    def __init__(self, searcher: Searcher) -> None:
        self.searcher = searcher
        self.name = searcher.generation.name
        self.users = 0
        self.retired_at: float | None = None
        self.closing = False


class _Served:
    """What the server asks of whatever it serves (``LiveIndex``, ``StaticIndex``): whether a
    searcher is open, and why not. Subclasses keep the open one in ``_current`` (it has a
    ``name``) and the reason nothing is open in ``_problem``."""

    _current: Any
    _problem: str | None

    @property
    def ready(self) -> bool:
        return self._current is not None

    @property
    def problem(self) -> str | None:
        """Why nothing is served (None while a generation is)."""
        return None if self._current is not None else self._problem

    @property
    def current_name(self) -> str | None:
        current = self._current
        return current.name if current is not None else None


class LiveIndex(_Served):
    """The generation to search now, and the recent ones that paged requests still read."""

    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        model_path: str | os.PathLike[str] | None = None,
        config: SearchConfig | None = None,
        keep: int = 4,
        keep_seconds: float = 600.0,
        log: Callable[[str], None] | None = None,
        embedder: object | None = None,
    ) -> None:
        self.layout = IndexLayout(index_dir)
        self.embedder = embedder
        self.model_path = model_path
        self.config = config
        self.keep = keep
        self.keep_seconds = keep_seconds
        self._log = log or (lambda line: None)
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._current: _Open | None = None
        self._old: list[_Open] = []  # superseded, newest first
        self._problem: str | None = None
        self._seen_name: str | None = None  # the CURRENT last acted on
        self.refused: Refused | None = None
        self.switched_at: float | None = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- following CURRENT ----------------------------------------------------------------

    def refresh(self) -> bool:
        """Open the published generation if it is not the one in service; True if it moved.

        A generation whose stores do not match its ``meta.json`` (or cannot be opened) is
        refused: the one in service keeps serving, and the refusal is kept in ``refused``
        until ``CURRENT`` moves again.
        """
        with self._refresh_lock:
            try:
                name = self.layout.current_name()
            except NewsearchError as exc:
                if self._current is None:
                    self._problem = str(exc)
                elif self._seen_name != "?":
                    self.refused = Refused("", str(exc), time.time())
                    self._log(f"CURRENT cannot be read ({exc}); still serving {self._current.name}")
                self._seen_name = "?"
                return False
            if name == self._seen_name:
                self._expire()
                return False
            self._seen_name = name
            if self._current is not None and name == self._current.name:
                self.refused = None
                return False
            try:
                opened = self._open()
            except Exception as exc:  # damaged stores raise more than NewsearchError
                reason = str(exc)
                if self._current is None:
                    self._problem = reason
                else:
                    self.refused = Refused(name, reason, time.time())
                    self._log(f"refused generation {name}: {reason}")
                return False
            with self._lock:
                previous = self._current
                self._current = opened
                self._problem = None
                self.refused = None
                self.switched_at = time.time()
                if previous is not None:
                    previous.retired_at = time.monotonic()
                    self._old.insert(0, previous)
            self._log(f"serving generation {opened.name}")
            self._expire()
            return True

    def _open(self) -> _Open:
        from newsearch.indexer.integrity import problems

        searcher: Searcher | None = None
        shared = self.embedder or self._loaded_encoder()
        if shared is not None:
            # Rebuilt with another model (ModelError): this generation loads its own.
            with contextlib.suppress(ModelError):
                searcher = Searcher(
                    self.layout.root, self.model_path, config=self.config, embedder=shared
                )
        if searcher is None:
            searcher = Searcher(self.layout.root, self.model_path, config=self.config)
        try:
            found = problems(searcher.generation, searcher.meta)
            if found:
                raise IndexFormatError(
                    f"generation {searcher.generation.name} is damaged ({'; '.join(found)}): "
                    "run `newsearch index PATH --rebuild`"
                )
            searcher.vectors  # noqa: B018 - load FAISS now, not on the first query
        except BaseException:
            searcher.close()
            raise
        return _Open(searcher)

    def _loaded_encoder(self) -> _SharedEncoder | None:
        """The query encoder the generation in service has loaded, to hand to the next one
        (None when it has loaded none: the next one loads its own on its first dense query)."""
        current = self._current
        loaded = getattr(current.searcher, "_embedder", None) if current is not None else None
        if loaded is None or self.model_path is not None:
            return None
        if isinstance(loaded, _SharedEncoder):
            return loaded
        return _SharedEncoder(current.searcher.meta.model, loaded)  # type: ignore[union-attr]

    def _expire(self) -> None:
        """Close superseded generations past ``keep`` or ``keep_seconds`` once unused."""
        now = time.monotonic()
        with self._lock:
            keep: list[_Open] = []
            closing: list[_Open] = []
            for i, old in enumerate(self._old):
                expired = i >= self.keep or now - (old.retired_at or now) > self.keep_seconds
                (closing if expired else keep).append(old)
            self._old = keep
            ready = []
            for old in closing:
                old.closing = True
                if old.users == 0:
                    ready.append(old)
        for old in ready:
            old.searcher.close()

    def start(self, poll: float = 0.2) -> None:
        """Refresh now, then every ``poll`` seconds in a daemon thread until ``close()``."""
        self.refresh()
        if self._poller is not None:
            return

        def loop() -> None:
            while not self._stop.wait(poll):
                try:
                    self.refresh()
                except Exception as exc:  # never let the poller die: log and keep serving
                    self._log(f"error: refreshing the index failed: {exc}")

        self._poller = threading.Thread(target=loop, name="newsearch-live", daemon=True)
        self._poller.start()

    # -- using a generation ---------------------------------------------------------------

    @contextlib.contextmanager
    def use(self, token: str | None = None) -> Iterator[Searcher]:
        """The searcher of generation ``token`` (the current one when None), held for the
        duration of the block."""
        entry = self._acquire(token)
        try:
            yield entry.searcher
        finally:
            with self._lock:
                entry.users -= 1
                close = entry.closing and entry.users == 0
            if close:
                entry.searcher.close()

    def _acquire(self, token: str | None) -> _Open:
        if token is not None and not _TOKEN.fullmatch(token):
            raise QueryError("generation must be a token from an earlier answer")
        with self._lock:
            if self._current is None:
                raise IndexUnavailableError(self._problem or f"no index at {self.layout.root}")
            if token is None or token == self._current.name:
                entry = self._current
            else:
                entry = next((o for o in self._old if o.name == token and not o.closing), None)
                if entry is None:
                    raise GenerationGoneError(
                        f"generation {token} is no longer kept: search again without it "
                        f"(the current one is {self._current.name})"
                    )
            entry.users += 1
            return entry

    @property
    def kept(self) -> list[str]:
        """Generations a token may name: the current one first, then the superseded ones."""
        with self._lock:
            names = [self._current.name] if self._current is not None else []
            return names + [o.name for o in self._old if not o.closing]

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
            self._poller = None
        with self._lock:
            entries = ([self._current] if self._current else []) + self._old
            self._current, self._old = None, []
        for entry in entries:
            entry.searcher.close()

    def __enter__(self) -> LiveIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StaticIndex(_Served):
    """One searcher that does not follow generations, with ``LiveIndex``'s interface so the
    server serves it unchanged: a cluster directory (its shards are rebuilt as a whole, then
    served anew). Opening is retried every ``poll`` seconds until it succeeds, so a server
    started before its shards (or its Ray cluster) are ready comes up when they are."""

    refused: Refused | None = None

    def __init__(
        self, open_searcher: Callable[[], Searcher], log: Callable[[str], None] | None = None
    ) -> None:
        self._open_searcher = open_searcher
        self._log = log or (lambda line: None)
        self._lock = threading.Lock()
        self._current: _Open | None = None
        self._problem: str | None = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self.switched_at: float | None = None

    def refresh(self) -> bool:
        """Open the searcher if it is not open yet; True if it opened now."""
        with self._lock:
            if self._current is not None or self._stop.is_set():
                return False
            try:
                self._current = _Open(self._open_searcher())
            except Exception as exc:  # Ray not reachable, a shard missing: say so, retry
                self._problem = str(exc)
                return False
            self._problem = None
            self.switched_at = time.time()
        self._log(f"serving {self._current.name}")
        return True

    def start(self, poll: float = 0.2) -> None:
        """Open now; while that fails, retry every ``poll`` seconds (at least 1) until open."""
        if self.refresh() or self._poller is not None:
            return

        def loop() -> None:
            while self._current is None and not self._stop.wait(max(poll, 1.0)):
                self.refresh()

        self._poller = threading.Thread(target=loop, name="newsearch-open", daemon=True)
        self._poller.start()

    @contextlib.contextmanager
    def use(self, token: str | None = None) -> Iterator[Searcher]:
        """The searcher; a ``token`` must name it (there are no other generations)."""
        if token is not None and not _TOKEN.fullmatch(token):
            raise QueryError("generation must be a token from an earlier answer")
        current = self._current
        if current is None:
            raise IndexUnavailableError(self._problem or "the index is not open yet")
        if token is not None and token != current.name:
            raise GenerationGoneError(
                f"generation {token} is not served: search again without it "
                f"(the current one is {current.name})"
            )
        yield current.searcher

    @property
    def kept(self) -> list[str]:
        current = self._current
        return [current.name] if current is not None else []

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
            self._poller = None
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            current.searcher.close()


def index_unavailable(exc: BaseException) -> bool:
    """Errors that mean "nothing to serve" rather than "bad request"."""
    return isinstance(
        exc, (IndexUnavailableError, IndexNotFoundError, IndexFormatError, ModelError)
    )


__all__ = [
    "GenerationGoneError",
    "IndexUnavailableError",
    "LiveIndex",
    "Refused",
    "StaticIndex",
    "index_unavailable",
]
