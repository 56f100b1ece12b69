"""What a new ``newsearch`` process imports: each command pays only for the engines it uses.

Read from ``python -X importtime`` of the real CLI in a new process (timings are benchmarks,
not tests: bench/speed.py measures them; here only *which* modules load is checked).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

HEAVY = {"torch", "transformers", "sentence_transformers"}
#: What only ``newsearch serve`` may load.
SERVER = {"fastapi", "starlette", "uvicorn", "jinja2", "pydantic", "anyio"}


def imported_by(*args: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "newsearch.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }


def test_help_imports_no_engine():
    loaded = imported_by("--help")
    assert not loaded & (HEAVY | SERVER | {"whoosh", "faiss", "onnxruntime", "numpy"})


def test_status_imports_no_search_engine(seeds_index):
    loaded = imported_by("status", "-i", str(seeds_index), "--json")
    assert not loaded & (HEAVY | SERVER | {"whoosh", "faiss", "onnxruntime"})


@pytest.mark.parametrize(
    ("mode", "needed", "absent"),
    [
        ("bm25", {"whoosh"}, {"onnxruntime", "tokenizers", "faiss"}),
        ("dense", {"faiss", "onnxruntime", "tokenizers"}, set()),
        ("hybrid", {"whoosh", "faiss", "onnxruntime"}, set()),
    ],
)
def test_query_imports_what_its_mode_uses(seeds_index, mode, needed, absent):
    loaded = imported_by(
        "query", "security guarantees", "--mode", mode, "-i", str(seeds_index), "--json"
    )
    assert needed <= loaded
    assert not loaded & (HEAVY | SERVER | absent)
