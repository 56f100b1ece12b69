"""Reuters-21578 SGML: many articles per file, entities, wire paragraphs, sign-offs."""

from __future__ import annotations

import pytest
from conftest import SHARED, require_shared, write

from newsearch.indexer.corpus import read_articles
from newsearch.indexer.corpus.sgml import split_wire_paragraphs

REUTERS = SHARED / "data" / "news-large" / "reuters21578"

SAMPLE = """<!DOCTYPE lewis SYSTEM "lewis.dtd">
<REUTERS TOPICS="YES" LEWISSPLIT="TRAIN" CGISPLIT="TRAINING-SET" OLDID="5544" NEWID="7">
<DATE>26-FEB-1987 15:01:01.79</DATE>
<TOPICS><D>cocoa</D><D>coffee</D></TOPICS>
<PLACES><D>el-salvador</D></PLACES>
<UNKNOWN> &#5;&#5;&#5;C T
&#22;&#22;&#1;f0704&#31;reute</UNKNOWN>
<TEXT>&#2;
<TITLE>STANDARD OIL &lt;SRD> TO FORM   FINANCIAL UNIT</TITLE>
<DATELINE>    SALVADOR, Feb 26 - </DATELINE><BODY>Showers continued throughout the week in
the Bahia cocoa zone, alleviating the drought since early
January, Smith &amp; Co said.
    The dry period means the temporao will be late this year.
    Reserves.......644 vs 1,337
    Borrowings.........680 vs 425
    Arrivals for the week ended February 22 were 155,221 bags
of 60 kilos, a total of 5.93 mln. REUTER
&#3;</BODY></TEXT>
</REUTERS>
<REUTERS TOPICS="NO" NEWID="8">
<DATE>27-MAR-1987 09:00:00.00</DATE>
<TOPICS></TOPICS>
<TEXT TYPE="BRIEF">&#2;
******<TITLE>ASSETS OF MONEY MARKET FUNDS ROSE 720.4 MLN DLRS
</TITLE>Blah blah blah.
&#3;

</TEXT>
</REUTERS>
<REUTERS TOPICS="NO" NEWID="9">
<DATE>not a date</DATE>
<TEXT TYPE="UNPROC">&#2;
FEDERAL RESERVE WEEKLY REPORT 1 - FEB 26
    The Federal Reserve said bank reserves rose in the two weeks
ended February 25, its weekly report showed.
 Reuter
&#3;</TEXT>
</REUTERS>
<REUTERS NEWID="10"><TEXT>&#2;&#3;</TEXT></REUTERS>
<REUTERS NEWID="11"><TEXT><BODY>Only a body here, with enough words to stand.
 Reuter
&#3;</BODY></TEXT></REUTERS>
"""


@pytest.fixture()
def sample(tmp_path):
    write(tmp_path / "wire" / "reut2-000.sgm", SAMPLE)
    return read_articles([tmp_path / "wire"])


def test_article_fields_and_entities(sample):
    a = {x.id: x for x in sample.articles}["reut2-000.sgm#7"]
    assert a.title == "STANDARD OIL <SRD> TO FORM FINANCIAL UNIT"
    assert a.date == "1987-02-26" and a.category == "cocoa" and a.source == "Reuters"
    assert a.line == 2 and a.source_path.endswith("reut2-000.sgm")
    texts = [p.text for p in a.paragraphs]
    assert texts[0].startswith("Showers continued") and "Smith & Co said." in texts[0]
    assert a.paragraphs[0].context == "SALVADOR, Feb 26"
    assert all(p.context == "" for p in a.paragraphs[1:])
    # the table rows are too short to stand alone: they join the paragraph before them
    assert texts[1] == (
        "The dry period means the temporao will be late this year. "
        "Reserves.......644 vs 1,337 Borrowings.........680 vs 425"
    )
    # sign-off on the same line as the text is dropped, and no control characters remain
    assert texts[-1] == "Arrivals for the week ended February 22 were 155,221 bags " + (
        "of 60 kilos, a total of 5.93 mln."
    )
    assert not any(ch < " " for t in texts for ch in t)
    assert [p.position for p in a.paragraphs] == list(range(len(texts)))


def test_brief_unproc_and_empty_documents(sample):
    by_id = {x.id: x for x in sample.articles}
    brief = by_id["reut2-000.sgm#8"]
    assert brief.title == "ASSETS OF MONEY MARKET FUNDS ROSE 720.4 MLN DLRS"
    assert [p.text for p in brief.paragraphs] == [brief.title]  # "Blah blah blah." dropped
    assert brief.category == "" and brief.date == "1987-03-27"
    unproc = by_id["reut2-000.sgm#9"]
    assert unproc.title == "FEDERAL RESERVE WEEKLY REPORT 1 - FEB 26" and unproc.date == ""
    assert [p.text for p in unproc.paragraphs] == [
        "The Federal Reserve said bank reserves rose in the two weeks ended February 25, "
        "its weekly report showed."
    ]
    assert "reut2-000.sgm#10" not in by_id
    untitled = by_id["reut2-000.sgm#11"]
    assert untitled.derived_title and not brief.derived_title and not unproc.derived_title
    assert [p.text for p in untitled.paragraphs] == [
        "Only a body here, with enough words to stand."
    ]
    assert [(s.path, s.line) for s in sample.skipped] == [("reut2-000.sgm", 39)]


def test_file_without_documents_is_reported(tmp_path):
    write(tmp_path / "x.sgm", "<!DOCTYPE lewis>\nnothing here\n")
    report = read_articles([tmp_path])
    assert not report.articles and "no <REUTERS> documents" in report.skipped[0].reason


@pytest.mark.parametrize(
    ("body", "want"),
    [
        ("One two three four five six.\n Reuter\n", ["One two three four five six."]),
        (
            "Short.\n    Then a longer paragraph follows here.",
            ["Short. Then a longer paragraph follows here."],
        ),
        (
            "A first paragraph of some words.\n    Table 1.5\n",
            ["A first paragraph of some words. Table 1.5"],
        ),
        ("", []),
        ("Blah blah blah.", []),
    ],
)
def test_split_wire_paragraphs(body, want):
    assert split_wire_paragraphs(body) == want


@pytest.mark.shared
def test_real_reuters_file():
    path = require_shared(REUTERS / "reut2-000.sgm")
    report = read_articles([path])
    assert len(report.articles) == 1000 and not report.skipped
    first = report.articles[0]
    assert first.id == "reut2-000.sgm#1" and first.title == "BAHIA COCOA REVIEW"
    assert first.date == "1987-02-26" and first.category == "cocoa"
    assert first.paragraphs[0].context == "SALVADOR, Feb 26"
    paragraphs = [p.text for a in report.articles for p in a.paragraphs]
    assert 4000 < len(paragraphs) < 6000
    assert not [t for t in paragraphs if t.lower().endswith(("reuter", "reuter..."))]
    assert not [t for t in paragraphs if "&lt;" in t or "&#" in t]
    assert sum("<" in t for t in paragraphs) > 50  # &lt;SRD> style tickers decoded
