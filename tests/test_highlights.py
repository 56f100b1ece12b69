"""Semantic highlights (``search/highlights.py``): a paragraph that holds no query word shows
the sentence nearest to the query by meaning, marked with ``kind`` "semantic". On the demo
index with the real model; the nearest sentence is recomputed here from the model itself."""

from __future__ import annotations

import json

import numpy as np
import pytest

from newsearch.search import SearchConfig, Searcher
from newsearch.search.highlights import nearest_sentences, sentences
from newsearch.search.snippets import SEMANTIC, WORD, find_matches, make_snippet, query_stems

#: Paraphrases that share few words with the demo articles: dense hits without word marks.
PARAPHRASES = [
    "dock labour stoppage",
    "people angry about what flats cost",
    "a probe photographs a faraway world",
    "cyclist triumphs in mountain race",
]


@pytest.fixture(scope="module")
def demo(demo_index, embedder):
    config = SearchConfig(semantic_highlights=True)
    with Searcher(demo_index, embedder=embedder, config=config) as s:
        yield s


def test_off_unless_asked_for(demo_index, embedder):
    """The library marks no sentence by default (it costs an encoding per page); one search
    or the config asks for it, and the page is otherwise the same."""
    with Searcher(demo_index, embedder=embedder) as plain:
        for q in PARAPHRASES:
            off = plain.search(q, k=10, mode="dense")
            on = plain.search(q, k=10, mode="dense", highlights=True)
            kinds = [{m.kind for p in h.paragraphs for m in p.snippet.matches} for h in off.hits]
            assert all(SEMANTIC not in k for k in kinds)
            assert [h.article_id for h in on.hits] == [h.article_id for h in off.hits]
            assert any(
                m.kind == SEMANTIC for h in on.hits for p in h.paragraphs for m in p.snippet.matches
            )


def spans_text(text):
    return [text[s:e] for s, e in sentences(text)]


def test_sentences_split_where_sentences_end():
    text = (
        'The U.S. envoy said 3.5% was "too low." Talks resume on Monday! Will they end? '
        "(Nobody knows.) e.g. not here"
    )
    assert spans_text(text) == [
        'The U.S. envoy said 3.5% was "too low."',
        "Talks resume on Monday!",
        "Will they end?",
        "(Nobody knows.) e.g. not here",
    ]
    assert spans_text("  One sentence without an end  ") == ["One sentence without an end"]
    assert sentences("   ") == []


def bare_paragraphs(demo, mode):
    """(query, snippet, full paragraph text) of every shown paragraph holding no query word."""
    out = []
    for q in PARAPHRASES:
        stems = query_stems(q)
        for hit in demo.search(q, k=10, mode=mode).hits:
            for p in hit.paragraphs:
                full = f"{p.context} {p.text}" if p.context else p.text
                if not find_matches(full, stems):
                    out.append((q, p.snippet, full))
    return out


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_a_paragraph_without_query_words_marks_its_nearest_sentence(demo, embedder, mode):
    bare = bare_paragraphs(demo, mode)
    assert len(bare) >= 3  # the paraphrases do find paragraphs by meaning alone
    several = 0
    for query, snippet, full in bare:
        assert [m.kind for m in snippet.matches] == [SEMANTIC]
        m = snippet.matches[0]
        shown = snippet.text[m.start : m.end]
        spans = sentences(full)
        # The nearest sentence by the model, computed here without the searcher.
        vectors = embedder.encode([full[s:e] for s, e in spans])
        best = spans[int(np.argmax(vectors @ embedder.encode_query(query)))]
        sentence = full[best[0] : best[1]]
        # Trimmed snippets show a part of a long sentence: it is a piece of the nearest one.
        assert shown.strip() and shown in sentence
        if not snippet.trimmed:
            assert shown == sentence
        several += len(spans) > 1
    assert several >= 1  # some of them had more than one sentence to choose from


def test_paragraphs_with_query_words_keep_word_marks_only(demo):
    query = "security guarantees ceasefire"
    stems = query_stems(query)
    worded = 0
    for hit in demo.search(query, k=5, mode="hybrid").hits:
        for p in hit.paragraphs:
            full = f"{p.context} {p.text}" if p.context else p.text
            kinds = {m.kind for m in p.snippet.matches}
            if find_matches(full, stems):
                worded += 1
                assert kinds <= {WORD}
            else:
                assert kinds == {SEMANTIC}
    assert worded >= 3


def test_bm25_mode_marks_no_sentence(demo):
    """bm25 loads no query encoder: a paragraph found by its headline stays unmarked."""
    for q in PARAPHRASES:
        for hit in demo.search(q, k=10, mode="bm25").hits:
            for p in hit.paragraphs:
                assert all(m.kind == WORD for m in p.snippet.matches)


def test_json_carries_the_kind(demo):
    data = json.loads(json.dumps(demo.search(PARAPHRASES[0], k=10, mode="dense").to_dict()))
    matches = [m for h in data["hits"] for p in h["paragraphs"] for m in p["snippet"]["matches"]]
    assert matches and all(set(m) == {"start", "end", "kind"} for m in matches)
    assert {m["kind"] for m in matches} <= {"word", "semantic"}
    assert "semantic" in {m["kind"] for m in matches}


def test_a_long_sentence_is_marked_as_far_as_the_snippet_shows_it():
    text = "Short one. " + " ".join(["word"] * 120) + ". Tail sentence here."
    start = text.index("word")
    end = text.index(". Tail") + 1
    snippet = make_snippet(text, frozenset(), max_chars=100, semantic=(start, end))
    assert snippet.trimmed and len(snippet.matches) == 1
    m = snippet.matches[0]
    assert m.kind == SEMANTIC and snippet.text[m.start : m.end].startswith("word")
    assert 0 <= m.start < m.end <= len(snippet.text)
    # A query word in the paragraph wins: no semantic mark then.
    worded = make_snippet(text, query_stems("tail"), semantic=(start, end))
    assert [m.kind for m in worded.matches] == [WORD]


def test_one_sentence_needs_no_encoding():
    def refuse(texts):
        raise AssertionError(f"encoded {texts}")

    got = nearest_sentences(["Only one sentence here.", ""], np.ones(3), refuse)
    assert got == [(0, len("Only one sentence here.")), None]


def test_cli_draws_the_sentence_apart_from_word_marks(demo):
    from newsearch.cli.render import MARK_STYLES, marked

    results = demo.search(PARAPHRASES[0], k=10, mode="dense")
    snippets = [p.snippet for h in results.hits for p in h.paragraphs]
    semantic = next(s for s in snippets if any(m.kind == SEMANTIC for m in s.matches))
    styles = {str(span.style) for span in marked(semantic).spans}
    assert styles == {MARK_STYLES[SEMANTIC]} and MARK_STYLES[SEMANTIC] != MARK_STYLES[WORD]
    worded = demo.search("security guarantees", k=1, mode="hybrid").hits[0].best.snippet
    assert {str(span.style) for span in marked(worded).spans} == {MARK_STYLES[WORD]}
