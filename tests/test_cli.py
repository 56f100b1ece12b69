"""The CLI through typer's runner (in process) and once as a real console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO, REPO, write
from typer.testing import CliRunner

from newsearch.cli.main import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory) -> Path:
    index_dir = tmp_path_factory.mktemp("cli") / "ix"
    result = run("index", DEMO / "sport", DEMO / "world", "--index-dir", index_dir, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["articles"] == 8 and summary["paragraphs"] == summary["vectors"] > 30
    return index_dir


def test_query_json(cli_index):
    result = run("query", "security guarantees", "-k", "3", "--index-dir", cli_index, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "hybrid" and data["k"] == 3
    top = data["hits"][0]
    assert "valdoria" in top["article_id"] and top["rank"] == 1
    p = top["paragraphs"][0]
    assert {"text", "score", "keyword_rank", "vector_rank", "position", "context"} <= set(p)
    assert "security guarantees" in p["text"].lower()


def test_query_human_output_and_modes(cli_index):
    result = run("query", "marathon world record", "--mode", "bm25", "-i", cli_index)
    assert result.exit_code == 0, result.output
    assert "marathon" in result.stdout.lower() and "bm25 #1" in result.stdout


def test_status(cli_index):
    result = run("status", "-i", cli_index, "--json")
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["articles"] == 8 and info["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["dim"] == 384 and info["built_at"]
    text = run("status", "-i", cli_index)
    assert "paragraphs" in text.stdout and "all-MiniLM-L6-v2" in text.stdout


def test_index_without_paths_reuses_the_recorded_sources(cli_index):
    result = run("index", "-i", cli_index, "--json", "-q")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["articles"] == 8 and data["embedded"] == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["query", "", "-i", "{ix}"], 2, "empty"),
        (["query", "nato", "-k", "0", "-i", "{ix}"], 2, "-k"),
        (["query", "nato", "--mode", "magic", "-i", "{ix}"], 2, "mode"),
        (["query", "nato", "-i", "{missing}"], 1, "no index"),
        (["status", "-i", "{missing}"], 1, "no index"),
        (["index", "{missing}", "-i", "{tmp}/new"], 1, "no articles"),
        (["index", "-i", "{tmp}/new2"], 1, "no PATH"),
        (["query", "nato", "--model", "{tmp}", "-i", "{ix}"], 1, "not a sentence-transformers"),
    ],
)
def test_user_mistakes_are_one_line_errors(cli_index, tmp_path, args, code, message):
    fill = {"ix": cli_index, "missing": tmp_path / "missing", "tmp": tmp_path}
    result = run(*[a.format(**{k: str(v) for k, v in fill.items()}) for a in args])
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("error:") and message in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_skipped_files_are_reported(tmp_path):
    write(tmp_path / "c" / "good.txt", "Headline\n\nA body paragraph long enough to index here.\n")
    write(tmp_path / "c" / "bad.txt", b"%PDF-1.7\x00\x01")
    result = run("index", tmp_path / "c", "-i", tmp_path / "ix", "-q")
    assert result.exit_code == 0
    assert "skipped bad.txt: binary data" in result.stderr
    assert "indexed 1 articles" in result.stdout


def test_console_script_in_a_new_process(cli_index):
    """What a user runs from a shell: the installed `newsearch` entry point."""
    exe = Path(sys.executable).with_name("newsearch")
    assert exe.exists(), "newsearch console script is not installed in this environment"
    env = {**os.environ, "NEWSEARCH_INDEX_DIR": str(cli_index)}
    proc = subprocess.run(
        [str(exe), "query", "security guarantees", "-k", "2", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "valdoria" in json.loads(proc.stdout)["hits"][0]["article_id"]
    assert "Traceback" not in proc.stderr
    bad = subprocess.run(
        [str(exe), "query", "  "], capture_output=True, text=True, env=env, timeout=300
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error:")


@pytest.fixture(scope="module")
def cli_seeds(tmp_path_factory) -> Path:
    from conftest import SEEDS, require_shared

    seeds = require_shared(SEEDS)
    index_dir = tmp_path_factory.mktemp("cli_seeds") / "ix"
    result = run("index", seeds, "--index-dir", index_dir, "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stories"] == 1
    return index_dir


def test_seed_story_is_one_hit_with_also_in(cli_seeds):
    result = run("query", "security guarantees", "-i", cli_seeds, "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 1
    assert {hits[0]["article_id"], hits[0]["also_in"][0]["article_id"]} == {
        "000_3a0db134eaffab2c.txt",
        "002_7b18e98d13cef019.txt",
    }
    text = run("query", "security guarantees", "-i", cli_seeds)
    assert text.exit_code == 0
    also = next(line for line in text.stdout.splitlines() if "also in:" in line)
    other = {"000_3a0db134eaffab2c.txt", "002_7b18e98d13cef019.txt"} - {hits[0]["article_id"]}
    assert other.pop() in also
    both = json.loads(
        run("query", "security guarantees", "-i", cli_seeds, "--no-collapse", "--json").stdout
    )
    assert len(both["hits"]) == 2 and both["collapse"] is False


def test_explain_shows_ranks_scores_and_story_link(cli_seeds):
    result = run("query", "security guarantees", "-i", cli_seeds, "--explain")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert re.search(
        r"explain ¶\d+: keyword #\d+ \(\d+\.\d+\) · vector #\d+ \(0\.\d+\) · fused \d\.\d+", out
    )
    assert "rewrite: paragraphs align at" in out


def test_filters_on_the_command_line(demo_index):
    cli_index = demo_index
    result = run("query", "security guarantees", "-i", cli_index, "--category", "sport", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["hits"]) == 4 and {h["category"] for h in data["hits"]} == {"sport"}
    assert data["filters"]["category"] == ["sport"]
    dated = run(
        "query", "vote", "-i", cli_index, "--since", "2026-07-01", "--until", "2026-12-31", "--json"
    )
    dates = [h["date"] for h in json.loads(dated.stdout)["hits"]]
    assert dates and all("2026-07-01" <= d <= "2026-12-31" for d in dates)
    bad = run("query", "vote", "-i", cli_index, "--until", "someday")
    assert bad.exit_code == 2 and bad.stderr.startswith("error:") and "until" in bad.stderr


def test_query_fusion_options(cli_index):
    args = ["query", "security guarantees", "-k", "3", "-i", cli_index, "--json"]
    keyword_only = run(*args, "--fusion", "convex", "--alpha", "0")
    bm25 = run(*args, "--mode", "bm25")
    assert keyword_only.exit_code == 0 and bm25.exit_code == 0, keyword_only.output
    ids = [h["article_id"] for h in json.loads(keyword_only.stdout)["hits"]]
    bm25_ids = [h["article_id"] for h in json.loads(bm25.stdout)["hits"]]
    # alpha=0 ranks by BM25 alone; dense-only hits (BM25 score floor) can only come after.
    assert bm25_ids and ids[: len(bm25_ids)] == bm25_ids
    rrf = json.loads(run(*args, "--fusion", "rrf", "--rrf-k", "0").stdout)
    assert rrf["hits"][0]["score"] > 0.5  # 1/(0 + 1) + ... : k=0 took effect, not 60
    for bad in (["--fusion", "max"], ["--alpha", "1.5"], ["--norm", "rank"]):
        result = run(*args, *bad)
        assert result.exit_code == 2 and "error:" in result.output, bad
        assert "Traceback" not in result.output


def test_index_with_shards_builds_a_cluster_that_query_searches_as_one_index(tmp_path):
    """--shards without --ray: the shard builds run in this process (no Ray needed)."""
    cluster = tmp_path / "cluster"
    r = run("index", DEMO, "--index-dir", cluster, "--shards", "2", "--json", "-q")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert len(report["shards"]) == 2 and report["articles"] == 32
    assert (cluster / "cluster.json").is_file()
    r = run("query", "harbour rail strike", "--index-dir", cluster, "--json")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)["hits"]
    assert hits and "harbour-rail-strike" in hits[0]["article_id"]
    r = run("index", "--index-dir", tmp_path / "other", "--shards", "2")
    assert r.exit_code != 0 and "needs the article PATHs" in r.output
