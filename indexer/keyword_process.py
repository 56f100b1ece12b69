"""The keyword index of a build written in a child process while the parent embeds.

Whoosh's writer is pure Python on one core, and in a serial build it runs while the second
core idles (the document encoder uses both). Started before the embeddings, the writing
fills what the encoder leaves of the cores and its wall time mostly disappears from the
build's (BENCHMARKS.md "Issue 15, part 3"). A small build does not pay the child's start-up
(a new interpreter importing Whoosh and numpy): below ``CHILD_MIN_PARAGRAPHS`` the builder
writes the index in its own process, as before.

The child is a plain ``python -m newsearch.indexer.keyword_process`` reading the documents
from a pickle in the generation folder, not a ``multiprocessing`` process: ``spawn`` runs the
caller's main module again in the child, and a script calling ``build_index`` without an
``if __name__ == "__main__"`` guard then starts a second build, which waits for the writer
lock the first one holds while the first waits for its child.

Safety, as for any part of a generation: the child writes only inside the generation folder
that the parent has not published; the parent publishes only after ``result()`` says the
child finished and wrote every document. An exception in the child comes back as a
``KeywordWriteError`` naming it (with the child's traceback); a child that dies without an
answer (killed, out of memory) is an error too. The child dies with the parent (a Linux
parent-death signal; elsewhere it notices the parent gone and stops), so a killed build leaves
nothing writing, and the next build's cleanup removes the unfinished generation.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from . import keyword
from .errors import NewsearchError
from .keyword import KeywordDoc

#: Paragraphs from which a build writes its keyword index in a child process. The child costs
#: ~1 s of start-up; Whoosh writes ~1,300 paragraphs/s of news on one of the 2 cores here.
CHILD_MIN_PARAGRAPHS = 5_000
#: The child checks that its parent lives every this many documents (where no parent-death
#: signal exists).
_PARENT_CHECK = 1_000
#: Beside the keyword folder in the unpublished generation; removed once the child is done.
_DOCS_FILE = ".keyword-docs.pickle"
_ERRORS_FILE = ".keyword-errors.txt"


class KeywordWriteError(NewsearchError):
    """Writing the keyword index failed in the child process."""


class KeywordJob:
    """``keyword.write_index(directory, docs)`` started now in a child process; ``result()``
    waits for it. Use as a context manager: leaving it before ``result()`` (the build failed
    elsewhere) kills the child."""

    def __init__(self, directory: Path, docs: Sequence[KeywordDoc]) -> None:
        self._directory = Path(directory)
        self._expected = len(docs)
        self._docs_file = self._directory.parent / _DOCS_FILE
        self._errors_file = self._directory.parent / _ERRORS_FILE
        rows = [(d.pid, d.article_id, d.text, d.title) for d in docs]
        with open(self._docs_file, "wb") as f:
            pickle.dump(rows, f, protocol=pickle.HIGHEST_PROTOCOL)
        with open(self._errors_file, "wb") as errors:
            self._process: subprocess.Popen | None = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    __name__,
                    str(self._directory),
                    str(self._docs_file),
                    str(self._expected),
                    str(os.getpid()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )

    def result(self) -> int:
        """Documents written; raises ``KeywordWriteError`` when the child failed. Once."""
        if self._process is None:
            raise RuntimeError("KeywordJob.result() called twice, or after stop()")
        code = self._process.wait()
        self._process = None
        errors = self._errors_file.read_text(encoding="utf-8", errors="replace").strip()
        self._remove_files()
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"failed (exit code {code})"
            raise KeywordWriteError(
                f"the process writing the keyword index in {self._directory} {how}"
                + (f": {errors}" if errors else "")
            )
        return self._expected

    def stop(self) -> None:
        """Kill a child still writing (the build failed elsewhere)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        self._remove_files()

    def _remove_files(self) -> None:
        self._docs_file.unlink(missing_ok=True)
        self._errors_file.unlink(missing_ok=True)

    def __enter__(self) -> KeywordJob:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(3)


def _parent_watch(rows, parent: int):
    for i, (pid, article_id, text, title) in enumerate(rows):
        if i % _PARENT_CHECK == 0 and os.getppid() != parent:
            os._exit(3)  # nobody will publish what this writes
        yield KeywordDoc(pid, article_id, text, title)


def main(argv: Sequence[str]) -> int:
    directory, docs_file, expected, parent = argv
    _die_with_parent(int(parent))
    try:
        with open(docs_file, "rb") as f:
            rows = pickle.load(f)
        count = keyword.write_index(Path(directory), _parent_watch(rows, int(parent)))
        if count != int(expected):
            raise KeywordWriteError(f"wrote {count} documents of {expected}")
    except BaseException as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
