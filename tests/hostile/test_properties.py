"""Property tests (hypothesis) on real indexes: arbitrary queries never raise, every indexed
sentence finds its article, and incremental updates in any order end where a fresh build of
the final folder starts.

Examples are derandomized (the same ones every run, no example database) and few, so the suite
stays fast and a failure is reproducible; the corpora are tiny, and the texts the update test can
produce are embedded once per module, so its examples spend no model time.
"""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO, write
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from index_checks import check_consistent
from whoosh.analysis import StemmingAnalyzer

from newsearch.indexer import BuildOptions, IndexLayout, build_index, read_articles
from newsearch.indexer.errors import EmptyCorpusError, QueryError
from newsearch.indexer.update import update_index
from newsearch.search import Searcher
from newsearch.search.query import prepare_query

SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}

# -- arbitrary queries never raise ---------------------------------------------------------------

SYNTAX = ["AND", "OR", "NOT", "(", ")", '"', "*", "?", "~2", "^3", "title:", "[a TO z]", "-", "+"]
WORDS = ["marathon", "record", "valdoria", "ceasefire", "the", "of", "🏃", "марафон", "\x00"]
queries = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=()), max_size=200),  # surrogates too
    st.lists(st.sampled_from(SYNTAX + WORDS), max_size=12).map(" ".join),
    st.lists(st.sampled_from(SYNTAX + WORDS), max_size=12).map("".join),
)


@pytest.fixture(scope="module")
def searcher(demo_index, embedder):
    with Searcher(demo_index, embedder=embedder) as s:
        yield s


@settings(max_examples=80, **SETTINGS)
@given(query=queries, k=st.integers(min_value=-3, max_value=2000))
def test_arbitrary_queries_never_raise(searcher, query, k):
    try:
        expected = prepare_query(query).text
    except QueryError:
        expected = None
    for mode in ("bm25", "dense", "hybrid"):
        if expected is None or k < 1:
            with pytest.raises(QueryError):
                searcher.search(query, k=k, mode=mode)
            continue
        results = searcher.search(query, k=k, mode=mode)
        assert results.query == expected and results.query.isprintable()
        assert len(results.hits) <= min(k, 32)
        if mode != "bm25":
            assert results.hits  # the model places any text somewhere


# -- index -> search round trip -------------------------------------------------------------------

_ANALYZER = StemmingAnalyzer()
letters = st.characters(categories=["Ll", "Lu", "Lo"])
word = st.text(alphabet=letters, min_size=3, max_size=9)
sentence = st.lists(word, min_size=4, max_size=9).map(lambda ws: " ".join(ws) + ".")
# an article: (headline, paragraphs), a paragraph being a list of sentences
article = st.tuples(
    st.lists(word, min_size=2, max_size=5).map(" ".join),
    st.lists(st.lists(sentence, min_size=1, max_size=2), min_size=1, max_size=3),
)


def _terms(text: str) -> set[str]:
    return {t.text for t in _ANALYZER(text)}


@settings(max_examples=12, **SETTINGS)
@given(corpus=st.lists(article, min_size=1, max_size=4))
def test_every_sentence_finds_its_article(tmp_path_factory, embedder, corpus):
    root = tmp_path_factory.mktemp("roundtrip")
    for n, (headline, paragraphs) in enumerate(corpus):
        body = "\n\n".join(" ".join(p) for p in paragraphs)
        write(root / "c" / f"a{n}.txt", f"{headline}\n\n{body}\n")
    parsed = {a.id: a for a in read_articles([root / "c"]).articles}
    assert set(parsed) == {f"a{n}.txt" for n in range(len(corpus))}
    ix = root / "ix"
    build_index([root / "c"], ix, BuildOptions(export_onnx=False), embedder=embedder)
    with Searcher(ix, embedder=embedder) as s:
        for n, (_, paragraphs) in enumerate(corpus):
            aid = f"a{n}.txt"
            text = " ".join(p.text for p in parsed[aid].paragraphs)
            for raw in (x for p in paragraphs for x in p):
                exact = unicodedata.normalize("NFC", raw)
                assert exact in text  # the parser kept the sentence as written
                terms = _terms(exact)
                if not terms:
                    continue  # only stopwords: nothing for BM25 to find
                for query in (exact, f'"{exact}"'):
                    hits = s.search(query, k=len(corpus), mode="bm25", collapse=False).hits
                    assert aid in [h.article_id for h in hits]
                    others = [
                        a
                        for a in parsed.values()
                        if a.id != aid
                        and terms & _terms(" ".join([a.title, *(p.text for p in a.paragraphs)]))
                    ]
                    if not others:  # no other article shares a word: it must be first
                        assert hits[0].article_id == aid


# -- incremental updates == a fresh build ---------------------------------------------------------

#: Six articles from different folders, and the demo's syndicated pair (two outlets' rewrites
#: of one story), so that arrivals and deletions in any order move articles between stories.
POOL = sorted(DEMO.rglob("*.txt"))[::5][:6] + sorted(DEMO.rglob("*harbour-rail-strike*.txt"))


def _variant(text: str, v: int) -> str:
    if v == 0:
        return text
    return text.rstrip() + f"\n\nCorrection {v}: an earlier version misstated the date.\n"


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory, embedder) -> Path:
    """An embedding cache holding every text the operations below can produce."""
    root = tmp_path_factory.mktemp("warm_props")
    for i, src in enumerate(POOL):
        for v in (0, 1, 2):
            write(root / "c" / f"v{v}" / f"p{i}.txt", _variant(src.read_text("utf-8"), v))
    build_index([root / "c"], root / "ix", BuildOptions(export_onnx=False), embedder=embedder)
    return root / "ix" / "embeddings.sqlite"


operation = st.tuples(
    st.sampled_from(["add", "edit", "delete", "rename", "touch", "copy"]),
    st.integers(0, len(POOL) - 1),
    st.integers(0, 2),
)


def _apply(folder: Path, op: str, i: int, v: int) -> None:
    """One change a user might make to the folder (files p{i}.txt in sub-folders)."""
    present = sorted(folder.rglob(f"p{i}.txt")) + sorted(folder.rglob(f"p{i}-copy.txt"))
    text = POOL[i].read_text("utf-8")
    if op == "add" and not present:
        write(folder / "news" / f"p{i}.txt", text)
    elif op == "edit":
        target = present[0] if present else folder / "news" / f"p{i}.txt"
        write(target, _variant(text, v))
    elif op == "delete" and present:
        present[0].unlink()
    elif op == "rename" and present:
        target = folder / ["news", "world", "archive"][v] / present[0].name
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            present[0].rename(target)
    elif op == "touch" and present:
        present[0].write_bytes(present[0].read_bytes())
    elif op == "copy" and present:
        write(present[0].with_name(f"p{i}-copy.txt"), present[0].read_bytes())


def _state(index_dir: Path) -> dict:
    """What the index holds, independent of how it was built (paragraph ids and file bytes
    differ between an incremental and a full build). Stories included: an update assigns the
    stories a full build would (``indexer/story_state.py``)."""
    check_consistent(index_dir)
    with Searcher(index_dir) as s:
        conn = s.docstore._conn()
        stories = dict(conn.execute("SELECT id, story_id FROM articles"))
        articles = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT id, title, source_path, date, source, url, category, paragraphs "
                "FROM articles"
            )
        }
        pid_key = {
            r[0]: (r[1], r[2])
            for r in conn.execute("SELECT pid, article_id, position FROM paragraphs")
        }
        paragraphs = {
            (r[0], r[1]): (r[2], r[3])
            for r in conn.execute("SELECT article_id, position, context, text FROM paragraphs")
        }
        vectors = {}
        for vid in s.vectors.ids().tolist():
            key = (*pid_key[vid >> 6], vid & 63)
            vectors[key] = s.vectors._index.reconstruct(int(vid))
        searches = {}
        for src in POOL:
            for line in src.read_text("utf-8").splitlines()[2:4]:
                if line.strip():
                    hits = s.search(line, k=50, mode="bm25", collapse=False).hits
                    searches[line] = sorted(h.article_id for h in hits)
        meta = IndexLayout(index_dir).read_meta(IndexLayout(index_dir).current())
    return {
        "articles": articles,
        "paragraphs": paragraphs,
        "vectors": vectors,
        "searches": searches,
        "counts": (meta.articles, meta.paragraphs, meta.vectors),
        "stories": stories,
    }


@settings(max_examples=10, **SETTINGS)
@given(ops=st.lists(operation, min_size=1, max_size=7))
def test_incremental_updates_end_like_a_fresh_build(tmp_path_factory, warm_cache, ops):
    root = tmp_path_factory.mktemp("incremental")
    folder, ix, fresh = root / "corpus", root / "ix", root / "fresh"
    for d in (ix, fresh):
        d.mkdir()
        shutil.copyfile(warm_cache, d / "embeddings.sqlite")  # no model time: texts known
    write(folder / "news" / "p0.txt", POOL[0].read_text("utf-8"))
    update_index([folder], ix)
    for op, i, v in ops:
        _apply(folder, op, i, v)
        try:
            report = update_index([folder], ix)
        except EmptyCorpusError:
            continue  # everything deleted for a moment: the index keeps its last state
        assert report.embedded == 0
    assume(any(folder.rglob("*.txt")))
    update_index([folder], fresh, rebuild=True)
    incremental, full = _state(ix), _state(fresh)
    assert incremental["articles"] == full["articles"]
    assert incremental["paragraphs"] == full["paragraphs"]
    assert incremental["counts"] == full["counts"]
    assert incremental["stories"] == full["stories"]
    assert incremental["searches"] == full["searches"]
    assert incremental["vectors"].keys() == full["vectors"].keys()
    for key, vec in incremental["vectors"].items():
        assert np.array_equal(vec, full["vectors"][key]), key
