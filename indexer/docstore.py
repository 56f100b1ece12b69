"""The docstore: articles and paragraphs by id, in SQLite from the standard library.

The keyword and vector indexes store only ids; everything a result shows (headline, text,
dateline, metadata) is read from here for the few hits of a query. A published generation's
docstore is never written again, so readers open it immutable: no locks, any number of threads
(one connection per thread, as sqlite3 requires).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .corpus import Article
from .errors import DamagedStoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source_path TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL DEFAULT '',
    paragraphs INTEGER NOT NULL DEFAULT 0,
    story_id TEXT NOT NULL DEFAULT '',
    story_note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS paragraphs (
    pid INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES articles(id),
    position INTEGER NOT NULL,
    context TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    UNIQUE (article_id, position)
);
-- A result page looks up the members of the stories it shows; without this, a full scan of
-- the articles per query (12 ms on Reuters-21578). Older docstores get it on their next update.
CREATE INDEX IF NOT EXISTS articles_story ON articles (story_id);
"""


@dataclass(frozen=True)
class StoredParagraph:
    pid: int
    article_id: str
    position: int
    context: str
    text: str


@dataclass(frozen=True)
class StoredArticle:
    id: str
    title: str
    source_path: str
    date: str
    source: str
    url: str
    category: str
    paragraphs: int
    #: Articles telling the same news story share this id (see ``indexer/stories.py``).
    story_id: str = ""
    #: Why the article joined its story ('' when alone or the story's first article).
    story_note: str = ""


class DocstoreWriter:
    """Writes a new docstore file inside a generation that is not yet published."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path))
        self._conn.executescript(SCHEMA)

    def add_article(self, article: Article, first_pid: int | None = None) -> list[int]:
        """Store an article and its paragraphs; returns the new paragraph ids in order.

        ``first_pid``: number the paragraphs from it (a shard of a cluster keeps the ids the
        whole corpus would give them in one index) instead of the next free id."""
        c = self._conn
        c.execute(
            "INSERT INTO articles (id, title, source_path, date, source, url, category, "
            "paragraphs, story_id) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                article.id,
                article.title,
                article.source_path,
                article.date,
                article.source,
                article.url,
                article.category,
                len(article.paragraphs),
                article.id,
            ),
        )
        pids = []
        for i, p in enumerate(article.paragraphs):
            if first_pid is None:
                cur = c.execute(
                    "INSERT INTO paragraphs (article_id, position, context, text) VALUES (?,?,?,?)",
                    (article.id, p.position, p.context, p.text),
                )
            else:
                cur = c.execute(
                    "INSERT INTO paragraphs (pid, article_id, position, context, text) "
                    "VALUES (?,?,?,?,?)",
                    (first_pid + i, article.id, p.position, p.context, p.text),
                )
            pids.append(int(cur.lastrowid))
        return pids

    def delete_article(self, article_id: str) -> list[int]:
        """Remove an article and its paragraphs (incremental updates); returns their ids.

        Paragraph ids are AUTOINCREMENT, so ids of deleted paragraphs are never handed out
        again and a stale id can never name a different paragraph.
        """
        c = self._conn
        pids = [
            r[0]
            for r in c.execute("SELECT pid FROM paragraphs WHERE article_id = ?", (article_id,))
        ]
        c.execute("DELETE FROM paragraphs WHERE article_id = ?", (article_id,))
        c.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        return pids

    def set_stories(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """(article id, story id, note) for articles already added."""
        self._conn.executemany(
            "UPDATE articles SET story_id = ?, story_note = ? WHERE id = ?",
            ((story, note, aid) for aid, story, note in rows),
        )

    def close(self) -> None:
        self._conn.commit()
        self._conn.close()


#: Rows a reader keeps after reading them (a published docstore never changes, so a kept row
#: is never stale). A result page reads ~500 paragraph and ~300 article rows, most of them
#: again for the next query on the same news; up to these counts (~30 MB of paragraphs, ~10 MB
#: of articles), a row is read from SQLite once per opened generation.
CACHE_PARAGRAPHS = 50_000
CACHE_ARTICLES = 50_000


class Docstore:
    """Read side of a published docstore."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise DamagedStoreError(f"docstore {path} is missing")
        self._uri = f"file:{path}?mode=ro&immutable=1"
        self._local = threading.local()
        # Filled by any thread; a dict get/set is atomic under the GIL, and two threads that
        # read the same row store equal values.
        self._paragraph_cache: dict[int, StoredParagraph] = {}
        self._article_cache: dict[str, StoredArticle] = {}
        try:
            self.count_paragraphs()
            columns = {r[1] for r in self._conn().execute("PRAGMA table_info(articles)")}
        except sqlite3.DatabaseError as exc:
            raise DamagedStoreError(f"docstore {path} is damaged ({exc})") from exc
        # Indexes built before story clustering: every article is its own story.
        self._story_cols = (
            "story_id, story_note" if "story_id" in columns else "id AS story_id, '' AS story_note"
        )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._uri, uri=True, check_same_thread=True)
            self._local.conn = conn
        return conn

    def count_paragraphs(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM paragraphs").fetchone()[0])

    def count_articles(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM articles").fetchone()[0])

    def paragraph_ids(self) -> list[int]:
        return [r[0] for r in self._conn().execute("SELECT pid FROM paragraphs ORDER BY pid")]

    def paragraph_article_ids(self) -> dict[int, str]:
        """Every paragraph's article id, in one scan: facet counts map thousands of matching
        paragraphs to articles per query, which ``paragraphs()`` (text and all) made slow."""
        return dict(self._conn().execute("SELECT pid, article_id FROM paragraphs"))

    def all_articles(self) -> dict[str, StoredArticle]:
        """Every article row (facet counts read them once per generation)."""
        rows = self._conn().execute(
            "SELECT id, title, source_path, date, source, url, category, paragraphs, "
            f"{self._story_cols} FROM articles"
        )
        return {row[0]: StoredArticle(*row) for row in rows}

    def paragraphs(self, pids: Iterable[int]) -> dict[int, StoredParagraph]:
        return self._cached_rows(
            self._paragraph_cache,
            CACHE_PARAGRAPHS,
            pids,
            "SELECT pid, article_id, position, context, text FROM paragraphs WHERE pid IN ({})",
            StoredParagraph,
        )

    def article_paragraphs(self, article_id: str) -> list[StoredParagraph]:
        """An article's paragraphs in reading order (empty for an unknown id)."""
        rows = self._conn().execute(
            "SELECT pid, article_id, position, context, text FROM paragraphs "
            "WHERE article_id = ? ORDER BY position",
            (article_id,),
        )
        return [StoredParagraph(*row) for row in rows]

    def articles(self, ids: Iterable[str]) -> dict[str, StoredArticle]:
        return self._cached_rows(
            self._article_cache,
            CACHE_ARTICLES,
            ids,
            "SELECT id, title, source_path, date, source, url, category, paragraphs, "
            f"{self._story_cols} FROM articles WHERE id IN ({{}})",
            StoredArticle,
        )

    def _cached_rows(
        self, cache: dict, most: int, keys: Iterable, sql: str, make: Callable
    ) -> dict:
        """Rows by key (the first column), from ``cache`` where read before, the rest from
        SQLite in chunks (``sql`` has one ``{}`` for the placeholders); rows read are kept
        while the cache holds fewer than ``most`` (a published docstore never changes)."""
        out: dict = {}
        missing = []
        for key in keys:
            hit = cache.get(key)
            if hit is None:
                missing.append(key)
            else:
                out[key] = hit
        keep = len(cache) < most
        for chunk in _chunks(missing, 500):
            for row in self._conn().execute(sql.format(",".join("?" * len(chunk))), chunk):
                value = out[row[0]] = make(*row)
                if keep:
                    cache[row[0]] = value
        return out

    def story_members(
        self, story_ids: Iterable[str], limit: int | None = None
    ) -> dict[str, list[StoredArticle]]:
        """The articles of each given story, ordered by date (undated last), then id: all of
        them, or the first ``limit`` of each."""
        keys = list(set(story_ids))
        out: dict[str, list[StoredArticle]] = {s: [] for s in keys}
        if not keys or self._story_cols.startswith("id AS"):
            ids = self.articles(keys)
            return {s: [ids[s]] if s in ids else [] for s in keys}
        columns = "id, title, source_path, date, source, url, category, paragraphs, story_id"
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            if limit is None:
                sql = (
                    f"SELECT {columns}, story_note FROM articles WHERE story_id IN ({marks}) "
                    "ORDER BY date = '', date, id"
                )
                args: list = list(chunk)
            else:
                sql = (
                    f"SELECT {columns}, story_note FROM (SELECT *, row_number() OVER "
                    "(PARTITION BY story_id ORDER BY date = '', date, id) AS n FROM articles "
                    f"WHERE story_id IN ({marks})) WHERE n <= ? ORDER BY date = '', date, id"
                )
                args = [*chunk, limit]
            for row in self._conn().execute(sql, args):
                out[row[8]].append(StoredArticle(*row))
        return out

    def story_sizes(self, story_ids: Iterable[str]) -> dict[str, int]:
        """How many articles each given story has (0 for an unknown id)."""
        keys = list(set(story_ids))
        out = dict.fromkeys(keys, 0)
        if self._story_cols.startswith("id AS"):  # no stories recorded: each article alone
            return {s: int(s in found) for found in [self.articles(keys)] for s in keys}
        for chunk in _chunks(keys, 500):
            marks = ",".join("?" * len(chunk))
            rows = self._conn().execute(
                f"SELECT story_id, count(*) FROM articles WHERE story_id IN ({marks}) "
                "GROUP BY story_id",
                chunk,
            )
            out.update(dict(rows))
        return out


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
