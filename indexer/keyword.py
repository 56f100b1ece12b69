"""The BM25 keyword index over paragraphs, stored with Whoosh.

Each Whoosh document is one paragraph: its text, its article's headline (a second, lighter
field, so BM25F can reward a headline match without drowning the paragraph), the paragraph id
and the article id. Queries are never passed through Whoosh's parser, so no user
text can raise a syntax error: words are OR-grouped (BM25 ranks partial matches) and scored
by ``bm25.BM25Arrays`` (Whoosh's BM25F over Whoosh's postings, with numpy); a query with
"quoted phrases" is built as Whoosh query objects and run by Whoosh's searcher.

Long queries (an argument or an article pasted as the query, more than ``LONG_QUERY_WORDS``
indexable words) are bags of words: their quotes are quoted speech, not phrase operators, and
a word they repeat weighs once per occurrence, as Lucene and Pyserini weigh it.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from whoosh import columns, scoring
from whoosh import index as whoosh_index
from whoosh import query as Q
from whoosh.analysis import StemmingAnalyzer
from whoosh.fields import COLUMN, ID, TEXT, Schema
from whoosh.searching import Searcher as WhooshSearcher

from .bm25 import IDF, PID_COLUMN, BM25Arrays, CorpusStats
from .corpus import Article
from .errors import DamagedStoreError
from .impacts import Impacts, write_impacts
from .keyword_writer import KeywordWriter
from .ranked import Ranked

_PHRASE = re.compile(r'"([^"]+)"')
#: A query of more indexable words (stopwords dropped, repeats counted) than this is a long
#: query: an argument or an article pasted into the box, not words a person typed. The judged
#: queries hold 2-25 such words (SciFact's 1,109 claims at most 25, BBC news queries at most
#: 11), so the rule leaves them as they were; BEIR ArguAna's arguments hold ~100-300. In a long
#: query quotes are quoted speech, not phrase operators: a 10,000-character BBC text ran 30
#: phrase queries, 223 ms against 59 ms for its words (BENCHMARKS.md "Issue 18 (2026-12-02)").
LONG_QUERY_WORDS = 32
#: The most indexable words a quoted span may hold to be run as a phrase. Phrase operators
#: are for names and fixed expressions ("Bank of England", "weapons of mass destruction",
#: "the lady's not for turning": 2-4 indexable words); a longer quoted span is a quotation,
#: whose exact wording a searcher rarely knows, so its words are searched as words.
MAX_PHRASE_WORDS = 8


@dataclass(frozen=True)
class KeywordConfig:
    """BM25 parameters and how much a headline match counts against a paragraph match.

    Tuned on SciFact train (bench/tune_fusion.py, BENCHMARKS.md): nDCG@10 is flat within
    0.002 for k1 0.7-1.2, b 0.6-0.9, boost 0.4-0.5; k1=0.9 sits in the middle of that plateau.
    """

    k1: float = 0.9
    b: float = 0.75
    title_boost: float = 0.5
    #: The idf formula, ``bm25.IDF``: Whoosh's (the default, what every tuned number above
    #: was measured with) or Lucene's. Query-time, like the rest: ``newsearch tune`` tries both.
    idf: str = "whoosh"

    def __post_init__(self) -> None:
        if self.idf not in IDF:
            raise ValueError(f"unknown idf {self.idf!r}: use one of {', '.join(IDF)}")


@dataclass(frozen=True)
class KeywordDoc:
    pid: int
    article_id: str
    text: str
    title: str


def make_schema() -> Schema:
    """The paragraph id is kept twice: stored (Whoosh's hits carry it) and as an int64 column
    (read as one array, so the numpy scorer maps document numbers to ids without unpickling
    a stored record per hit)."""
    analyzer = StemmingAnalyzer()
    return Schema(
        pid=ID(stored=True, unique=True),
        article=ID(stored=True),
        text=TEXT(analyzer=analyzer, phrase=True),
        title=TEXT(analyzer=analyzer, phrase=True),
        **{PID_COLUMN: COLUMN(columns.NumericColumn("q"))},
    )


def _fields(doc: KeywordDoc) -> dict[str, object]:
    return {
        "pid": str(doc.pid),
        "article": doc.article_id,
        "text": doc.text,
        "title": doc.title,
        PID_COLUMN: doc.pid,
    }


def write_index(directory: Path, docs: Iterable[KeywordDoc], limitmb: int = 256) -> int:
    """Create a Whoosh index in ``directory`` holding ``docs``; returns how many were written.

    One process, one writer (``KeywordWriter``: Whoosh's, analysing in one pass): Whoosh's
    multi-process writer is slower on two cores.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ix = whoosh_index.create_in(str(directory), make_schema())
    writer = KeywordWriter(ix, limitmb=limitmb)
    count = 0
    try:
        for doc in docs:
            writer.add_document(**_fields(doc))
            count += 1
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
    write_impacts(directory)
    return count


class KeywordIndex:
    """Read side: BM25F search over one published Whoosh index, safe to share across threads.

    Whoosh searchers hold per-reader state, so each thread gets its own searcher over the
    same immutable segment files.
    """

    def __init__(self, directory: Path, config: KeywordConfig | None = None) -> None:
        self.config = config or KeywordConfig()
        self._directory = directory
        self._local = threading.local()
        self._weighting = _weighting(self.config)
        self._arrays: BM25Arrays | None = None
        self._arrays_lock = threading.Lock()
        try:
            self._ix = whoosh_index.open_dir(str(directory))
            self._searcher()  # opens the segments: a truncated one fails here, not mid-query
        except Exception as exc:  # whoosh raises EmptyIndexError, OSError, pickle errors …
            raise _damaged(directory, exc) from exc
        self._schema = self._ix.schema

    def with_config(self, config: KeywordConfig) -> KeywordIndex:
        """This open index scored with other BM25 parameters (bm25 mode's tuned ones): the
        segments and the postings arrays are shared, since k1, b, the boost and the idf are
        applied when a query runs; only the per-thread Whoosh searchers (which carry the
        weighting) are its own."""
        self._bm25(self._searcher().reader())  # load the arrays once, for both
        other = copy.copy(self)
        other.config = config
        other._weighting = _weighting(config)
        other._local = threading.local()
        return other

    def doc_count(self) -> int:
        return self._ix.doc_count()

    def _searcher(self):
        s = getattr(self._local, "searcher", None)
        if s is None:
            s = self._ix.searcher(weighting=self._weighting)
            self._local.searcher = s
        return s

    def _terms(self, fieldname: str, text: str) -> list[str]:
        return list(self._schema[fieldname].process_text(text, mode="query"))

    def phrase_clauses(self, text: str) -> list[Q.Query]:
        """A Whoosh phrase query per "quoted phrase" of 2 to ``MAX_PHRASE_WORDS`` indexable
        words, in the body and (boosted lower) in the headline; none in a long query (more than
        ``LONG_QUERY_WORDS`` indexable words), whose quotes are speech."""
        if '"' not in text or self.is_long(text):
            return []
        boost = self.config.title_boost
        clauses: list[Q.Query] = []
        for phrase in _PHRASE.findall(text):
            words = self._terms("text", phrase)
            if 1 < len(words) <= MAX_PHRASE_WORDS:
                clauses.append(Q.Phrase("text", words, boost=2.0))
                if boost > 0:
                    clauses.append(Q.Phrase("title", words, boost=2.0 * boost))
        return clauses

    def build_query(self, text: str) -> Q.Query | None:
        """OR of every query word (headline field boosted lower, a word's clauses boosted by
        its weight, ``query_weights``) plus each quoted phrase."""
        boost = self.config.title_boost
        clauses = self.phrase_clauses(text)
        for word, weight in self.query_weights(text).items():
            clauses.append(Q.Term("text", word, boost=float(weight)))
            if boost > 0:
                clauses.append(Q.Term("title", word, boost=boost * weight))
        if not clauses:
            return None
        return Q.Or(clauses)

    def _words(self, text: str) -> list[str]:
        """Every indexable word of the query, once per occurrence (quotes ignored).

        One search asks for them four times (weights, phrases, ceiling, statistics): the
        calling thread keeps the last query's words, so a long query is analysed once.
        """
        last = getattr(self._local, "words", None)
        if last is not None and last[0] == text:
            return last[1]
        words = self._terms("text", text.replace('"', " "))
        self._local.words = (text, words)
        return words

    def is_long(self, text: str) -> bool:
        """Whether ``text`` is a long query (``LONG_QUERY_WORDS``): a bag of words."""
        return len(self._words(text)) > LONG_QUERY_WORDS

    def query_weights(self, text: str) -> dict[str, int]:
        """Each distinct indexable word of the query and its weight, in query order: in a long
        query how often the query holds it (an argument that keeps coming back to "tax" is
        about tax; Lucene and Pyserini add a clause per occurrence), else 1. Short queries
        count each word once: their repeats are incidental ("cell" and "cells" in a claim)."""
        words = self._words(text)
        counts: dict[str, int] = {}
        for w in words:
            counts[w] = counts.get(w, 0) + 1
        if len(words) > LONG_QUERY_WORDS:
            return counts
        return dict.fromkeys(counts, 1)

    def query_terms(self, text: str) -> list[str]:
        """The query's indexable words (analysed: lower-cased, stemmed, no stopwords), each
        repeated as often as its weight (``query_weights``), repeats side by side: the BM25
        scorer adds a word's contribution once per entry, so the list carries the weights."""
        return [w for w, n in self.query_weights(text).items() for _ in range(n)]

    def stats(self, text: str) -> CorpusStats:
        """This index's statistics for the words of ``text``: what a sharded corpus adds up
        over its shards before any of them scores (``CorpusStats.combine``)."""
        reader = self._searcher().reader()
        fields = ("text", "title")
        words = self.query_weights(text)
        return CorpusStats(
            n=reader.doc_count_all(),
            df={(f, t): reader.doc_frequency(f, t) for t in words for f in fields},
            field_length={f: reader.field_length(f) for f in fields},
        )

    def search(self, text: str, limit: int, stats: CorpusStats | None = None) -> Ranked:
        """(paragraph id, BM25F score) best first; empty when no query word is indexable.

        Words are scored by the numpy scorer; quoted phrases, which need positions, by
        Whoosh's phrase matchers alone (an AND of a few terms, cheap), their scores added as
        Whoosh's OR would add them. ``stats``: the whole corpus's statistics when this index
        is one shard of it (words and phrases then score as in one index over the corpus).
        """
        if limit <= 0:
            return Ranked.empty()
        terms = self.query_terms(text)
        if not terms:
            return Ranked.empty()
        weights = {"text": 1.0, "title": self.config.title_boost}
        try:
            reader = self._searcher().reader()
            extra: dict[int, float] = {}
            phrases = self.phrase_clauses(text)
            if phrases:
                searcher = self._searcher()
                if stats is not None:  # Whoosh's phrase scoring, with the corpus's statistics
                    weighting = CorpusBM25F(stats, self.config)
                    searcher = WhooshSearcher(reader, weighting=weighting, closereader=False)
                for hit in searcher.search(Q.Or(phrases), limit=None):
                    extra[hit.docnum] = float(hit.score)
            return self._bm25(reader).search(
                reader,
                terms,
                weights,
                self.config.k1,
                self.config.b,
                limit,
                extra,
                stats,
                self.config.idf,
            )
        except Exception as exc:  # damaged postings or columns: zlib, pickle, struct, EOF …
            raise _damaged(self._directory, exc) from exc

    def ceiling(self, text: str, stats: CorpusStats | None = None) -> float | None:
        """The highest BM25F score a paragraph could get for ``text`` (``max_score``), or None
        for a long query (``LONG_QUERY_WORDS``), where there is no reachable ceiling.

        The best hit's score over this is how well BM25 covers the query (``coverage`` fusion
        in search/fusion.py); without a ceiling the query is fused by plain convex fusion. Why
        not for long queries: no paragraph holds most of an argument's hundred-odd words, so
        the best hit's share of the sum falls with the query's length whatever BM25 found
        (median .58 at 100 characters, .23 at 5,000 on SciFact abstracts used as queries; .10
        on the BBC-continuations proxy, BENCHMARKS.md "Issue 18"), and coverage would hand
        every long query to the dense half, which reads only its first 256 tokens.
        """
        if self.is_long(text):
            return None
        return self.max_score(text, stats)

    def max_score(self, text: str, stats: CorpusStats | None = None) -> float:
        """Each indexable query word at saturation, ``idf * (k1 + 1)`` times its weight
        (``query_weights``), in the body and (times its boost) in the headline.

        Words no paragraph holds are left out: no hit could score them. The idf is the
        configured one (``bm25.IDF``); quoted phrases are not counted, so a phrase match can exceed
        it (coverage is capped at 1 where it is used).
        """
        reader = self._searcher().reader()
        idf = IDF[self.config.idf]
        n = reader.doc_count_all() if stats is None else stats.n
        impacts = self._bm25(reader).impacts if stats is None else None
        total = 0.0
        for term, weight in self.query_weights(text).items():
            for field, boost in (("text", 1.0), ("title", self.config.title_boost)):
                if impacts is not None:  # the same count, without Whoosh's hashed lookup
                    df = impacts.doc_frequency(field, term)
                elif stats is None:
                    df = reader.doc_frequency(field, term)
                else:
                    df = stats.df.get((field, term), 0)
                if df and boost > 0:
                    total += weight * boost * idf(n, df) * (self.config.k1 + 1)
        return total

    def search_whoosh(self, text: str, limit: int) -> list[tuple[int, float]]:
        """The same ranking by Whoosh's own searcher (used for phrase queries, and by the
        tests that hold the numpy scorer to Whoosh's results)."""
        query = self.build_query(text)
        if query is None or limit <= 0:
            return []
        try:
            results = self._searcher().search(query, limit=limit)
            return [(int(hit["pid"]), float(hit.score)) for hit in results]
        except Exception as exc:  # damaged postings: zlib, pickle, struct, EOF errors …
            raise _damaged(self._directory, exc) from exc

    def _bm25(self, reader) -> BM25Arrays:
        with self._arrays_lock:
            if self._arrays is None:
                impacts = Impacts.open(self._directory, reader)
                self._arrays = BM25Arrays(reader, ("text", "title"), impacts)
            return self._arrays

    def close(self) -> None:
        s = getattr(self._local, "searcher", None)
        if s is not None:
            s.close()
            self._local.searcher = None


def _weighting(config: KeywordConfig) -> scoring.BM25F:
    """Whoosh's BM25F for phrase clauses (and ``search_whoosh``), with the configured idf."""
    if config.idf == "whoosh":
        return scoring.BM25F(B=config.b, K1=config.k1)
    return ConfiguredBM25F(config)


class ConfiguredBM25F(scoring.BM25F):
    """Whoosh's BM25F with the idf formula of a ``KeywordConfig`` (``bm25.IDF``)."""

    def __init__(self, config: KeywordConfig) -> None:
        super().__init__(B=config.b, K1=config.k1)
        self.idf_of = IDF[config.idf]

    def idf(self, searcher, fieldname: str, text: str | bytes) -> float:
        parent = searcher.get_parent()
        return self.idf_of(parent.doc_count_all(), parent.doc_frequency(fieldname, text))


class CorpusBM25F(ConfiguredBM25F):
    """Whoosh's BM25F with idf and average field lengths taken from ``CorpusStats`` (a
    sharded corpus's sums) instead of the index searched: for phrase clauses on a shard."""

    def __init__(self, stats: CorpusStats, config: KeywordConfig) -> None:
        super().__init__(config)
        self.stats = stats

    def idf(self, searcher, fieldname: str, text: str | bytes) -> float:
        term = text.decode("utf-8") if isinstance(text, bytes) else text
        return self.idf_of(self.stats.n, self.stats.df.get((fieldname, term), 0))

    def scorer(self, searcher, fieldname: str, text: str | bytes, qf: int = 1):
        scorer = super().scorer(searcher, fieldname, text, qf=qf)
        if isinstance(scorer, scoring.BM25FScorer):
            scorer.avgfl = self.stats.avgfl(fieldname)
        return scorer


def _damaged(directory: Path, exc: Exception) -> DamagedStoreError:
    return DamagedStoreError(
        f"keyword index in {directory} cannot be read ({type(exc).__name__}: {exc})"
    )


def apply_changes(
    directory: Path, delete_articles: Iterable[str], docs: Iterable[KeywordDoc], limitmb: int = 64
) -> None:
    """Delete every paragraph of ``delete_articles`` and add ``docs``, in one commit.

    Whoosh writes the change as a new segment and a new table of contents; existing segment
    files are only read (a merge writes a new segment and unlinks the old files), which is what
    lets an incremental update start from hard links to the published generation's files.
    """
    ix = whoosh_index.open_dir(str(directory))
    writer = KeywordWriter(ix, limitmb=limitmb)
    try:
        for article_id in delete_articles:
            writer.delete_by_term("article", article_id)
        for doc in docs:
            writer.add_document(**_fields(doc))
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
    write_impacts(directory)  # the new (or merged) segment's arrays; gone segments' removed


def keyword_docs(pids: Sequence[int], rows: Sequence[tuple[Article, int]]) -> Iterator[KeywordDoc]:
    """The Whoosh documents for paragraphs ``rows`` (article, position) stored under ``pids``."""
    for pid, (a, pos) in zip(pids, rows, strict=True):
        yield KeywordDoc(pid, a.id, a.paragraphs[pos].full_text, a.headline)
