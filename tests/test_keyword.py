"""The Whoosh BM25 index, written to and read from disk."""

import threading

import pytest

from newsearch.indexer.keyword import KeywordConfig, KeywordDoc, KeywordIndex, write_index
from newsearch.indexer.ranked import Ranked

DOCS = [
    KeywordDoc(
        1, "a", "Ukraine asks allies for security guarantees before any ceasefire.", "Talks"
    ),
    KeywordDoc(2, "a", "The guarantee of security was discussed at length by ministers.", "Talks"),
    KeywordDoc(
        3, "b", "Central bank holds interest rates steady as inflation cools.", "Rates decision"
    ),
    KeywordDoc(
        4, "c", "A marathon runner broke the world record in Valmont.", "Security guarantees"
    ),
    KeywordDoc(5, "d", "Security staff at the stadium checked every ticket.", "Cup final"),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    d = tmp_path_factory.mktemp("kw")
    assert write_index(d, DOCS) == len(DOCS)
    return KeywordIndex(d)


def test_or_grouped_bm25_finds_partial_matches_and_ranks_full_matches_first(index):
    hits = index.search("security guarantees", 10)
    pids = [p for p, _ in hits]
    assert set(pids[:2]) == {1, 2}  # both words (stemmed) in the paragraph
    assert 5 in pids  # one word only: OR, not AND
    assert 3 not in pids
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)


def test_stemming_matches_other_word_forms(index):
    pids = [p for p, _ in index.search("guaranteed", 10)]
    assert {1, 2} <= set(pids)


def test_headline_field_counts_but_less_than_the_paragraph(index):
    pids = [p for p, _ in index.search("security guarantees", 10)]
    assert 4 in pids  # matched through its headline only
    assert pids.index(1) < pids.index(4)
    no_title = KeywordIndex(index._ix.storage.folder, KeywordConfig(title_boost=0.0))
    assert 4 not in [p for p, _ in no_title.search("security guarantees", 10)]


def test_quoted_phrase_is_a_phrase(index):
    top = index.search('"security guarantees"', 10)[0][0]
    assert top == 1
    loose = dict(index.search("guarantee security", 10))
    phrase = dict(index.search('"guarantee security"', 10))
    assert phrase[2] > loose[2]  # "guarantee of security" is not the phrase; doc 1's order is


@pytest.mark.parametrize(
    "query",
    [
        "title:x",
        "AND OR NOT",
        "(",
        '"',
        "*",
        "?",
        "~2",
        "a^3",
        "[a TO b]",
        "security AND (",
        "\x00\x01",
        "🚀 東京 مرحبا",
        "the of and",
        '""',
        "x" * 5000,
    ],
)
def test_user_text_never_raises(index, query):
    assert isinstance(index.search(query, 5), Ranked)


def test_no_indexable_words_means_no_hits(index):
    assert index.search("the of and", 5) == []
    assert index.search("...", 5) == []


def test_threads_share_one_index(index):
    errors, results = [], []

    def work():
        try:
            for _ in range(20):
                results.append(index.search("interest rates", 3)[0][0])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and set(results) == {3} and len(results) == 120


def test_ceiling_bounds_every_score_and_is_nearly_reached_by_a_saturated_match(tmp_path):
    """The ceiling is what coverage fusion divides the best BM25 score by: no paragraph may
    score above it, and one that repeats the query word in body and headline comes close."""
    saturated = KeywordDoc(9, "z", " ".join(["guarantees"] * 60), "Guarantees")
    assert write_index(tmp_path, [*DOCS, saturated]) == len(DOCS) + 1
    index = KeywordIndex(tmp_path)
    for query in ("security guarantees", "interest rates", "marathon world record", "Cup"):
        ceiling = index.ceiling(query)
        assert ceiling > 0 and all(s <= ceiling for _, s in index.search(query, 10)), query
    top_pid, top = index.search("guarantees", 1)[0]
    assert top_pid == 9 and 0.8 < top / index.ceiling("guarantees") <= 1.0
    # Words no paragraph holds could never be matched: they do not raise the ceiling.
    assert index.ceiling("guarantees zyzzyva") == pytest.approx(index.ceiling("guarantees"))
    assert index.ceiling("the of and") == 0.0
    # A partial match covers less of the query than a full one.
    one_word = index.search("stadium guarantees", 1)[0][1] / index.ceiling("stadium guarantees")
    assert one_word < top / index.ceiling("guarantees")
