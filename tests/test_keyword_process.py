"""The keyword index written in a child process: the same index, failures as clear errors."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DEMO

from newsearch.indexer import BuildOptions, IndexLayout, build_index, builder
from newsearch.indexer.keyword import KeywordDoc, KeywordIndex
from newsearch.indexer.keyword_process import KeywordJob, KeywordWriteError
from newsearch.indexer.layout import KEYWORD_DIR

DOCS = [
    KeywordDoc(i, f"a{i // 3}", f"Paragraph {i} on central bank rates and inflation.", "Rates")
    for i in range(1, 40)
]
QUERIES = ["central bank", "inflation rates", '"bank rates"', "council budget", "the"]


def test_a_job_writes_the_index_write_index_writes(tmp_path):
    """Also: the child runs no code of the caller's main module (a script without a
    ``__main__`` guard must not start a second build)."""
    with KeywordJob(tmp_path / "kw", DOCS) as job:
        assert job.result() == len(DOCS)
    index = KeywordIndex(tmp_path / "kw")
    assert index.doc_count() == len(DOCS)
    assert index.search("inflation", 100) == index.search_whoosh("inflation", 100)


def test_an_error_in_the_child_is_raised_in_the_parent_by_name(tmp_path):
    blocked = tmp_path / "kw"
    blocked.write_text("a file where the index folder should be")
    with KeywordJob(blocked, DOCS) as job, pytest.raises(KeywordWriteError) as err:
        job.result()
    assert "FileExistsError" in str(err.value)
    assert "failed (exit code 1)" in str(err.value)
    assert not list(tmp_path.glob(".keyword-*"))  # the job's files are gone


def test_leaving_before_the_result_stops_the_child(tmp_path):
    many = [KeywordDoc(i, "a", "words " * 200, "t") for i in range(20_000)]
    with KeywordJob(tmp_path / "kw", many) as job:
        process = job._process
    assert process is not None and process.poll() is not None
    assert job._process is None and not list(tmp_path.glob(".keyword-*"))


def test_a_build_writing_in_a_child_makes_the_same_keyword_index(tmp_path, embedder, monkeypatch):
    build_index([DEMO], tmp_path / "here", BuildOptions(export_onnx=False), embedder=embedder)
    monkeypatch.setattr(builder, "CHILD_MIN_PARAGRAPHS", 1)
    build_index([DEMO], tmp_path / "child", BuildOptions(export_onnx=False), embedder=embedder)
    here, child = (
        KeywordIndex(IndexLayout(tmp_path / name).current() / KEYWORD_DIR)
        for name in ("here", "child")
    )
    assert here.doc_count() == child.doc_count() > 0
    for q in QUERIES:
        assert here.search(q, 1000) == child.search(q, 1000)
        assert here.search_whoosh(q, 1000) == child.search_whoosh(q, 1000)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_child_dies_with_a_killed_parent(tmp_path):
    """kill -9 of the build leaves nothing writing into its unpublished generation."""
    script = (
        "import os, sys\n"
        "from newsearch.indexer.keyword import KeywordDoc\n"
        "from newsearch.indexer.keyword_process import KeywordJob\n"
        "docs = [KeywordDoc(i, 'a', 'words ' * 200, 't') for i in range(50_000)]\n"
        f"job = KeywordJob(__import__('pathlib').Path({str(tmp_path / 'kw')!r}), docs)\n"
        "print(job._process.pid, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    child = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 30
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie waits for init to reap it
