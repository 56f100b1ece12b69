"""``server/page.py``: the page state in the URL, snippet pieces, which URLs become links."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsearch.search.snippets import Match
from newsearch.server.page import MAX_PAGE, PageState, Piece, pieces, safe_href


def state_of(url: str) -> PageState:
    return PageState.from_query(parse_qs(urlsplit(url).query, keep_blank_values=True))


def test_state_round_trips_through_the_url():
    state = PageState(
        q='a "quoted" & <odd> query',
        mode="bm25",
        category=("sport", "world"),
        source=("Evil & Co",),
        since="2026-01",
        until="2026-12-31",
        page=3,
        g="20261202T101500-1-2",
    )
    assert state_of(state.url()) == state


def test_changing_anything_but_the_page_starts_again_on_the_newest_generation():
    state = PageState(q="strike", page=4, g="20261202T101500-1-2")
    assert state_of(state.url(mode="dense")) == PageState(q="strike", mode="dense")
    assert state_of(state.url(page=5)).g == "20261202T101500-1-2"
    added = state_of(state.toggled("category", "Sport"))
    assert added.category == ("Sport",) and added.page == 1
    assert (
        state_of(PageState(q="x", category=("sport",)).toggled("category", "SPORT")).category == ()
    )


@pytest.mark.parametrize("page", ["0", "-1", str(MAX_PAGE + 1), "two", "9" * 20])
def test_bad_pages_are_refused(page):
    with pytest.raises(ValueError, match="page must be"):
        PageState.from_query({"q": ["x"], "page": [page]})


def test_pieces_mark_the_matches():
    text = "Security guarantees, and more guarantees."
    got = pieces(text, [Match(0, 8), Match(9, 19), Match(30, 40)])
    assert got == [
        Piece("Security", True),
        Piece(" "),
        Piece("guarantees", True),
        Piece(", and more "),
        Piece("guarantees", True),
        Piece("."),
    ]


@given(
    st.text(max_size=60),
    st.lists(st.tuples(st.integers(-5, 80), st.integers(-5, 80)), max_size=8),
)
def test_pieces_always_join_back_to_the_text(text, spans):
    got = pieces(text, [Match(a, b) for a, b in spans])
    assert "".join(p.text for p in got) == text
    assert all(p.text for p in got)


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://example.org/a?b=1", True),
        ("http://example.org", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        (" javascript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("//evil.example/x", False),
        ("/articles/x", False),
        ("https://exa mple.org", False),
        ("http://[::1", False),
        ("", False),
    ],
)
def test_only_http_urls_become_links(url, link):
    assert (safe_href(url) is not None) == link
