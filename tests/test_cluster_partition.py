"""Story-safe partitioning (cluster/partition.py): pure functions over real articles."""

from __future__ import annotations

from conftest import DEMO

from newsearch.cluster.partition import first_pids, partition, shard_for, story_components
from newsearch.indexer.corpus import Article, Paragraph, read_articles
from newsearch.indexer.stories import assign_stories


def _article(aid: str, text: str, title: str = "t") -> Article:
    return Article(aid, title, [Paragraph(0, text)])


def test_every_story_lies_in_one_component_and_one_shard() -> None:
    articles = read_articles([DEMO]).articles
    # Stories by words only (no vectors here); with rewrites found by vectors the stories are
    # unions of these and still within components (tests/test_cluster_searcher.py checks).
    stories = assign_stories(articles).story_ids
    comps = story_components(articles)
    for shards in (2, 3, 5):
        part = partition(articles, shards)
        by_story: dict[str, set[int]] = {}
        for i, story in enumerate(stories):
            by_story.setdefault(story, set()).add(part.shard_of[i])
            assert comps[i] == comps[stories.index(story)]
        assert all(len(s) == 1 for s in by_story.values())
        assert len(set(part.shard_of)) > 1  # 32 articles do spread out


def test_near_copies_share_a_component_and_unrelated_articles_do_not() -> None:
    base = " ".join(f"word{i}" for i in range(60))
    copy = base + " extra words here"
    other = " ".join(f"other{i}" for i in range(60))
    comps = story_components([_article("a", base), _article("b", copy), _article("c", other)])
    assert comps[0] == comps[1] != comps[2]


def test_shard_of_a_key_is_stable_and_spread() -> None:
    assert shard_for("business/001.txt", 4) == shard_for("business/001.txt", 4)
    seen = {shard_for(f"doc-{i}", 4) for i in range(200)}
    assert seen == {0, 1, 2, 3}


def test_first_pids_number_paragraphs_as_one_index_would() -> None:
    a = Article("a", "t", [Paragraph(0, "x"), Paragraph(1, "y")])
    b = Article("b", "t", [Paragraph(0, "z")])
    c = Article("c", "t", [Paragraph(0, "w"), Paragraph(1, "v"), Paragraph(2, "u")])
    assert first_pids([a, b, c]) == {"a": 1, "b": 3, "c": 4}


def test_one_shard_puts_everything_in_shard_zero() -> None:
    articles = read_articles([DEMO]).articles
    assert set(partition(articles, 1).shard_of) == {0}
