"""Watch mode: follow source folders and apply each burst of changes as an incremental update.

File events are only a trigger: each burst (debounced, so saving twenty files is one update)
runs the same ``update_index`` as the command line, which compares the folder with the
manifest. A missed or duplicated event therefore cannot make the index drift from the folder.
The model is loaded once, on the first text that needs encoding, and kept between updates.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from .builder import BuildOptions
from .encoders import document_encoder
from .encoders.base import Encoder
from .encoders.model import built_model, resolve_model
from .errors import NewsearchError
from .layout import IndexLayout
from .reports import UpdateReport
from .update import update_index

#: How long the watcher waits for changes before it hands control back (milliseconds): the
#: first wait is how long watching takes to start, the others cost one wake-up each.
ARM_MS = 250


def watch_and_update(
    paths: Sequence[str | os.PathLike[str]],
    index_dir: str | os.PathLike[str],
    options: BuildOptions | None = None,
    debounce: float = 1.0,
    wait: float = 60.0,
    log: Callable[[str], None] = print,
    applied: Callable[[UpdateReport], None] | None = None,
    stop_event: threading.Event | None = None,
    embedder: Encoder | None = None,
) -> None:
    """Update once now, then after every burst of changes until ``stop_event`` is set or
    Ctrl-C (``KeyboardInterrupt`` propagates after the current update has finished or been
    abandoned; an abandoned update leaves the published index as it was)."""
    from watchfiles import DefaultFilter, watch

    options = options or BuildOptions()
    roots = [Path(p).resolve() for p in paths]
    index_root = Path(index_dir).resolve()
    embedder = embedder or _embedder(index_dir, options)

    def run_update(first: bool = False) -> None:
        try:
            report = update_index(roots, index_dir, options, wait=wait, embedder=embedder)
        except NewsearchError as exc:
            if first:  # a wrong model, an old index: say so and stop before watching
                raise
            log(f"error: {exc}")  # e.g. every article deleted for a moment: keep watching
            return
        if applied is not None:
            applied(report)

    class _Filter(DefaultFilter):
        def __call__(self, change, path: str) -> bool:
            return super().__call__(change, path) and not Path(path).is_relative_to(index_root)

    # The watcher is armed when the generator first runs (watchfiles creates its notifier
    # there), and it records every change from then on. So: arm first, then bring the index up
    # to date, then say "watching". A change made at any moment after the initial scan began is
    # either seen by that scan or reported by the watcher, never lost. ``yield_on_timeout``
    # makes the first ``next`` return once armed (after ``ARM_MS``, or at the first change).
    events = watch(
        *roots,
        watch_filter=_Filter(),
        debounce=int(debounce * 1000),
        rust_timeout=ARM_MS,
        yield_on_timeout=True,
        stop_event=stop_event,
        raise_interrupt=True,
    )
    try:
        # Changes reported by this first call happened before the initial update's scan,
        # which applies them.
        armed = next(events, None) is not None
        run_update(first=True)
        log("watching " + ", ".join(str(r) for r in roots) + " (Ctrl-C to stop)")
        if not armed:  # stop_event was set before watching began
            return
        for changes in events:
            if not changes:  # a timeout tick
                continue
            for change, path in sorted(changes, key=lambda c: c[1]):
                log(f"{change.name} {path}")
            run_update()
    finally:
        events.close()


def _embedder(index_dir: str | os.PathLike[str], options: BuildOptions) -> Encoder:
    """One encoder for the whole session (its model loads lazily, on first use)."""
    layout = IndexLayout(index_dir)
    int8 = bool(options.int8)
    if layout.exists() and not options.model_path:
        meta = layout.read_meta(layout.current())
        info = built_model(meta.model, options.model_path, updating=True)
        int8 = meta.model.precision == "int8" if options.int8 is None else options.int8
    else:
        info = resolve_model(options.model_path)
    return document_encoder(info, options.device, options.batch_size, int8)
