"""Which shard each article goes to: every copy and rewrite of one story in one shard.

Story clustering (``indexer/stories.py``) links two articles only when they share at least
``rewrite_min_jaccard`` of their words (copies share ``copy_jaccard``, more), among the pairs
its MinHash LSH hands out. The connected components of *those* candidate pairs, before any
vector or fact is compared, are therefore unions of whole stories: a story never spans two of
them (stories are formed within the components of the links, ``stories.stories_from_links``).
The partition puts each component, whole, in the shard a hash of its smallest article id
names. It needs words only (no embedding on the driver), and each shard's own clustering then
finds exactly the stories one index over the whole corpus finds: the LSH candidates of a
subset are the global candidates within it (each article's MinHash bands do not depend on the
others), and every accepted pair lies inside one shard.

Paragraph ids are those one index over the whole corpus would give (``first_pids``), so the
shards' candidate lists merge by id with the same tie order as one index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from newsearch.indexer import stories
from newsearch.indexer.corpus import Article

#: Recorded in cluster.json: how articles were assigned (a reader can recompute it).
RULE = (
    "components of story-candidate pairs (word-set Jaccard >= rewrite_min_jaccard), "
    "shard = blake2b(smallest article id of the component) mod shards"
)


@dataclass(frozen=True)
class Partition:
    """``shard_of[i]``: the shard of article i; ``groups``: the number of components."""

    shard_of: list[int]
    groups: int

    def members(self, shard: int) -> list[int]:
        return [i for i, s in enumerate(self.shard_of) if s == shard]


def story_components(
    articles: Sequence[Article], config: stories.StoryConfig | None = None
) -> list[int]:
    """A component number per article: articles that story clustering could link share one."""
    config = config or stories.StoryConfig()
    shingles = [stories.word_shingles(a) for a in articles]
    parent = list(range(len(articles)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    # As assign_stories does: articles with the very same words are one node.
    reps = stories.identical_reps([a.id for a in articles], shingles)
    for i, r in enumerate(reps):
        parent[find(i)] = find(r)
    distinct = [i for i, r in enumerate(reps) if r == i]
    subset = [shingles[i] for i in distinct]
    sig = stories.signatures(shingles, config.num_perm)
    try:
        local = stories.candidate_pairs(subset, config, sig=sig[distinct])
    except stories._TooDense:  # clustering will fall back to fewer pairs: a coarser cut
        local = _all_pairs_in_one(len(subset))
    jac = stories.pair_jaccard(subset, local)
    kept = jac >= min(config.rewrite_min_jaccard, config.copy_jaccard)
    for a, b in np.asarray(distinct, np.int64)[local[kept]].reshape(-1, 2).tolist():
        parent[find(a)] = find(b)
    return [find(i) for i in range(len(articles))]


def _all_pairs_in_one(n: int) -> np.ndarray:
    """A chain through every article: one component (a corpus too dense to compare pairs)."""
    idx = np.arange(n, dtype=np.int64)
    return np.column_stack((idx[:-1], idx[1:])) if n > 1 else np.zeros((0, 2), np.int64)


def shard_for(key: str, shards: int) -> int:
    """A stable shard for a component key (the same on every machine and Python run)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def partition(articles: Sequence[Article], shards: int) -> Partition:
    """Each article's shard; a whole story-candidate component per shard (see module doc)."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    comp = story_components(articles) if shards > 1 else [0] * len(articles)
    key: dict[int, str] = {}
    for i, c in enumerate(comp):
        if c not in key or articles[i].id < key[c]:
            key[c] = articles[i].id
    return Partition([shard_for(key[c], shards) for c in comp], len(key))


def first_pids(articles: Sequence[Article]) -> dict[str, int]:
    """The first paragraph id of each article in one index over ``articles`` in this order
    (SQLite numbers them from 1, in insertion order)."""
    out: dict[str, int] = {}
    nxt = 1
    for a in articles:
        out[a.id] = nxt
        nxt += len(a.paragraphs)
    return out
