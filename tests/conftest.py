"""Shared fixtures: the real packaged model, real indexes built on disk once per session."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsearch.indexer import BuildOptions, Embedder, build_index, resolve_model

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "articles"
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds"


def require_shared(path: Path) -> Path:
    """Tests on the shared corpora say so loudly (a skip with the reason) when it is absent."""
    if not path.exists():
        pytest.skip(f"shared data missing: {path} (clone the project next to ../shared)")
    return path


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory) -> Iterator[Path]:
    """Tests export the ONNX query encoder into their own cache, not the user's."""
    root = tmp_path_factory.mktemp("newsearch_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEWSEARCH_CACHE_DIR", str(root))
        yield root


@pytest.fixture(scope="session")
def model():
    return resolve_model()


@pytest.fixture(scope="session")
def embedder(model):
    return Embedder(model)


@pytest.fixture(scope="session")
def seeds_index(tmp_path_factory, embedder) -> Path:
    seeds = require_shared(SEEDS)
    index_dir = tmp_path_factory.mktemp("seeds_index")
    build_index([seeds], index_dir, BuildOptions(), embedder=embedder)
    return index_dir


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory, embedder) -> Path:
    index_dir = tmp_path_factory.mktemp("demo_index")
    build_index([DEMO], index_dir, BuildOptions(), embedder=embedder)
    return index_dir


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def run_cli(*args: object) -> subprocess.CompletedProcess:
    """The real CLI in a new process (``python -m newsearch.cli.main ARGS``), run from the repo."""
    return subprocess.run(
        [sys.executable, "-m", "newsearch.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )


def cli_with_imports(*args: object) -> tuple[subprocess.CompletedProcess, set[str]]:
    """The real CLI in a new process under ``-X importtime``: its result, and the top-level
    modules it imported (what tests check to keep torch out of a command)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "newsearch.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    return proc, imported


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator:
    """A real two-node Ray cluster (tests/ray_cluster.py) for one test module, stopped after
    it (every process it started, by session id) even when a test or the start fails."""
    pytest.importorskip("ray", reason="Ray is not installed (the [cluster] extra)")
    from ray_cluster import LocalRayCluster, namespace_available

    if not namespace_available():
        pytest.skip("cannot make a private network namespace (unshare --net needs root)")
    cluster = LocalRayCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
    assert cluster.pids() == [], "processes of the test cluster outlived it"
