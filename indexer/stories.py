"""Story clusters: the copies and rewrites of one news story share a story id.

Wire stories are republished by many outlets, sometimes verbatim, often rewritten sentence by
sentence. Two signals decide whether two articles tell the same story:

1. **Words** (MinHash/LSH over word shingles, ``datasketch``). A shingle is one stemmed content
   word (Whoosh's StemmingAnalyzer, the keyword index's analyzer, so stopwords are gone). Longer
   shingles were measured and rejected: a rewrite keeps the words of a story but not their
   order, so the two seed articles share 31% of their words but only 9% of their word pairs,
   which is what unrelated BBC articles on one topic share too (see BENCHMARKS.md). LSH finds
   the candidate pairs cheaply; the exact Jaccard of the word sets is then computed for them.
   At ``copy_jaccard`` or more the two are copies (verbatim, new headline, light edits).
2. **Meaning**, for the candidates below that: a rewrite says the same thing paragraph by
   paragraph, so each paragraph of one has a near paraphrase in the other. ``alignment`` is the
   mean, over the paragraphs of the shorter article, of the best cosine to a paragraph of the
   other. Two articles on one topic that report different events share the topic words but not
   the paragraphs. The vectors are of the paragraphs alone, not the index's vectors (those
   carry the headline, and two outlets' headlines differ: with them the seeds align at 0.76,
   without at 0.87); they go through the embedding cache, and only the articles of candidate
   pairs in the rewrite range are encoded.

Clusters are the connected components of the accepted pairs; a story id is the smallest
article id in its cluster, so it is stable across rebuilds of the same corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .corpus import Article

#: Candidates whose word sets overlap at least this much (Jaccard) are compared further.
LSH_THRESHOLD = 0.2
#: Word-set Jaccard at which two articles are copies, whatever their vectors say. At 0.6 the
#: BBC corpus links before/after reports of one event ("Levy tipped for prize" and "Levy takes
#: prize", 0.63, alignment 0.70); from 0.7 up the pairs are re-posts and updates of one report.
COPY_JACCARD = 0.7
#: Paragraph alignment (mean best cosine) at which a candidate pair is a rewrite of one story.
REWRITE_ALIGNMENT = 0.8
#: Rewrites must still share this much vocabulary: the alignment alone would merge two
#: articles that merely use the same stock phrases.
REWRITE_MIN_JACCARD = 0.2
#: LSH at a low threshold lets through many pairs far below it (news articles share ~10% of
#: their words at random); the MinHash estimate (std. error ~0.04 at 128 permutations) drops
#: those before the exact comparison, with a margin so no pair near the threshold is lost.
ESTIMATE_MARGIN = 0.1
#: How many candidates the LSH may hand out in all, per article, before the corpus counts as a
#: mass of near-identical texts (100,000 short files from one template: every pair collides,
#: and the pairwise work would take days). Reuters-21578 needs ~1,000 per article, BBC ~260.
#: Past the budget only copies are looked for, and past it again none.
MAX_CANDIDATES_PER_ARTICLE = 2000
MIN_CANDIDATE_BUDGET = 5_000_000


@dataclass(frozen=True)
class StoryConfig:
    """Thresholds chosen by measurement on the BBC corpus (``bench/story_threshold.py``)."""

    num_perm: int = 128
    lsh_threshold: float = LSH_THRESHOLD
    max_candidates_per_article: int = MAX_CANDIDATES_PER_ARTICLE
    min_candidate_budget: int = MIN_CANDIDATE_BUDGET
    copy_jaccard: float = COPY_JACCARD
    rewrite_alignment: float = REWRITE_ALIGNMENT
    rewrite_min_jaccard: float = REWRITE_MIN_JACCARD


@dataclass(frozen=True)
class PairScore:
    """How alike two articles (by index in the input list) are, and whether that is a story."""

    a: int
    b: int
    jaccard: float
    alignment: float | None
    same_story: bool
    reason: str


@dataclass(frozen=True)
class StoryAssignment:
    """``story_ids[i]`` is the story of article i; ``notes[i]`` names the article it is most
    alike in its story and why they are one story ('' for an article alone)."""

    story_ids: list[str]
    notes: list[str]
    #: The pairs looked at closely: candidates sharing at least ``rewrite_min_jaccard`` of
    #: their words (the rest can be neither copies nor rewrites), and identical articles.
    pairs: list[PairScore]
    #: Set when the candidate budget ran out: what was clustered less thoroughly, and why.
    limited: str = ""

    @property
    def clusters(self) -> int:
        return len(set(self.story_ids))


_ANALYZER = None


def _analyzer():
    global _ANALYZER
    if _ANALYZER is None:
        from whoosh.analysis import StemmingAnalyzer

        _ANALYZER = StemmingAnalyzer()
    return _ANALYZER


def word_shingles(article: Article) -> set[str]:
    """The stemmed content words of headline and body (1-word shingles, see module doc).

    Every filter of the analyzer acts on one token alone, so the set is that of the distinct
    tokens run through the analyzer once each: the same set, without stemming every repeat
    (a 50 MB article took two minutes, now seconds)."""
    analyzer = _analyzer()
    text = " ".join([article.title, *(p.full_text for p in article.paragraphs)])
    tokenizer = analyzer.items[0].expression  # the RegexTokenizer's pattern
    distinct = {m.group(0) for m in tokenizer.finditer(text)}
    return {t.text for t in analyzer(" ".join(distinct))}


def jaccard(a: set[str], b: set[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def alignment(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over the paragraphs of the shorter article of its best cosine in the other one.

    Rows are unit-length paragraph vectors. Measured from the shorter side so that a brief
    rewrite of a long report (or an article with an extra summary paragraph) still aligns.
    """
    if len(a) == 0 or len(b) == 0:
        return 0.0
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    sims = short @ long_.T
    return float(sims.max(axis=1).mean())


class _TooDense(Exception):
    """The LSH handed out more candidates than the budget allows."""


def candidate_pairs(
    shingles: Sequence[set[str]], config: StoryConfig, threshold: float | None = None
) -> np.ndarray:
    """Pairs (i < j, one row each, int64) whose estimated word-set Jaccard reaches
    ``threshold`` (default: the LSH threshold) less the estimate margin (MinHash LSH).
    Raises ``_TooDense`` past the budget.

    An array, not tuples: Reuters-21578 has 3.9 million candidates (its templated earnings
    reports share many words), which as Python tuples took over a gigabyte."""
    from datasketch import MinHash, MinHashLSH

    threshold = config.lsh_threshold if threshold is None else threshold
    lsh = MinHashLSH(threshold=threshold, num_perm=config.num_perm)
    hashes: list[MinHash] = []
    for i, words in enumerate(shingles):
        m = MinHash(num_perm=config.num_perm, seed=1)
        m.update_batch([w.encode("utf-8") for w in sorted(words)])
        hashes.append(m)
        if words:
            lsh.insert(i, m)
    if not hashes:
        return np.zeros((0, 2), np.int64)
    # MinHash.jaccard for many candidates at once: the same count of equal hash values over
    # the same number of permutations, so the very same estimates.
    table = np.stack([m.hashvalues for m in hashes])
    budget = max(config.min_candidate_budget, config.max_candidates_per_article * len(shingles))
    handed_out = 0
    chunks: list[np.ndarray] = []
    floor = threshold - ESTIMATE_MARGIN
    for i, m in enumerate(hashes):
        if not shingles[i]:
            continue
        found = lsh.query(m)
        handed_out += len(found)
        if handed_out > budget:
            raise _TooDense(handed_out)
        later = np.array(sorted(j for j in found if j > i), dtype=np.int64)
        if not len(later):
            continue
        same = np.count_nonzero(table[later] == table[i], axis=1) / np.float64(config.num_perm)
        kept = later[same >= floor]
        if len(kept):
            chunks.append(np.column_stack((np.full(len(kept), i, np.int64), kept)))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2), np.int64)


def pair_jaccard(shingles: Sequence[set[str]], pairs: np.ndarray) -> np.ndarray:
    """``jaccard(shingles[i], shingles[j])`` for every row (i, j) of ``pairs``, exactly (the
    same integer counts and division), from a sparse article x word matrix: millions of set
    intersections in Python took half a minute on Reuters."""
    from scipy.sparse import csr_matrix

    vocab: dict[str, int] = {}
    indptr = [0]
    columns: list[int] = []
    for words in shingles:
        columns.extend(vocab.setdefault(w, len(vocab)) for w in words)
        indptr.append(len(columns))
    matrix = csr_matrix(
        (np.ones(len(columns), np.int32), np.asarray(columns, np.int64), np.asarray(indptr)),
        shape=(len(shingles), max(1, len(vocab))),
    )
    sizes = np.diff(matrix.indptr).astype(np.int64)
    out = np.zeros(len(pairs), np.float64)
    for lo in range(0, len(pairs), PAIR_CHUNK):
        i, j = pairs[lo : lo + PAIR_CHUNK, 0], pairs[lo : lo + PAIR_CHUNK, 1]
        inter = np.asarray(matrix[i].multiply(matrix[j]).sum(axis=1), np.int64).ravel()
        union = sizes[i] + sizes[j] - inter
        out[lo : lo + PAIR_CHUNK] = np.divide(
            inter, union, out=np.zeros(len(i), np.float64), where=union > 0
        )
    return out


#: Pairs per sparse product in ``pair_jaccard`` (bounds its temporary memory).
PAIR_CHUNK = 65_536


def pair_alignments(vectors: Sequence[np.ndarray], pairs: np.ndarray) -> np.ndarray:
    """``alignment(vectors[i], vectors[j])`` for every row (i, j) of ``pairs``: one matrix
    product per article against all its partners at once (hundreds of thousands of tiny
    products each paid numpy's call overhead). Agrees with ``alignment`` to float rounding."""
    out = np.zeros(len(pairs), np.float64)
    if not len(pairs):
        return out
    order = np.argsort(pairs[:, 0], kind="stable")
    firsts = pairs[order, 0]
    starts = np.flatnonzero(np.r_[True, firsts[1:] != firsts[:-1]])
    for lo, hi in zip(starts, np.r_[starts[1:], len(order)], strict=True):
        rows = order[lo:hi]
        left = vectors[int(firsts[lo])]
        partners = [vectors[int(j)] for j in pairs[rows, 1]]
        sizes = np.array([len(v) for v in partners])
        usable = sizes > 0
        if len(left) == 0 or not usable.any():
            continue  # an article without paragraph vectors aligns at 0
        rows, sizes = rows[usable], sizes[usable]
        sims = left @ np.concatenate([v for v in partners if len(v)]).T
        bounds = np.r_[0, np.cumsum(sizes)[:-1]]
        # left shorter (or equal): mean over its paragraphs of the best in each partner
        left_side = np.maximum.reduceat(sims, bounds, axis=1).mean(axis=0)
        # partner shorter: mean over the partner's paragraphs of the best in the left one
        right_side = np.add.reduceat(sims.max(axis=0), bounds) / sizes
        out[rows] = np.where(len(left) <= sizes, left_side, right_side)
    return out


def score_pair(
    i: int,
    j: int,
    shingles: Sequence[set[str]],
    vectors: Sequence[np.ndarray] | None,
    config: StoryConfig,
) -> PairScore:
    """Decide one candidate pair: copy by words, rewrite by aligned paragraphs, or neither."""
    jac = jaccard(shingles[i], shingles[j])
    if jac >= config.copy_jaccard:
        return PairScore(i, j, jac, None, True, f"copy: {jac:.0%} of words shared")
    if vectors is None:
        return PairScore(i, j, jac, None, False, "")
    ali = alignment(vectors[i], vectors[j])
    same = jac >= config.rewrite_min_jaccard and ali >= config.rewrite_alignment
    reason = (
        f"rewrite: paragraphs align at {ali:.2f} (cosine), {jac:.0%} of words shared"
        if same
        else ""
    )
    return PairScore(i, j, jac, ali, same, reason)


#: Encodes texts into unit vectors, one row per text (the builder's cached embedder).
Encode = Callable[[list[str]], np.ndarray]


def paragraph_texts(article: Article) -> list[str]:
    return [p.full_text for p in article.paragraphs]


def assign_stories(
    articles: Sequence[Article],
    encode: Encode | None = None,
    config: StoryConfig | None = None,
) -> StoryAssignment:
    """Story id for every article. Without ``encode`` only copies (by words) are clustered."""
    config = config or StoryConfig()
    shingles = [word_shingles(a) for a in articles]
    # Articles with the very same words are copies whatever else is true: only the first of
    # each such group takes part in the pairwise work and the others are linked to it, as the
    # pairwise work would link them. (100,000 copies of one page would make 5e9 pairs.)
    first: dict[frozenset[str], int] = {}
    pairs: list[PairScore] = []
    distinct: list[int] = []
    for i, words in enumerate(shingles):
        j = first.setdefault(frozenset(words), i) if words else i
        if j == i:
            distinct.append(i)
        else:
            pairs.append(PairScore(j, i, 1.0, None, True, f"copy: {1.0:.0%} of words shared"))
    limited = ""
    subset = [shingles[i] for i in distinct]
    try:
        local = candidate_pairs(subset, config)
    except _TooDense:
        try:  # copies need far fewer candidates than rewrites
            local = candidate_pairs(subset, config, threshold=config.copy_jaccard)
            limited = "only copies were grouped into stories, not rewrites"
        except _TooDense:
            local = np.zeros((0, 2), np.int64)
            limited = "only identical articles were grouped into stories"
        limited += (
            f": too many similar articles for the pairwise comparison (more than "
            f"{config.max_candidates_per_article:,} candidates per article)"
        )
    # Pairs sharing under rewrite_min_jaccard of their words can be neither copies nor
    # rewrites: most candidates (the LSH is generous on purpose) stop here.
    jac = pair_jaccard(subset, local)
    kept = jac >= min(config.rewrite_min_jaccard, config.copy_jaccard)
    cands = np.asarray(distinct, np.int64)[local[kept]].reshape(-1, 2)
    jac = jac[kept]
    copy = jac >= config.copy_jaccard
    ali = np.full(len(cands), np.nan)
    if encode is not None and not copy.all():
        vectors = encode_articles(articles, np.unique(cands[~copy]), encode)
        ali[~copy] = pair_alignments(vectors, cands[~copy])
    for (i, j), jc, is_copy, al in zip(
        cands.tolist(), jac.tolist(), copy.tolist(), ali.tolist(), strict=True
    ):
        if is_copy:
            pairs.append(PairScore(i, j, jc, None, True, f"copy: {jc:.0%} of words shared"))
        elif al != al:  # NaN: no vectors asked for
            pairs.append(PairScore(i, j, jc, None, False, ""))
        elif al >= config.rewrite_alignment:
            reason = f"rewrite: paragraphs align at {al:.2f} (cosine), {jc:.0%} of words shared"
            pairs.append(PairScore(i, j, jc, al, True, reason))
        else:
            pairs.append(PairScore(i, j, jc, al, False, ""))
    pairs.sort(key=lambda p: (p.a, p.b))

    parent = list(range(len(articles)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    links: dict[int, PairScore] = {}
    for p in pairs:
        if p.same_story:
            parent[find(p.a)] = find(p.b)
            for x in (p.a, p.b):
                best = links.get(x)
                if best is None or p.jaccard > best.jaccard:
                    links[x] = p

    members: dict[int, list[int]] = {}
    for i in range(len(articles)):
        members.setdefault(find(i), []).append(i)
    story_ids = [""] * len(articles)
    notes = [""] * len(articles)
    for group in members.values():
        sid = min(articles[i].id for i in group)
        for i in group:
            story_ids[i] = sid
            p = links.get(i)
            if p is not None:
                other = articles[p.b if p.a == i else p.a].id
                notes[i] = f"{p.reason} with {other}"
    return StoryAssignment(story_ids, notes, pairs, limited)


def encode_candidates(
    articles: Sequence[Article],
    shingles: Sequence[set[str]],
    pairs: np.ndarray,
    encode: Encode,
    config: StoryConfig,
) -> list[np.ndarray]:
    """Paragraph vectors of the articles whose pairs the words alone do not settle (empty
    arrays for the others)."""
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    jac = pair_jaccard(shingles, pairs)
    unsettled = (jac >= config.rewrite_min_jaccard) & (jac < config.copy_jaccard)
    return encode_articles(articles, np.unique(pairs[unsettled]), encode)


def encode_articles(
    articles: Sequence[Article], need: np.ndarray, encode: Encode
) -> list[np.ndarray]:
    """Paragraph vectors (paragraphs alone) of the articles ``need``, in one ``encode``
    call; empty arrays for the others."""
    need_list = sorted(int(i) for i in need)
    texts = [t for i in need_list for t in paragraph_texts(articles[i])]
    matrix = encode(texts) if texts else np.zeros((0, 0), np.float32)
    out = [np.zeros((0, 0), np.float32) for _ in articles]
    row = 0
    for i in need_list:
        n = len(articles[i].paragraphs)
        out[i] = matrix[row : row + n]
        row += n
    return out


def write_stories(
    docstore_path: Path,
    articles: Sequence[Article],
    encode: Encode | None,
    config: StoryConfig | None = None,
) -> StoryAssignment:
    """Cluster ``articles`` and record each one's story id and note in the docstore."""
    from .docstore import DocstoreWriter

    result = assign_stories(articles, encode, config)
    writer = DocstoreWriter(docstore_path)
    try:
        writer.set_stories(
            zip((a.id for a in articles), result.story_ids, result.notes, strict=True)
        )
    finally:
        writer.close()
    return result
