"""Build and update reports: their JSON form is what `newsearch index --json` prints."""

from newsearch.indexer.corpus import Skipped
from newsearch.indexer.reports import UpdateReport, skip_reasons


def test_skip_reasons_count_by_kind_most_first():
    skipped = [
        Skipped("a.jsonl", "malformed JSON (Expecting value)", 3),
        Skipped("b.txt", "binary data"),
        Skipped("a.jsonl", "malformed JSON (Extra data)", 9),
        Skipped("c.txt", "empty file"),
    ]
    assert skip_reasons(skipped) == {"malformed JSON": 2, "binary data": 1, "empty file": 1}


def test_update_report_to_dict_names_every_count():
    report = UpdateReport(
        mode="incremental",
        generation="g1",
        articles=3,
        paragraphs=9,
        vectors=10,
        embedded=2,
        reused=1,
        added=1,
        skipped=[Skipped("x.txt", "empty file")],
        seconds=1.234,
    )
    data = report.to_dict("ix")
    assert data["index_dir"] == "ix" and data["mode"] == "incremental"
    assert (data["embedded"], data["reused_embeddings"], data["added"]) == (2, 1, 1)
    assert data["skipped"] == ["x.txt: empty file"]
    assert data["skipped_reasons"] == {"empty file": 1}
    assert data["seconds"] == 1.23 and data["stories"] is None
