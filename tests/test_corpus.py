import json

from conftest import SEEDS, require_shared, write

from newsearch.indexer.corpus import parse_jsonl_record, read_articles
from newsearch.indexer.corpus.decode import decode_bytes
from newsearch.indexer.corpus.text import is_residue, parse_text_article, split_paragraphs

BLANK_SEPARATED = """Ceasefire talks resume in Geneva

Geneva:

Negotiators from both sides returned to the table on Monday after a week-long pause.

Listen to article

|

The mediator said progress had been made on prisoner exchanges and humanitarian corridors.

‘Promising’

Officials described the first session as constructive and said talks would continue.
"""


def test_blank_line_layout_drops_residue_and_attaches_dateline_and_subhead():
    art = parse_text_article(BLANK_SEPARATED, "world/a.txt")
    assert art.title == "Ceasefire talks resume in Geneva"
    texts = [p.text for p in art.paragraphs]
    assert len(texts) == 3
    assert not any("Listen" in t or t == "|" for t in texts)
    assert art.paragraphs[0].context == "Geneva:"
    assert art.paragraphs[0].text.startswith("Negotiators")
    assert art.paragraphs[2].context == "‘Promising’"
    assert art.paragraphs[2].full_text.startswith("‘Promising’ Officials")
    assert [p.position for p in art.paragraphs] == [0, 1, 2]


def test_one_paragraph_per_line_layout():
    text = "Headline here\nFirst paragraph has enough words to be a paragraph of its own.\n"
    text += "Read also: Something else entirely\nSecond paragraph also stands on its own line.\n"
    art = parse_text_article(text, "x.txt")
    assert [p.text[:6] for p in art.paragraphs] == ["First ", "Second"]


def test_hard_wrapped_block_is_joined():
    body = (
        "This paragraph was wrapped by an editor at around seventy\n"
        "characters per line, as old wire stories often are, and it\n"
        "should come back as a single paragraph.\n\nA second one."
    )
    paras = split_paragraphs(body)
    assert len(paras) == 2 and paras[1].text == "A second one."
    assert paras[0].text.startswith("This paragraph was wrapped")
    assert "as old wire stories often are, and it should come back" in paras[0].text


def test_residue_patterns():
    for line in [
        "Listen to article",
        "|",
        "Leave a CommentListen to article",
        "Read also: X y z",
        "(Except for the headline, this story has not been edited by NDTV staff and "
        "is published from a syndicated feed.)",
        "---",
        "Advertisement",
    ]:
        assert is_residue(line), line
    for line in ["Kyiv:", "Share prices fell sharply on Monday.", "Read the full statement here."]:
        assert not is_residue(line), line


def test_seed_articles_parse():
    seeds = require_shared(SEEDS)
    report = read_articles([seeds])
    assert len(report.articles) == 2 and not report.skipped
    by_id = {a.id: a for a in report.articles}
    first = by_id["000_3a0db134eaffab2c.txt"]
    assert "NATO" in first.title
    kyiv = [p for p in first.paragraphs if p.context == "Kyiv:"]
    assert len(kyiv) == 1 and kyiv[0].text.startswith("On Sunday")
    assert not any(p.text in ("Kyiv:", "‘Promising’", "‘God willed it’") for p in first.paragraphs)
    assert not any("syndicated feed" in p.text for p in first.paragraphs)
    second = by_id["002_7b18e98d13cef019.txt"]
    # Its first lines are page residue; the article has no headline line of its own.
    assert not second.title.startswith(("Leave", "Listen", "|"))
    assert second.title.startswith("On Sunday, just a day before") and second.derived_title
    assert not first.derived_title
    assert second.paragraphs[0].text.startswith("On Sunday, just a day before")
    assert not any(p.text.startswith("Read also") for p in second.paragraphs)


def test_encodings(tmp_path):
    write(
        tmp_path / "utf8.txt",
        "Café owners protest\n\nThe café owners marched to the city hall today.\n",
    )
    write(
        tmp_path / "cp1252.txt",
        "Price rise\n\nTickets now cost £5 more than last year for fans.\n".encode("cp1252"),
    )
    write(
        tmp_path / "utf16.txt",
        "Sixteen bits\n\nThis file was saved as UTF-16 with a byte order mark.\n".encode("utf-16"),
    )
    write(
        tmp_path / "crlf.txt",
        b"Windows lines\r\n\r\nThis file uses carriage returns and line feeds.\r\n",
    )
    write(tmp_path / "image.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    write(tmp_path / "nul.txt", b"looks like text\x00\x00\x00 but is not")
    write(tmp_path / "empty.txt", "")
    write(tmp_path / "README.md", "# not an article\n\nDocs beside a corpus are not indexed.\n")
    write(tmp_path / "notes.csv", "a,b\n1,2\n")
    report = read_articles([tmp_path])
    ids = {a.id: a for a in report.articles}
    assert set(ids) == {"utf8.txt", "cp1252.txt", "utf16.txt", "crlf.txt"}
    assert "£5" in ids["cp1252.txt"].paragraphs[0].text
    assert ids["utf16.txt"].title == "Sixteen bits"
    assert "\r" not in ids["crlf.txt"].paragraphs[0].text
    skipped = {s.path: s.reason for s in report.skipped}
    assert skipped["image.txt"].startswith("binary")
    assert skipped["nul.txt"].startswith("binary")
    assert skipped["empty.txt"] == "empty file"
    assert any("cp1252.txt" in w and "cp1252" in w for w in report.warnings)


def test_decode_bytes_fallbacks():
    assert decode_bytes("naïve".encode()) == ("naïve", None)
    text, note = decode_bytes(b"caf\xe9")
    assert text == "café" and "cp1252" in note
    assert decode_bytes(b"%PDF-1.7 ...")[0] is None


def test_headline_only_article_is_searchable_by_its_headline():
    art = parse_text_article("Just a headline\n\n", "h.txt")
    assert art.paragraphs[0].text == "Just a headline"


def test_jsonl_and_beir(tmp_path):
    lines = [
        json.dumps(
            {
                "id": "a1",
                "title": "Rates held",
                "text": "The bank held rates.\n\nMarkets rose.",
                "date": "2026-01-02",
                "source": "Ledger",
                "url": "https://example.org/a1",
            }
        ),
        "{not json",
        json.dumps({"id": "a1", "title": "Duplicate", "text": "Same id again."}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"id": "a2"}),
    ]
    write(tmp_path / "news.jsonl", "\n".join(lines) + "\n")
    write(
        tmp_path / "beir" / "corpus.jsonl",
        json.dumps(
            {
                "_id": "4983",
                "title": "Microstructural development",
                "text": "Alterations of the architecture.",
            }
        )
        + "\n",
    )
    report = read_articles([tmp_path])
    ids = {a.id: a for a in report.articles}
    assert set(ids) == {"a1", "4983"}
    a1 = ids["a1"]
    assert [p.text for p in a1.paragraphs] == ["The bank held rates.", "Markets rose."]
    assert (a1.date, a1.source, a1.url) == ("2026-01-02", "Ledger", "https://example.org/a1")
    reasons = sorted((s.line, s.reason.split(" ")[0]) for s in report.skipped)
    assert reasons == [(2, "malformed"), (3, "duplicate"), (4, "not"), (5, "no")]


def test_jsonl_record_without_id_gets_a_positional_id():
    art = parse_jsonl_record({"title": "T", "text": "Body text here."}, fallback_id="f.jsonl#3")
    assert art.id == "f.jsonl#3"


def test_category_from_folder_and_date_from_name(tmp_path):
    write(tmp_path / "sport" / "2026-05-16-cup-final.txt", "Cup final\n\nUnited won the cup.\n")
    art = read_articles([tmp_path]).articles[0]
    assert (art.id, art.category, art.date) == (
        "sport/2026-05-16-cup-final.txt",
        "sport",
        "2026-05-16",
    )


def test_missing_path_is_reported_not_raised(tmp_path):
    report = read_articles([tmp_path / "nope"])
    assert report.articles == [] and report.skipped[0].reason == "no such file or directory"


def test_article_shaped_records_share_the_metadata_fields():
    from dataclasses import fields

    from newsearch.indexer.corpus.records import META_FIELDS, Article
    from newsearch.indexer.docstore import StoredArticle
    from newsearch.search.results import ArticleHit, StoryCopy

    for record in (Article, StoredArticle, ArticleHit, StoryCopy):
        assert set(META_FIELDS) <= {f.name for f in fields(record)}, record
