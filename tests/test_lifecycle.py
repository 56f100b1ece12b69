"""The index under real processes: kill -9 at random moments, two writers, readers during
rebuilds, and watch mode. Every process here is a real ``newsearch`` run.

The corpora's texts are embedded once, in process, before the subprocesses start (the cache
lives in the index folder), so the subprocesses never load torch and each run takes about a
second: that is what makes two dozen kill trials affordable.
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import DEMO, write
from index_checks import check_consistent

from newsearch.indexer import IndexLayout
from newsearch.indexer.update import update_index
from newsearch.search import Searcher

KNOWN_QUERY = "marathon world record"
KNOWN_ARTICLE = "sport/2026-04-26-omollo-marathon-world-record-valmont.txt"
KILL_TRIALS = 24


def _terminal_sigint() -> None:
    """Ctrl-C as in a terminal. A test run started in the background by a script (``cmd &``)
    ignores SIGINT, children inherit that, and Python then never raises KeyboardInterrupt:
    the Ctrl-C test would hang on how CI was launched, not on newsearch."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def newsearch(*args: str | Path, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "newsearch.cli.main", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=_terminal_sigint,
        **kwargs,
    )


def run_ok(*args: str | Path, timeout: float = 120) -> str:
    proc = newsearch(*args)
    out, errs = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, errs
    return out


def hold_lock(index_dir: Path) -> subprocess.Popen:
    """Another process holding the writer lock until it reads a line on stdin."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from newsearch.indexer import IndexLayout\n"
            "with IndexLayout(sys.argv[1]).writer_lock():\n"
            "    print('locked', flush=True); sys.stdin.readline()",
            str(index_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def variant(text: str, n: int) -> str:
    return (
        text.rstrip()
        + f"\n\nCorrection {n}: an earlier version of this article misstated a date.\n"
    )


def corpus_ids(corpus: Path) -> set[str]:
    return {p.relative_to(corpus).as_posix() for p in corpus.rglob("*.txt")}


@pytest.fixture(scope="module")
def warm_template(tmp_path_factory, embedder) -> Path:
    """A demo corpus and its index, with every text the tests can produce already cached."""
    root = tmp_path_factory.mktemp("warm")
    corpus = root / "corpus"
    shutil.copytree(DEMO, corpus)
    variants = tmp_path_factory.mktemp("variants")
    for f in sorted(corpus.rglob("*.txt")):
        for n in (1, 2):
            write(variants / f"{n}" / f.relative_to(corpus), variant(f.read_text("utf-8"), n))
    late = variant((corpus / KNOWN_ARTICLE).read_text("utf-8"), 1)
    write(variants / "late" / "late.txt", late.replace("Correction 1", "Flamingos flocked"))
    update_index([variants], root / "ix", embedder=embedder)
    update_index([corpus], root / "ix", embedder=embedder, rebuild=True)
    return root


@pytest.fixture
def warm(warm_template, tmp_path) -> tuple[Path, Path]:
    """A private copy of the template: (corpus, index_dir)."""
    shutil.copytree(warm_template, tmp_path / "w")
    corpus, index_dir = tmp_path / "w" / "corpus", tmp_path / "w" / "ix"
    # The copy has its own paths: record them as this index's sources.
    update_index([corpus], index_dir, rebuild=True)
    return corpus, index_dir


def mutate(corpus: Path, originals: dict[str, str], rng: random.Random) -> str:
    """One random change a user might make: edit, delete, rename or restore an article.
    Every text it can produce is in the embedding cache."""
    present = sorted(corpus_ids(corpus) - {KNOWN_ARTICLE})
    missing = sorted(set(originals) - corpus_ids(corpus))
    action = rng.choice(["edit", "edit", "delete", "rename", "restore"])
    if action == "restore" and missing:
        rel = rng.choice(missing)
        write(corpus / rel, originals[rel])
    elif action == "delete" and len(present) > 5:
        (corpus / rng.choice(present)).unlink()
    elif action == "rename" and present:
        source = corpus / rng.choice(present)
        target = corpus / rng.choice(["sport", "world", "science"]) / ("r-" + source.name)
        if not target.exists():
            source.rename(target)
    else:
        action = "edit"
        rel = rng.choice([r for r in present if r in originals] or missing)
        write(corpus / rel, variant(originals[rel], rng.choice([1, 2])))
    return action


@pytest.mark.slow
def test_kill_9_at_random_moments_never_breaks_the_published_index(warm):
    corpus, index_dir = warm
    originals = {
        p.relative_to(corpus).as_posix(): p.read_text("utf-8") for p in corpus.rglob("*.txt")
    }
    rng = random.Random(int(os.environ.get("NEWSEARCH_KILL_SEED", "20261123")))
    started = time.perf_counter()
    run_ok("index", corpus, "-i", index_dir, "--quiet", "--rebuild")
    duration = time.perf_counter() - started

    completed = killed = 0
    for trial in range(KILL_TRIALS):
        mutate(corpus, originals, rng)
        args = ["index", corpus, "-i", index_dir, "--quiet"]
        if trial % 3 == 0:
            args.append("--rebuild")
        proc = newsearch(*args)
        time.sleep(rng.uniform(0.2, 1.1) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            killed += 1
        else:
            assert proc.returncode == 0, f"trial {trial}: exit {proc.returncode}"
            completed += 1
            duration *= 0.8  # runs got faster (less load): aim earlier
        articles, _ = check_consistent(index_dir)
        assert KNOWN_ARTICLE in articles
        with Searcher(index_dir) as s:
            hits = s.search(KNOWN_QUERY, k=1, mode="bm25").hits
        assert hits and hits[0].article_id == KNOWN_ARTICLE, f"trial {trial}"

    # The next run recovers: it removes what the killed runs left and catches up.
    out = json.loads(run_ok("index", corpus, "-i", index_dir, "--json"))
    assert out["embedded"] == 0
    articles, _ = check_consistent(index_dir)
    assert articles == corpus_ids(corpus)
    gens = os.listdir(IndexLayout(index_dir).generations)
    assert not [g for g in gens if g.startswith(".")] and len(gens) <= 2
    assert killed >= KILL_TRIALS // 3, (killed, completed)


@pytest.mark.slow
def test_two_writers_one_waits_the_other_gives_up(warm):
    corpus, index_dir = warm
    holder = hold_lock(index_dir)
    impatient = newsearch("index", corpus, "-i", index_dir, "--wait", "1")
    _, errs = impatient.communicate(timeout=120)
    assert impatient.returncode == 3
    assert "another newsearch process is writing" in errs and "--wait" in errs
    assert "Traceback" not in errs

    patient = newsearch("index", corpus, "-i", index_dir, "--wait", "120", "--json")
    time.sleep(3)
    assert patient.poll() is None  # it cannot finish while the lock is held
    holder.communicate("release\n", timeout=30)  # the holder lets go
    out, errs = patient.communicate(timeout=120)
    assert patient.returncode == 0, errs
    assert json.loads(out)["mode"] == "unchanged"

    # Two real index runs started together: both finish, one after the other.
    write(corpus / "world" / "extra.txt", variant((corpus / KNOWN_ARTICLE).read_text(), 1))
    first = newsearch("index", corpus, "-i", index_dir, "--wait", "60", "--rebuild")
    second = newsearch("index", corpus, "-i", index_dir, "--wait", "60")
    assert first.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    articles, _ = check_consistent(index_dir)
    assert articles == corpus_ids(corpus)


@pytest.mark.slow
def test_a_killed_writer_leaves_no_lock_behind(warm):
    corpus, index_dir = warm
    holder = hold_lock(index_dir)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert (index_dir / "writer.lock").read_text().strip() == str(holder.pid)  # stale file
    run_ok("index", corpus, "-i", index_dir, "--wait", "0")


@pytest.mark.slow
def test_readers_during_rebuilds_see_no_error_and_no_mixed_state(warm):
    corpus, index_dir = warm
    originals = {
        p.relative_to(corpus).as_posix(): p.read_text("utf-8") for p in corpus.rglob("*.txt")
    }
    stop = threading.Event()
    failures: list[str] = []
    seen: set[str] = set()

    def api_reader() -> None:
        with Searcher(index_dir) as s:
            while not stop.is_set():
                try:
                    s.refresh()
                    seen.add(s.generation.name)
                    hits = s.search(KNOWN_QUERY, k=3, mode="bm25").hits
                    if not hits or hits[0].article_id != KNOWN_ARTICLE:
                        failures.append(f"wrong top hit on {s.generation.name}")
                    # one generation per query: every keyword hit is in the same docstore
                    kw = s.keyword.search("the", 200)
                    known = s.docstore.paragraphs(pid for pid, _ in kw)
                    if len(known) != len(kw):
                        failures.append(f"mixed stores on {s.generation.name}")
                    if s.keyword.doc_count() != s.meta.paragraphs != s.vectors.ntotal:
                        failures.append(f"counts disagree on {s.generation.name}")
                except Exception as exc:  # the point of the test: there must be none
                    failures.append(f"{type(exc).__name__}: {exc}")

    def cli_reader() -> None:
        while not stop.is_set():
            proc = newsearch("query", KNOWN_QUERY, "--mode", "bm25", "-i", index_dir, "--json")
            out, errs = proc.communicate(timeout=60)
            if proc.returncode != 0:
                failures.append(f"cli query failed: {errs.strip()}")
            elif json.loads(out)["hits"][0]["article_id"] != KNOWN_ARTICLE:
                failures.append("cli query: wrong top hit")

    threads = [threading.Thread(target=api_reader), threading.Thread(target=cli_reader)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    try:
        for i in range(6):
            mutate(corpus, originals, rng)
            args = ["index", corpus, "-i", index_dir, "--quiet"]
            run_ok(*args, *(["--rebuild"] if i % 2 else []))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
    assert not failures, failures[:5]
    assert len(seen) >= 3  # the reader really followed the new generations


@pytest.mark.slow
def test_watch_picks_up_a_new_file_and_stops_on_ctrl_c(warm):
    corpus, index_dir = warm
    extra = corpus / "world" / "zz-late-news.txt"
    text = variant((corpus / KNOWN_ARTICLE).read_text(), 1)
    text = text.replace("Correction 1", "Flamingos flocked")  # cached by the template

    proc = newsearch("watch", corpus, "-i", index_dir, "--debounce", "0.2", "--json")
    lines: list[str] = []
    reports: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    threading.Thread(target=lambda: [reports.put(x) for x in proc.stdout], daemon=True).start()
    try:
        first = json.loads(reports.get(timeout=120))
        assert first["mode"] == "unchanged"
        # The watcher is armed before the initial update runs, so one write right after that
        # update's report (before "watching" is even logged) must be seen: no second save.
        write(extra, text)
        try:
            update = json.loads(reports.get(timeout=120))
        except queue.Empty:
            pytest.fail("watch did not report a file written right after its first update")
        assert update["mode"] == "incremental" and update["added"] == 1
        assert update["embedded"] == 0
        with Searcher(index_dir) as s:
            hits = s.search("flamingos flocked", k=1, mode="bm25").hits
        assert hits[0].article_id == "world/zz-late-news.txt"
        assert any("added" in x and "zz-late-news" in x for x in lines), lines
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(timeout=5)
    assert proc.returncode == 0
    assert any("stopped watching" in x for x in lines)
    check_consistent(index_dir)
