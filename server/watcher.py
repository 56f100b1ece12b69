"""``newsearch watch`` inside the server: a thread that applies changes as they happen.

The live index notices each published generation by itself (``LiveIndex`` polls ``CURRENT``);
``on_applied`` only lets it move at once. A failed update is logged and watching goes on, as in
``newsearch watch``; the server keeps serving what it has.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from .config import ServerConfig

log = logging.getLogger("newsearch.server")


class Watcher:
    """``newsearch watch`` in a thread: applies changes, and the live index follows."""

    def __init__(
        self,
        config: ServerConfig,
        on_applied: Callable[[], None] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.on_applied = on_applied
        self.say = say or log.warning
        self.stop_event = threading.Event()
        self.updates = 0
        self.last_error = ""
        self.running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="newsearch-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from newsearch.indexer import BuildOptions
        from newsearch.indexer.watch import watch_and_update

        def applied(report: Any) -> None:
            self.updates += 1
            if self.on_applied is not None:
                self.on_applied()

        def said(line: str) -> None:
            if line.startswith("error:"):
                self.last_error = line[len("error:") :].strip()
            self.say(line)

        self.running = True
        try:
            watch_and_update(
                self.config.watch,
                self.config.index_dir,
                BuildOptions(model_path=self.config.model_path),
                debounce=self.config.debounce,
                log=said,
                applied=applied,
                stop_event=self.stop_event,
            )
        except Exception as exc:  # the server keeps serving what it has
            self.last_error = str(exc)
            self.say(f"error: watching stopped: {exc}")
        finally:
            self.running = False

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def status(self) -> dict[str, Any]:
        return {
            "paths": list(self.config.watch),
            "running": self.running,
            "updates": self.updates,
            "last_error": self.last_error,
        }
