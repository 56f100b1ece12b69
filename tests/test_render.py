"""Terminal rendering: marks and escaping of what the library returns."""

from newsearch.cli.render import marked
from newsearch.search.snippets import make_snippet, query_stems


def test_snippet_highlighting_in_the_terminal():
    snippet = make_snippet("Guarantees of security were sought.", query_stems("guarantee secure"))
    text = marked(snippet)
    styled = sorted((s.start, s.end) for s in text.spans if "bold" in str(s.style))
    assert [snippet.text[a:b] for a, b in styled] == ["Guarantees", "security"]
