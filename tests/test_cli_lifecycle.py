"""The lifecycle on the command line: incremental `index`, `--rebuild`, `status` staleness,
and the one-line errors for an index built by another format."""

from __future__ import annotations

import json
import shutil

from conftest import DEMO, write
from typer.testing import CliRunner

from newsearch.cli.main import app
from newsearch.indexer import IndexLayout

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_index_status_and_rebuild(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(DEMO / "sport", corpus / "sport")
    ix = tmp_path / "ix"
    first = run("index", corpus, "-i", ix, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["mode"] == "full"

    status = json.loads(run("status", "-i", ix, "--json").stdout)
    assert status["stale"]["files_added"] == [] and status["stale"]["articles_changed"] == 0
    assert "nothing: the index matches its sources" in run("status", "-i", ix).stdout

    write(corpus / "sport" / "late.txt", "Late result\n\nThe derby ended in a goalless draw.\n")
    victim = sorted((corpus / "sport").glob("2026-*.txt"))[0]
    victim.unlink()
    status = json.loads(run("status", "-i", ix, "--json").stdout)
    assert status["stale"]["files_added"] == ["sport/late.txt"]
    assert status["stale"]["files_deleted"] == [f"sport/{victim.name}"]
    human = run("status", "-i", ix).stdout
    assert "2 files" in human and "+ sport/late.txt" in human

    again = run("index", corpus, "-i", ix, "--json")  # no PATH: the sources from last time
    summary = json.loads(again.stdout)
    assert (summary["mode"], summary["added"], summary["deleted"]) == ("incremental", 1, 1)
    assert "up to date" in run("index", "-i", ix).stdout
    rebuilt = json.loads(run("index", "-i", ix, "--rebuild", "--json").stdout)
    assert rebuilt["mode"] == "full" and rebuilt["embedded"] == 0
    assert rebuilt["articles"] == summary["articles"] == 4
    hits = json.loads(run("query", "goalless draw", "--mode", "bm25", "-i", ix, "--json").stdout)
    assert hits["hits"][0]["article_id"] == "sport/late.txt"


def test_old_format_is_refused_with_one_line_that_says_rebuild(tmp_path):
    ix = tmp_path / "ix"
    assert run("index", DEMO / "sport", "-i", ix).exit_code == 0
    meta = IndexLayout(ix).current() / "meta.json"
    data = json.loads(meta.read_text())
    data["format_version"] = 0
    meta.write_text(json.dumps(data))
    for args in (("index", DEMO / "sport"), ("query", "marathon"), ("status",)):
        result = run(*args, "-i", ix)
        assert result.exit_code == 1
        assert "error:" in result.output and "--rebuild" in result.output
        assert "Traceback" not in result.output
    assert run("index", DEMO / "sport", "-i", ix, "--rebuild").exit_code == 0
    assert run("query", "marathon", "--mode", "bm25", "-i", ix).exit_code == 0


def test_changing_the_headline_setting_needs_rebuild(tmp_path):
    ix = tmp_path / "ix"
    assert run("index", DEMO / "sport", "-i", ix).exit_code == 0
    result = run("index", DEMO / "sport", "-i", ix, "--no-headline")
    assert result.exit_code == 1 and "--rebuild" in result.output
    assert run("index", DEMO / "sport", "-i", ix, "--no-headline", "--rebuild").exit_code == 0
