"""What story assignment needs, kept in the docstore, and stories kept right by updates.

A full build records, beside each article's story id, its word set, MinHash signature and
the key of its word set (``story_words``), and the links between articles (``story_links``:
copies and rewrites that passed every test, between the representatives of identical word
sets). An incremental update then assigns stories as a full build of the same articles would
(``stories.py`` explains why that is possible: every link depends on its two articles alone,
and the clustering of a connected component of the links on that component alone):

1. the links of deleted and changed articles go, and so do those of an article that stops
   representing its identical word set (a copy with a smaller id arrived, say);
2. every article that starts representing a word set (a new one, or the next smallest id of a
   set whose representative went) is compared with the other representatives: the same LSH
   buckets, the same word, fact and paragraph tests as a full build;
3. the components of the link graph that hold a touched article are clustered again, and
   their articles' story ids and notes rewritten. A story whose representative is deleted
   gets a new one; the rest of the corpus is not looked at.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .corpus import Article, Paragraph
from .stories import (
    Encode,
    PairScore,
    StoryAssignment,
    StoryConfig,
    agreement,
    assign_stories,
    candidates_of,
    jaccard,
    score_candidates,
    signatures,
    stories_from_links,
    word_shingles,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS story_words (
    id TEXT PRIMARY KEY,
    words_key TEXT NOT NULL,
    words TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS story_words_key ON story_words (words_key);
CREATE TABLE IF NOT EXISTS story_links (
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    jaccard REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE INDEX IF NOT EXISTS story_links_b ON story_links (b);
"""


@dataclass
class StoryUpdate:
    """What an update did to the stories."""

    #: False when the docstore holds no story state (built by an older version): the new
    #: articles are then stories of their own until the next full build.
    done: bool
    #: Story clusters in the index after the update.
    stories: int = 0
    #: Articles whose story id or note was computed again.
    reassigned: int = 0


def words_key(words: set[str]) -> str:
    """Equal for equal word sets; '' for an article without words (never grouped)."""
    if not words:
        return ""
    return hashlib.sha1("\n".join(sorted(words)).encode("utf-8")).hexdigest()


def write_stories(
    docstore_path: Path,
    articles: Sequence[Article],
    encode: Encode | None,
    config: StoryConfig | None = None,
) -> StoryAssignment:
    """Cluster ``articles`` (a full build); record each one's story id and note, and the
    state an update needs, in the docstore."""
    result = assign_stories(articles, encode, config)
    shingles, sigs, reps = result.shingles or [], result.signatures, result.reps or []
    conn = sqlite3.connect(str(docstore_path))
    try:
        conn.executescript(SCHEMA)
        conn.executemany(
            "UPDATE articles SET story_id = ?, story_note = ? WHERE id = ?",
            (
                (s, n, a.id)
                for a, s, n in zip(articles, result.story_ids, result.notes, strict=True)
            ),
        )
        conn.executemany(
            "INSERT INTO story_words (id, words_key, words, signature) VALUES (?,?,?,?)",
            (
                (a.id, words_key(w), " ".join(sorted(w)), sig.tobytes())
                for a, w, sig in zip(articles, shingles, sigs, strict=True)
            ),
        )
        conn.executemany(
            "INSERT OR REPLACE INTO story_links (a, b, jaccard, reason) VALUES (?,?,?,?)",
            (
                (*sorted((articles[p.a].id, articles[p.b].id)), p.jaccard, p.reason)
                for p in result.pairs
                if p.same_story and reps[p.a] == p.a and reps[p.b] == p.b
            ),
        )
        conn.commit()
    finally:
        conn.close()
    return result


def has_state(conn: sqlite3.Connection) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'story_words'"
        ).fetchone()
    )


def update_stories(
    docstore_path: Path,
    removed: Iterable[str],
    added: Sequence[Article],
    encode: Encode | None,
    config: StoryConfig | None = None,
) -> StoryUpdate:
    """Assign stories after ``removed`` (deleted or changed article ids) left the docstore and
    ``added`` (new or changed articles, already written to it) arrived."""
    config = config or StoryConfig()
    conn = sqlite3.connect(str(docstore_path))
    try:
        if not has_state(conn):
            return StoryUpdate(done=False, stories=_count(conn))
        update = _Update(conn, config, encode)
        update.run(sorted(set(removed) | {a.id for a in added}), added)
        conn.commit()
        return StoryUpdate(done=True, stories=_count(conn), reassigned=update.reassigned)
    finally:
        conn.close()


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(DISTINCT story_id) FROM articles").fetchone()[0])


class _Update:
    def __init__(self, conn: sqlite3.Connection, config: StoryConfig, encode: Encode | None):
        self.conn = conn
        self.config = config
        self.encode = encode
        self.given: dict[str, Article] = {}
        self.reassigned = 0

    # -- reading --------------------------------------------------------------------------

    def _keys(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT id, words_key FROM story_words"))

    def _members(self, key: str) -> list[str]:
        rows = self.conn.execute("SELECT id FROM story_words WHERE words_key = ?", (key,))
        return sorted(r[0] for r in rows)

    def _neighbours(self, aid: str) -> set[str]:
        rows = self.conn.execute(
            "SELECT b FROM story_links WHERE a = ? UNION SELECT a FROM story_links WHERE b = ?",
            (aid, aid),
        )
        return {r[0] for r in rows}

    def _articles(self, ids: Iterable[str]) -> dict[str, Article]:
        """The articles as the build read them (title, paragraphs with their context): the
        ones given, the others rebuilt from the docstore."""
        out = {i: self.given[i] for i in ids if i in self.given}
        missing = [i for i in ids if i not in out]
        for i in missing:
            row = self.conn.execute("SELECT title FROM articles WHERE id = ?", (i,)).fetchone()
            paras = self.conn.execute(
                "SELECT position, text, context FROM paragraphs WHERE article_id = ? "
                "ORDER BY position",
                (i,),
            )
            out[i] = Article(i, row[0], [Paragraph(p, t, c) for p, t, c in paras])
        return out

    # -- the update ---------------------------------------------------------------------

    def run(self, changed: list[str], added: Sequence[Article]) -> None:
        self.given = {a.id: a for a in added}
        conn = self.conn
        touched: set[str] = set()
        old_keys = {
            i: k
            for i, k in conn.execute(
                f"SELECT id, words_key FROM story_words WHERE id IN ({_marks(changed)})",
                changed,
            )
        }
        shingles = {a.id: word_shingles(a) for a in added}
        new_keys = {aid: words_key(w) for aid, w in shingles.items()}
        keys = {k for k in (*old_keys.values(), *new_keys.values()) if k}
        old_rep = {k: (self._members(k) or [None])[0] for k in keys}

        # 1. the changed articles leave: their rows and links
        for aid in changed:
            touched |= self._neighbours(aid)
        conn.execute(f"DELETE FROM story_words WHERE id IN ({_marks(changed)})", changed)
        self._drop_links(changed)
        sigs = signatures([shingles[a.id] for a in added], self.config.num_perm)
        conn.executemany(
            "INSERT INTO story_words (id, words_key, words, signature) VALUES (?,?,?,?)",
            (
                (a.id, new_keys[a.id], " ".join(sorted(shingles[a.id])), sig.tobytes())
                for a, sig in zip(added, sigs, strict=True)
            ),
        )
        touched |= {a.id for a in added}

        # 2. representatives that changed
        fresh: list[str] = []
        for k in sorted(keys):
            members = self._members(k)
            touched.update(members)
            rep = members[0] if members else None
            if old_rep[k] is not None and old_rep[k] != rep:
                touched |= self._neighbours(old_rep[k])
                self._drop_links([old_rep[k]])
            if rep is not None and (rep != old_rep[k] or rep in self.given):
                fresh.append(rep)
        fresh += [a.id for a in added if not new_keys[a.id]]  # no words: a node, no links
        for pair in self._link(sorted(set(fresh))):
            touched.update(pair)

        # 3. the components that hold a touched article
        self._recluster(touched)

    def _drop_links(self, ids: list[str]) -> None:
        marks = _marks(ids)
        self.conn.execute(
            f"DELETE FROM story_links WHERE a IN ({marks}) OR b IN ({marks})", ids + ids
        )

    def _link(self, fresh: list[str]) -> list[tuple[str, str]]:
        """Compare each article of ``fresh`` (now representing its word set) with every
        other representative, as a full build compares them; record the links found."""
        if not fresh:
            return []
        rows = self.conn.execute(
            "SELECT id, signature FROM story_words WHERE words_key != '' AND id IN "
            "(SELECT min(id) FROM story_words GROUP BY words_key)"
        ).fetchall()
        ids = [r[0] for r in rows]
        sig = np.frombuffer(b"".join(r[1] for r in rows), np.uint64).reshape(len(rows), -1)
        position = {aid: i for i, aid in enumerate(ids)}
        pairs: set[tuple[str, str]] = set()
        for aid in fresh:
            if aid not in position:
                continue
            for j in candidates_of(sig[position[aid]], sig, self.config).tolist():
                if ids[j] != aid:
                    pairs.add(tuple(sorted((aid, ids[j]))))
        if not pairs:
            return []
        ordered = sorted(pairs)
        need = sorted({x for p in ordered for x in p})
        words = {
            i: set(w.split())
            for i, w in self.conn.execute(
                f"SELECT id, words FROM story_words WHERE id IN ({_marks(need)})", need
            )
        }
        jac = np.array([jaccard(words[a], words[b]) for a, b in ordered], np.float64)
        close = jac >= min(self.config.rewrite_min_jaccard, self.config.copy_jaccard)
        ordered = [p for p, c in zip(ordered, close.tolist(), strict=True) if c]
        jac = jac[close]
        if not ordered:
            return []
        local_ids = sorted({x for p in ordered for x in p})
        found = self._articles(local_ids)
        local = [found[i] for i in local_ids]
        index = {aid: i for i, aid in enumerate(local_ids)}
        cands = np.array([(index[a], index[b]) for a, b in ordered], np.int64).reshape(-1, 2)
        shingles = [words[i] for i in local_ids]
        scored = score_candidates(local, shingles, cands, jac, self.encode, self.config)
        links = [
            (local_ids[p.a], local_ids[p.b], p.jaccard, p.reason) for p in scored if p.same_story
        ]
        self.conn.executemany(
            "INSERT OR REPLACE INTO story_links (a, b, jaccard, reason) VALUES (?,?,?,?)", links
        )
        return [(a, b) for a, b, _, _ in links]

    def _recluster(self, touched: set[str]) -> None:
        keys = self._keys()
        rep_of_key: dict[str, str] = {}
        for aid, k in keys.items():
            if k and (k not in rep_of_key or aid < rep_of_key[k]):
                rep_of_key[k] = aid

        def rep(aid: str) -> str:
            return rep_of_key[keys[aid]] if keys[aid] else aid

        # the components (of representatives, over the links) of every touched article
        seen: set[str] = set()
        nodes: list[str] = []
        stack = sorted({rep(a) for a in touched if a in keys})
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            nodes.append(n)
            stack.extend(sorted(self._neighbours(n) - seen))
        if not nodes:
            return
        groups: dict[str, list[str]] = {n: [] for n in nodes}
        by_key = {keys[n]: n for n in nodes if keys[n]}
        for aid, k in keys.items():
            owner = by_key.get(k) if k else (aid if aid in groups else None)
            if owner is not None:
                groups[owner].append(aid)
        local_ids = sorted(a for g in groups.values() for a in g)
        index = {aid: i for i, aid in enumerate(local_ids)}
        reps = [index[rep(a)] for a in local_ids]
        marks = _marks(nodes)
        links = [
            PairScore(index[a], index[b], j, None, True, reason)
            for a, b, j, reason in self.conn.execute(
                f"SELECT a, b, jaccard, reason FROM story_links WHERE a IN ({marks})", nodes
            )
        ]
        found = self._articles(nodes)
        articles = [found.get(a) or Article(a, "", []) for a in local_ids]
        story_ids, notes = stories_from_links(
            local_ids, reps, links, agreement(articles, {}, self.config)
        )
        self.conn.executemany(
            "UPDATE articles SET story_id = ?, story_note = ? WHERE id = ?",
            zip(story_ids, notes, local_ids, strict=True),
        )
        self.reassigned = len(local_ids)


def _marks(items: Sequence) -> str:
    return ",".join("?" * len(items))
