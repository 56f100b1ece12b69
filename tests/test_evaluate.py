"""The evaluation plumbing on a tiny hand-made BEIR dataset whose answers are known."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import write
from typer.testing import CliRunner

from newsearch.cli.main import app
from newsearch.search import Searcher
from newsearch.search.evaluate import (
    DatasetError,
    ensure_index,
    evaluate,
    load_beir,
    ranking_to_run,
    score_run,
)

DOCS = {
    "d1": ("Volcano erupts", "Lava from the volcano reached the coastal village overnight."),
    "d2": ("Chess final", "The grandmaster won the chess championship with a queen sacrifice."),
    "d3": (
        "Bread prices",
        "Bakeries raised the price of sourdough bread after a poor wheat harvest.",
    ),
    "d4": ("Comet sighting", "Astronomers photographed a bright comet with a green tail."),
    "d5": ("Marathon record", "The runner broke the marathon world record in cold rain."),
    "d6": ("Lava tubes", "Geologists mapped lava tubes left by an old volcano eruption."),
}
QUERIES = {
    "q1": "volcano lava eruption",
    "q2": "chess grandmaster championship",
    "q3": "marathon world record",
    "q9": "a query judged only in train",
}
TEST_QRELS = [("q1", "d1", 1), ("q1", "d6", 1), ("q1", "d3", 0), ("q2", "d2", 1), ("q3", "d5", 2)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("beir") / "tiny"
    write(
        root / "corpus.jsonl",
        "\n".join(json.dumps({"_id": d, "title": t, "text": x}) for d, (t, x) in DOCS.items()),
    )
    write(
        root / "queries.jsonl",
        "\n".join(json.dumps({"_id": q, "text": t, "metadata": {}}) for q, t in QUERIES.items()),
    )
    rows = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in TEST_QRELS]
    write(root / "qrels" / "test.tsv", "\n".join(rows) + "\n")
    write(root / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore\nq9\td4\t1\n")
    return root


def test_load_beir_keeps_only_the_judged_queries_of_the_split(dataset):
    data = load_beir(dataset, "test")
    assert set(data.queries) == {"q1", "q2", "q3"}
    assert data.qrels["q1"] == {"d1": 1, "d6": 1, "d3": 0} and data.qrels["q3"] == {"d5": 2}
    assert set(load_beir(dataset, "train").queries) == {"q9"}


def test_load_beir_explains_what_is_wrong(dataset, tmp_path):
    with pytest.raises(DatasetError, match="splits: test, train"):
        load_beir(dataset, "dev")
    with pytest.raises(DatasetError, match=r"corpus\.jsonl is missing"):
        load_beir(tmp_path, "test")


def test_a_perfect_run_scores_one_and_a_reversed_run_scores_lower(dataset):
    qrels = load_beir(dataset).qrels
    perfect = {
        "q1": ranking_to_run(["d1", "d6", "d2", "d3", "d4", "d5"]),
        "q2": ranking_to_run(["d2", "d1", "d3"]),
        "q3": ranking_to_run(["d5", "d4"]),
    }
    assert score_run(qrels, perfect) == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    reversed_run = {q: ranking_to_run(list(docs)[::-1]) for q, docs in perfect.items()}
    worse = score_run(qrels, reversed_run)
    assert worse["ndcg@10"] < 1.0 and worse["mrr@10"] < 1.0
    assert worse["recall@100"] == 1.0  # the same documents, only in the wrong order
    # q3 alone, its relevant document second: RR = 1/2, nDCG = 1/log2(3).
    one = score_run({"q3": qrels["q3"]}, {"q3": ranking_to_run(["d4", "d5"])})
    assert one["mrr@10"] == pytest.approx(0.5)
    assert one["ndcg@10"] == pytest.approx(1 / math.log2(3))


def test_unanswered_queries_count_as_zero(dataset):
    qrels = load_beir(dataset).qrels
    only_q2 = {"q2": ranking_to_run(["d2"]), "q3": {}}
    assert score_run(qrels, only_q2) == pytest.approx(
        {"ndcg@10": 1 / 3, "recall@100": 1 / 3, "mrr@10": 1 / 3}
    )


def test_ranking_to_run_keeps_our_order_against_trec_eval_tie_breaking():
    # trec_eval breaks score ties by document id; our order must survive it.
    run = ranking_to_run(["b", "a", "b", "c"])
    assert sorted(run, key=lambda d: -run[d]) == ["b", "a", "c"]


def test_evaluate_through_the_real_indexes(dataset, tmp_path, embedder):
    data = load_beir(dataset, "test")
    index_dir = tmp_path / "ix"
    assert ensure_index(data, index_dir) is True
    assert ensure_index(data, index_dir) is False  # reused, not rebuilt
    with Searcher(index_dir, embedder=embedder) as searcher:
        report = evaluate(searcher, data)
    rows = {r.mode: r for r in report.results}
    assert list(rows) == ["hybrid", "bm25", "dense"] and report.queries == 3
    # Every query names its documents' words: BM25 puts the relevant ones on top.
    assert rows["bm25"].metrics == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    for row in rows.values():
        assert row.queries == 3 and row.metrics["recall@100"] == 1.0
        assert row.metrics["mrr@10"] == 1.0, row
    assert rows["hybrid"].fusion is not None and rows["bm25"].fusion is None


def test_ensure_index_never_replaces_another_corpus(dataset, tmp_path):
    other = write(tmp_path / "other" / "a.txt", "Headline\n\nSome paragraph about nothing.\n")
    from newsearch.indexer import build_index

    build_index([other.parent], tmp_path / "ix")
    with pytest.raises(DatasetError, match="--rebuild"):
        ensure_index(load_beir(dataset), tmp_path / "ix")


def test_cli_eval_json_and_table(dataset, tmp_path):
    runner = CliRunner()
    index_dir = tmp_path / "cli-ix"
    args = ["eval", str(dataset), "--split", "test", "-i", str(index_dir)]
    result = runner.invoke(app, [*args, "--json", "--mode", "bm25", "--mode", "hybrid"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["split"] == "test" and data["queries"] == 3
    assert [r["mode"] for r in data["results"]] == ["bm25", "hybrid"]
    assert data["results"][0]["metrics"]["ndcg@10"] == 1.0
    table = runner.invoke(app, [*args, "--fusion", "convex", "--alpha", "0.3", "-q"])
    assert table.exit_code == 0, table.output
    for word in ("nDCG@10", "R@100", "MRR@10", "bm25", "dense", "hybrid", "'convex'"):
        assert word in table.stdout
    bad = runner.invoke(app, [*args, "--split", "dev"])
    assert bad.exit_code == 1 and "error:" in bad.output and "Traceback" not in bad.output
    bad_alpha = runner.invoke(app, [*args, "--fusion", "convex", "--alpha", "2"])
    assert bad_alpha.exit_code == 2 and "alpha" in bad_alpha.output


# -- judged queries over a folder corpus (qrels name article ids: paths relative to it) ----

MARATHON = "Marathon record\n\nThe runner broke the marathon world record in cold rain.\n"
NEWS = {
    "sport/001.txt": MARATHON,
    "sport/002.txt": MARATHON,  # an exact copy: the indexer files both under one story
    "tech/001.txt": "Comet sighting\n\nAstronomers photographed a bright comet, green tail.\n",
    "business/001.txt": "Bread prices\n\nBakeries raised the price of sourdough bread.\n",
}


@pytest.fixture(scope="module")
def news(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("news")
    corpus, dataset = root / "articles", root / "judged"
    for rel, text in NEWS.items():
        write(corpus / rel, text)
    queries = {"n1": "marathon world record", "n2": "comet green tail"}
    write(
        dataset / "queries.jsonl",
        "\n".join(json.dumps({"_id": q, "text": t, "type": "keyword"}) for q, t in queries.items()),
    )
    rows = "n1\tsport/001.txt\t2\nn1\tsport/002.txt\t2\nn1\ttech/001.txt\t0\nn2\ttech/001.txt\t2\n"
    write(dataset / "qrels" / "dev.tsv", "query-id\tcorpus-id\tscore\n" + rows)
    write(dataset / "qrels" / "wrong.tsv", "query-id\tcorpus-id\tscore\nn2\t001.txt\t2\n")
    return corpus, dataset


def test_a_folder_corpus_is_scored_by_relative_article_ids(news, tmp_path, embedder):
    corpus, dataset = news
    data = load_beir(dataset, "dev", corpus=corpus)
    assert data.corpus == corpus and set(data.queries) == {"n1", "n2"}
    with pytest.raises(DatasetError, match=r"corpus\.jsonl is missing"):
        load_beir(dataset, "dev")  # without --corpus it is a BEIR dataset, and it is not one
    assert ensure_index(data, tmp_path / "ix") is True
    assert ensure_index(data, tmp_path / "ix") is False  # the index of that folder is reused
    with Searcher(tmp_path / "ix", embedder=embedder) as searcher:
        report = evaluate(searcher, data, ["bm25", "hybrid"])
        # Copies of one story are judged each: the run ranks articles, not collapsed stories
        # (a story page would show one of the two and cap n1's recall at 1/2).
        page = searcher.search("marathon world record", k=10, collapse=True).hits
        assert len({h.article_id for h in page} & {"sport/001.txt", "sport/002.txt"}) == 1
    assert report.missing_docs == 0
    for row in report.results:
        assert row.metrics == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}, row


def test_qrels_that_name_no_indexed_article_are_refused(news, tmp_path):
    corpus, dataset = news
    runner = CliRunner()
    args = ["eval", str(dataset), "--corpus", str(corpus), "-i", str(tmp_path / "ix"), "-q"]
    result = runner.invoke(app, [*args, "--split", "dev", "--mode", "bm25", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["missing_docs"] == 0 and data["results"][0]["metrics"]["recall@100"] == 1.0
    wrong = runner.invoke(app, [*args, "--split", "wrong", "--mode", "bm25"])
    assert wrong.exit_code == 1 and "article ids" in wrong.output, wrong.output
    assert "Traceback" not in wrong.output
    nowhere = str(tmp_path / "nowhere")
    missing = runner.invoke(app, [*args[:2], "--corpus", nowhere, "--split", "dev"])
    assert missing.exit_code == 1 and "does not exist" in missing.output
