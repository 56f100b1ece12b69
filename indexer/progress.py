"""Progress of the long stages of a build or update: the CLI draws bars from it, a server
or a test listens or ignores it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of the long stages; the CLI draws bars from it."""

    def start(self, stage: str, total: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...


class NoProgress:
    def start(self, stage: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass
