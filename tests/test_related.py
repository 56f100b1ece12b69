"""Related stories ("more like this") on real indexes: the demo corpus built with the real
model, Whoosh and FAISS on disk; the CLI through typer's runner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from newsearch.cli.main import app
from newsearch.indexer.errors import QueryError
from newsearch.search import Searcher
from newsearch.search.related import (
    RELATED_SCHEMA,
    RelatedConfig,
    UnknownArticleError,
    distinctive_terms,
    related_stories,
)

RAIL = "business/2026-05-02-harbour-rail-strike-coastal-herald.txt"
RAIL_COPY = "business/2026-05-02-harbour-rail-strike-daily-ledger.txt"
NURSES = "health/2026-05-20-nurses-strike-over-hospital-staffing.txt"
DENGUE = "health/2026-03-03-dengue-vaccine-trial-results.txt"
FLU = "health/2026-12-09-flu-season-arrives-early.txt"

runner = CliRunner()


@pytest.fixture(scope="module")
def searcher(demo_index):
    with Searcher(demo_index) as s:
        yield s


def _every_id(results) -> list[str]:
    return [i for h in results.hits for i in (h.article_id, *(c.article_id for c in h.also_in))]


def test_own_story_is_left_out_and_each_story_comes_once(searcher):
    own = searcher.docstore.articles([RAIL])[RAIL].story_id
    # The two outlets' copies of the rail strike are one story: neither may come back.
    assert searcher.docstore.articles([RAIL_COPY])[RAIL_COPY].story_id == own
    results = searcher.related(RAIL, k=8)
    assert len(results) == 8 and [h.rank for h in results] == list(range(1, 9))
    assert results.story_id == own
    assert RAIL not in _every_id(results) and RAIL_COPY not in _every_id(results)
    stories = [h.story_id for h in results]
    assert len(set(stories)) == len(stories) and own not in stories
    scores = [h.score for h in results]
    assert scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 1


def test_the_other_strike_is_the_rail_strikes_nearest_story(searcher):
    # The demo corpus holds two strike stories (rail workers, nurses): each is the other's
    # nearest, both by meaning and by shared words ("strike", "union", "pay", "walk out").
    assert searcher.related(RAIL, k=3).hits[0].article_id == NURSES
    rail_story = searcher.docstore.articles([RAIL])[RAIL].story_id
    assert rail_story in [h.story_id for h in searcher.related(NURSES, k=3)]
    # the two vaccine stories likewise
    assert searcher.related(DENGUE, k=1).hits[0].article_id == FLU


def test_each_signal_alone_and_the_mix_see_the_same_neighbour(searcher):
    for alpha in (0.0, 0.5, 1.0):
        top = searcher.related(DENGUE, k=3, config=RelatedConfig(alpha=alpha)).hits
        assert FLU in [h.article_id for h in top], alpha
    dense_only = searcher.related(DENGUE, k=5, config=RelatedConfig(alpha=1.0))
    words_only = searcher.related(DENGUE, k=5, config=RelatedConfig(alpha=0.0))
    # each hit carries the evidence of the side(s) that found it
    assert all(p.vector_rank is not None for h in dense_only for p in h.paragraphs[:1])
    assert any(p.keyword_rank is not None for h in words_only for p in h.paragraphs)


def test_hits_show_a_paragraph_with_the_shared_words_marked(searcher):
    results = searcher.related(DENGUE, k=3)
    assert "vaccine" in [t.lower() for t in results.terms]
    flu = results.hits[0]
    assert flu.paragraphs and flu.title
    marked = {
        p.snippet.text[m.start : m.end].lower()
        for p in flu.paragraphs
        for m in p.snippet.matches  # type: ignore[union-attr]
    }
    assert any(w.startswith("vaccin") for w in marked), marked


def test_distinctive_terms_are_rare_words_not_stopwords(searcher):
    paragraphs = searcher.docstore.article_paragraphs(RAIL)
    text = " ".join(p.text for p in paragraphs)
    terms = distinctive_terms(text, searcher.keyword, 10)
    lowered = [t.lower() for t in terms]
    assert len(terms) == 10 and len(set(lowered)) == 10
    assert "halden" in lowered  # the port's name: in few paragraphs of the corpus
    assert not {"the", "and", "of", "said"} & set(lowered)
    assert distinctive_terms("the and of", searcher.keyword, 10) == []


def test_stored_vectors_are_read_back_not_recomputed(searcher):
    paragraphs = searcher.docstore.article_paragraphs(DENGUE)
    matrix = searcher.vectors.paragraph_vectors([p.pid for p in paragraphs])
    assert matrix.shape == (len(paragraphs), 384)  # short paragraphs: one window each
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
    # each vector is its own paragraph's: searched, it finds that paragraph first
    for p, v in zip(paragraphs, matrix, strict=True):
        pid, cos = searcher.vectors.ranked(v, 1)[0]
        assert pid == p.pid and cos > 0.999
    assert searcher.vectors.paragraph_vectors([10**9]).shape == (0, 384)


class _RankedOnly:
    """The real vector index seen through the protocol alone (as a cluster backend is): no
    ``paragraph_vectors``, so related() must encode the article itself."""

    def __init__(self, vectors) -> None:
        self._vectors = vectors

    def ranked(self, query, limit):
        return self._vectors.ranked(query, limit)


def test_a_backend_without_stored_vectors_encodes_the_article(searcher):
    calls = []

    def encode(texts):
        calls.append(len(texts))
        return searcher._query_embedder().encode(texts)

    got = related_stories(
        DENGUE,
        3,
        searcher.docstore,
        searcher.keyword,
        _RankedOnly(searcher.vectors),
        encode,
    )
    assert calls == [len(searcher.docstore.article_paragraphs(DENGUE))]
    assert got.hits[0].article_id == FLU
    assert [h.story_id for h in got] == [h.story_id for h in searcher.related(DENGUE, k=3)]


def test_unknown_article_and_bad_k_are_user_errors(searcher):
    with pytest.raises(UnknownArticleError, match=r"no article 'nope\.txt'"):
        searcher.related("nope.txt")
    assert issubclass(UnknownArticleError, QueryError)
    with pytest.raises(QueryError, match="k must be"):
        searcher.related(DENGUE, k=0)


def test_results_json(searcher):
    data = searcher.related(DENGUE, k=2).to_dict()
    assert data["schema"] == RELATED_SCHEMA and data["article_id"] == DENGUE
    assert data["k"] == 2 and len(data["hits"]) == 2 and data["terms"]
    json.dumps(data)  # plain JSON all the way down


# -- the CLI ------------------------------------------------------------------------------


def test_cli_related_json_and_text(demo_index):
    result = runner.invoke(app, ["related", DENGUE, "-k", "2", "-i", str(demo_index), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == RELATED_SCHEMA and data["hits"][0]["article_id"] == FLU
    text = runner.invoke(app, ["related", DENGUE, "-k", "2", "-i", str(demo_index)])
    assert text.exit_code == 0, text.output
    assert "stories related to" in text.stdout and "Flu season" in text.stdout


def test_cli_related_unknown_id_is_one_error_line(demo_index):
    result = runner.invoke(app, ["related", "no/such.txt", "-i", str(demo_index)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "no/such.txt" in lines[0]
    assert "Traceback" not in result.output


# -- a cluster directory: shards hand back their stored vectors --------------------------------


def test_two_shards_relate_as_one_index(tmp_path_factory, demo_index):
    from conftest import DEMO

    from newsearch.cluster.build import build_cluster
    from newsearch.cluster.searcher import ClusterSearcher
    from newsearch.indexer import BuildOptions

    root = tmp_path_factory.mktemp("related_cluster")
    build_cluster(
        [DEMO], root / "two", 2, BuildOptions(), seed_cache=demo_index / "embeddings.sqlite"
    )
    with Searcher(demo_index) as one, ClusterSearcher(root / "two") as two:
        for article in (RAIL, DENGUE, NURSES):
            a, b = one.related(article, k=6).to_dict(), two.related(article, k=6).to_dict()
            a.pop("took_ms"), b.pop("took_ms")
            assert a == b, article
