"""The analyzer one token at a time: the same terms as Whoosh's StemmingAnalyzer."""

from conftest import DEMO, SHARED, require_shared

from newsearch.indexer import analysis, read_articles
from newsearch.indexer.analysis import analyzer, distinct_terms, term_of, token_expression

EDGE = (
    "U.S. A I'm ÉCOLE naïve café's 3.5% to be OR not x y z2 _under_ ran running runs "
    "The U.S.A. and U.K. ... e.g. 1,000,000 ALL-CAPS Straße İstanbul ﬁnance Ⅻ a.b.c *star*"
)


def whoosh_terms(text: str) -> set[str]:
    return {t.text for t in analyzer()(text)}


def test_each_token_gets_the_analyzers_term():
    for m in token_expression().finditer(EDGE):
        token = m.group(0)
        want = next((t.text for t in analyzer()(token)), None)
        assert term_of(token) == want, token
    assert term_of("the") is None and term_of("a") is None
    assert term_of("Guarantees") == term_of("guarantee") is not None
    # remembered per token as cut, case kept: a second look gives the same, and a table
    # that reaches its bound starts again
    assert term_of("GUARANTEES") == term_of("GUARANTEES") == term_of("guarantee")
    assert analysis.TERMS["GUARANTEES"] == term_of("guarantee")
    fresh = "Zygomorphically"
    assert fresh not in analysis.TERMS
    want = next(t.text for t in analyzer()(fresh))
    bound, analysis.MAX_STEMS = analysis.MAX_STEMS, len(analysis.TERMS)
    try:
        assert term_of(fresh) == want
        table = analysis.TERMS
        assert list(table.items()) == [(fresh, want)]
    finally:
        analysis.MAX_STEMS = bound


def test_a_texts_terms_are_the_analyzers(tmp_path):
    assert distinct_terms(EDGE) == whoosh_terms(EDGE)
    assert distinct_terms("") == set() and distinct_terms("the of and") == set()
    texts = []
    for corpus in (DEMO, require_shared(SHARED / "data" / "bbc" / "politics")):
        for a in read_articles([corpus]).articles:
            texts += [a.title, *(p.full_text for p in a.paragraphs)]
    for text in texts:
        assert distinct_terms(text) == whoosh_terms(text), text[:80]
