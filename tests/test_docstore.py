"""The docstore's story columns, and docstores written before they existed."""

from __future__ import annotations

import sqlite3

from newsearch.indexer import Article, Paragraph
from newsearch.indexer.docstore import Docstore, DocstoreWriter

OLD_SCHEMA = """
CREATE TABLE articles (id TEXT PRIMARY KEY, title TEXT NOT NULL, source_path TEXT NOT NULL
    DEFAULT '', date TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '', url TEXT NOT
    NULL DEFAULT '', category TEXT NOT NULL DEFAULT '', paragraphs INTEGER NOT NULL DEFAULT 0);
CREATE TABLE paragraphs (pid INTEGER PRIMARY KEY AUTOINCREMENT, article_id TEXT NOT NULL,
    position INTEGER NOT NULL, context TEXT NOT NULL DEFAULT '', text TEXT NOT NULL);
INSERT INTO articles VALUES ('a.txt', 'A', '', '2026-01-02', '', '', 'x', 1);
INSERT INTO paragraphs (article_id, position, text) VALUES ('a.txt', 0, 'Body.');
"""


def article(aid: str, date: str) -> Article:
    return Article(id=aid, title=aid.upper(), paragraphs=[Paragraph(0, "Body.")], date=date)


def test_story_members_are_ordered_by_date_with_undated_last(tmp_path):
    path = tmp_path / "docstore.sqlite"
    writer = DocstoreWriter(path)
    for aid, date in (("b", "2026-02-01"), ("a", ""), ("c", "2026-01-01"), ("d", "2026-03-01")):
        writer.add_article(article(aid, date))
    writer.set_stories([("a", "a", "n1"), ("b", "a", "n2"), ("c", "a", "n3")])
    writer.close()
    store = Docstore(path)
    members = store.story_members(["a", "d"])
    assert [m.id for m in members["a"]] == ["c", "b", "a"]
    assert [m.story_note for m in members["a"]] == ["n3", "n2", "n1"]
    assert [m.id for m in members["d"]] == ["d"]  # its own story by default
    assert store.articles(["b"])["b"].story_id == "a"


def test_story_members_limit_and_sizes(tmp_path):
    path = tmp_path / "docstore.sqlite"
    writer = DocstoreWriter(path)
    dates = {"a": "2026-01-05", "b": "2026-01-02", "c": "", "d": "2026-01-03", "e": "2026-01-01"}
    for aid, date in dates.items():
        writer.add_article(article(aid, date))
    writer.set_stories([(x, "s", "") for x in "abcd"])
    writer.close()
    store = Docstore(path)
    assert [m.id for m in store.story_members(["s", "e"], limit=2)["s"]] == ["b", "d"]
    assert [m.id for m in store.story_members(["s"], limit=10)["s"]] == ["b", "d", "a", "c"]
    assert store.story_members(["s"], limit=10) == store.story_members(["s"])
    assert store.story_sizes(["s", "e", "nope"]) == {"s": 4, "e": 1, "nope": 0}


def test_docstore_without_story_columns_reads_each_article_as_its_own_story(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.close()
    store = Docstore(path)
    a = store.articles(["a.txt"])["a.txt"]
    assert (a.story_id, a.story_note, a.category) == ("a.txt", "", "x")
    assert [m.id for m in store.story_members(["a.txt"])["a.txt"]] == ["a.txt"]
    assert [m.id for m in store.story_members(["a.txt"], limit=1)["a.txt"]] == ["a.txt"]
    assert store.story_sizes(["a.txt", "zz"]) == {"a.txt": 1, "zz": 0}
