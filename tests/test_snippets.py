"""Snippets: query words marked by stem in their original forms, long paragraphs trimmed."""

from __future__ import annotations

import random
from pathlib import Path

from newsearch.indexer.corpus import read_articles
from newsearch.search.snippets import (
    ELLIPSIS,
    Match,
    _analyzer,
    find_matches,
    make_snippet,
    query_stems,
)


def marked(snippet) -> list[str]:
    return [snippet.text[m.start : m.end] for m in snippet.matches]


def test_stemmed_matches_are_marked_as_written():
    text = "Kyiv wants Guarantees of security; the guarantee secures nothing, it said."
    snippet = make_snippet(text, query_stems("security guarantees"))
    assert marked(snippet) == ["Guarantees", "security", "guarantee", "secures"]
    assert snippet.text == text and not snippet.trimmed


def test_stopwords_and_unrelated_words_are_not_marked():
    stems = query_stems("the talks of peace")
    assert marked(make_snippet("The peace talks stalled over the talking points.", stems)) == [
        "peace",
        "talks",
        "talking",
    ]
    assert find_matches("nothing here matches", stems) == []


def test_quotes_in_the_query_do_not_matter():
    assert query_stems('"security guarantees"') == query_stems("security guarantees")


def test_long_paragraph_is_trimmed_around_the_matches():
    filler = " ".join(f"word{i}" for i in range(120))
    text = f"{filler} the ceasefire holds and the ceasefire talks go on {filler}"
    snippet = make_snippet(text, query_stems("ceasefire"), max_chars=120)
    assert snippet.trimmed
    assert snippet.text.startswith(ELLIPSIS + " ") and snippet.text.endswith(" " + ELLIPSIS)
    assert marked(snippet) == ["ceasefire", "ceasefire"]
    # start/end locate the shown part in the paragraph, and whole words are kept.
    inner = snippet.text[2:-2]
    assert text[snippet.start : snippet.end] == inner
    assert text[snippet.start - 1] == " " and text[snippet.end] == " "
    assert len(inner) <= 120 + 2 * len("word100 ")


def test_paragraph_without_matches_still_has_a_snippet():
    """A dense-only hit shows its paragraph (the opening, when long) without marks."""
    text = "Officials met in Geneva. " * 30
    snippet = make_snippet(text, query_stems("water sharing"), max_chars=100)
    assert snippet.matches == [] and snippet.start == 0 and snippet.text.endswith(ELLIPSIS)
    assert text[snippet.end] == " " and snippet.end <= 100 + len("Officials ")


def test_per_word_stemming_matches_running_the_analyzer_over_the_text():
    """find_matches stems each distinct word once; the spans must be the analyzer's own."""
    demo = Path(__file__).resolve().parents[1] / "demo" / "articles"
    texts = [p.full_text for a in read_articles([demo]).articles for p in a.paragraphs]
    texts += ["U.S. officials' co-operation: e-mail, 3.5% rise, naïve café U.S.A.", "it's 2005's"]
    # token edges the fast path must find as the tokenizer does: dots that join or do not,
    # a query word inside longer words, asterisks and underscores, text ending mid-token
    texts += [
        "rise..rise rises.rise rise. rise.rises *rise rise* ris_e rise_ sunrise rise",
        "US business: the US's trust in U.S.-made buses, USA, us. Us..us",
    ]
    rng = random.Random(1)
    for text in texts:
        words = text.split()
        stems = query_stems(" ".join(rng.sample(words, min(4, len(words)))) + " U.S. it's")
        want = [
            Match(t.startchar, t.endchar)
            for t in _analyzer()(text, chars=True)
            if t.text in stems and t.endchar > t.startchar
        ]
        assert find_matches(text, stems) == want, text
    assert sum(bool(find_matches(t, query_stems(t))) for t in texts) > 0.9 * len(texts)
