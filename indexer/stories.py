"""Story clusters: the copies and rewrites of one news story share a story id.

Wire stories are republished by many outlets, sometimes verbatim, often rewritten sentence by
sentence. Two signals decide whether two articles tell the same story:

1. **Words** (MinHash/LSH over word shingles, ``signatures``). A shingle is one stemmed content
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

Two vetoes keep templated wire copy apart (Reuters-21578: 2,317 earnings and dividend briefs
of different companies had chained into one story). Their paragraphs align and they share their
template's words, but their **facts** disagree: the figures (amounts, per-share figures,
percentages), the company tags wire services put in angle brackets (``<IBM>``), or the
capitalized names of the text. A pair whose facts disagree is no story, whatever its words or
vectors say (``facts_disagree``). Each test looks at the two articles alone, never at the
corpus, so a link is the same in a full build and in an incremental update.

Stories are not the connected components of the links (links chain: A is like B, B like C,
and C may be another company's brief). Articles with the very same words form one node; the
nodes are taken in order of most links first (ties: smallest article id), and each node not
yet placed becomes a story's representative and takes every linked node not yet placed. So an
article is in a story only when it is linked to the story's representative (``cluster``).
This depends only on the links within one connected component, which is what lets an update
re-cluster only the components it touches (``indexer/story_state.py``) and still end exactly
where a full build of the same articles would. A story id is the smallest article id in it,
so it is stable across rebuilds of the same corpus.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .analysis import distinct_terms
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
#: Figures agree when at least this share of the smaller article's figures is in the other.
#: A rewrite keeps the figures of its story (it may drop some, or add a few of its own); two
#: companies' earnings briefs share the template but almost none of the figures.
FIGURE_OVERLAP = 0.5
#: Names agree when at least this share of the smaller article's names is in the other (and
#: each has at least ``MIN_NAMES``): rewrites quote the same people, firms and places.
NAME_OVERLAP = 0.34
#: One figure each says little: a BBC report of a trial quotes the fraud's $11bn, its rewrite
#: a takeover's $6.75bn in passing.
MIN_FIGURES = 2
MIN_NAMES = 2


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
    figure_overlap: float = FIGURE_OVERLAP
    min_figures: int = MIN_FIGURES
    name_overlap: float = NAME_OVERLAP
    min_names: int = MIN_NAMES
    #: Apply the fact vetoes to copies too (word sets that are not identical): Reuters has
    #: "copies" by words that are another day's figures ("Fed sets 1.5 billion dlr customer
    #: repurchase" / "... two billion ...").
    veto_copies: bool = True


@dataclass(frozen=True)
class PairScore:
    """How alike two articles (by index in the input list) are, and whether that is a story."""

    a: int
    b: int
    jaccard: float
    alignment: float | None
    same_story: bool
    reason: str
    #: Why a pair that the words or vectors would link is no story ('' when none applies):
    #: 'figures', 'companies' or 'names' (see ``facts_disagree``).
    veto: str = ""

    @property
    def kind(self) -> str:
        """'copy', 'rewrite', 'veto:<what>' or '' (neither)."""
        if self.same_story:
            return self.reason.split(":", 1)[0]
        return f"veto:{self.veto}" if self.veto else ""


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
    #: ``reps[i]``: the article whose words ``i`` shares exactly, with the smallest id (i
    #: itself for most): only those take part in the pairwise work.
    reps: list[int] | None = None
    #: Each article's word set and MinHash signature: what an update needs (they are kept in
    #: the docstore, ``indexer/story_state.py``).
    shingles: list[set[str]] | None = None
    signatures: np.ndarray | None = None

    @property
    def clusters(self) -> int:
        return len(set(self.story_ids))


def word_shingles(article: Article) -> set[str]:
    """The stemmed content words of headline and body (1-word shingles, see module doc):
    the set Whoosh's ``StemmingAnalyzer`` gives, a token at a time with each word's stem
    remembered across articles (``analysis.py``; 6,000 Reuters articles: 6 s CPU through the
    analyzer, 1 s so, a serial stage of every build)."""
    return distinct_terms(" ".join([article.title, *(p.full_text for p in article.paragraphs)]))


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


#: A number: thousands separators, decimals, and wire fractions ("12-1/2") are one number;
#: the word after it, glued ("6.75bn") or not, may make it an amount.
_NUMBER = re.compile(
    r"(?<![\w.,/-])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:-\d+/\d+)?)"
    r"(?![\d/]|\.\d)(?:\s*(%|[^\W\d_]+))?"
)
#: Words that make a small integer an amount ("12 cts", "7 pct", "5 million").
_UNITS_TEXT = (
    "% cts ct cents cent dlrs dlr dollars dollar pct percent per mln million billion "
    "bn m stg pounds pound yen marks francs euros tonnes tons points"
)
_UNITS = frozenset(_UNITS_TEXT.split())
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
#: A capitalized word after one of these (or first in its text) opens a sentence.
_SENTENCE_END = frozenset('.!?:;"“”(')
#: Capitalized by convention, not names.
_NOT_NAMES_TEXT = (
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april "
    "june july august september october november december monday tuesday wednesday "
    "thursday friday saturday sunday mr mrs ms dr i"
)
_NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())
#: Company tags as wire services write them: "<IBM>", "<Ohio Mattress Co>".
_TAG = re.compile(r"<([^<>\n]{1,60})>")
_TOKEN = re.compile(r"\w+")
#: Wire style spells out numbers below ten: "Qtly div three cts vs three cts".
_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve"
_SPELLED = {w: str(n) for n, w in enumerate(_NUMBER_WORDS.split())}
_SPELLED_AMOUNT = re.compile(
    r"\b(" + "|".join(_SPELLED) + r")\s+(" + "|".join(sorted(_UNITS - {"%"})) + r")\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Facts:
    """What two reports of one story agree on and two templated briefs do not."""

    #: Decimals, numbers of three or more digits (not years), and amounts ("12 cts").
    figures: frozenset[str]
    #: Company tags in angle brackets, lower-cased.
    companies: frozenset[str]
    #: Capitalized words that do not start a sentence, lower-cased (text in capitals says
    #: nothing by its case and is skipped).
    names: frozenset[str]
    #: Every word, lower-cased: whether the article mentions another one's company.
    words: frozenset[str] = frozenset()

    def mentions(self, company: str) -> bool:
        return all(w in self.words for w in _TOKEN.findall(company))


def article_facts(article: Article) -> Facts:
    texts = [article.title, *(p.full_text for p in article.paragraphs)]
    words = frozenset(w.lower() for t in texts for w in _TOKEN.findall(t))
    return Facts(_figures(texts), _companies(texts), _names(texts), words)


def _figures(texts: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for text in texts:
        for m in _NUMBER.finditer(text):
            number, unit = m.group(1).replace(",", ""), (m.group(2) or "").lower()
            if "." in number:
                out.add(number.rstrip("0").rstrip("."))
                continue
            number = number.lstrip("0") or "0"
            year = len(number) == 4 and number[:2] in ("19", "20")
            if unit in _UNITS or "/" in number or (len(number) >= 3 and not year):
                out.add(number)
        out.update(_SPELLED[m.group(1).lower()] for m in _SPELLED_AMOUNT.finditer(text))
    return frozenset(out)


def _companies(texts: Iterable[str]) -> frozenset[str]:
    return frozenset(m.group(1).strip().lower() for t in texts for m in _TAG.finditer(t))


def _names(texts: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for text in texts:
        if text.upper() == text:
            continue
        for m in _WORD.finditer(text):
            word = m.group(0)
            if not word[0].isupper():
                continue
            j = m.start() - 1
            while j >= 0 and text[j].isspace():
                j -= 1
            opens_sentence = j < 0 or text[j] in _SENTENCE_END
            if not opens_sentence and word.lower() not in _NOT_NAMES:
                out.add(word.lower())
    return frozenset(out)


def _share(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / min(len(a), len(b))


def facts_disagree(a: Facts, b: Facts, config: StoryConfig, near_copy: bool = False) -> str:
    """'' when two articles can tell one story, else what disagrees: 'companies' (one tags
    companies and the other mentions none of them), 'figures' (both have two or more figures,
    too few in common; one each is enough for a ``near_copy``, two articles with the same
    words: then a changed figure is the news, as in the briefs of a fund family, "Franklin
    Michigan Insured sets payout" 6.9 cts and "Franklin Ohio Insured ..." 6.1) or 'names'
    (both have names, too few in common)."""
    for x, y in ((a, b), (b, a)):
        if x.companies and not any(y.mentions(c) for c in x.companies):
            return "companies"
    if (
        min(len(a.figures), len(b.figures)) >= (1 if near_copy else config.min_figures)
        and _share(a.figures, b.figures) < config.figure_overlap
    ):
        return "figures"
    if (
        min(len(a.names), len(b.names)) >= config.min_names
        and _share(a.names, b.names) < config.name_overlap
    ):
        return "names"
    return ""


class _TooDense(Exception):
    """The LSH handed out more candidates than the budget allows."""


#: MinHash: h(w) = ((a * x(w) + b) mod p) mod 2^32 for 32-bit word hashes x(w), one (a, b) per
#: permutation, drawn once from a fixed seed. Our own, not datasketch's: importing datasketch
#: imports scipy (0.8 s), more than a third of the 2-second budget of an update that must
#: compute one article's signature; and signatures are persisted, so their definition is ours.
_PRIME = (1 << 61) - 1
_MAX_HASH = (1 << 32) - 1
_PERMUTATIONS: dict[int, tuple[np.ndarray, np.ndarray]] = {}
_WORD_HASHES: dict[str, int] = {}
#: (bands, rows per band) of the LSH for (threshold, permutations): what datasketch's
#: MinHashLSH picks (equal false positive and negative weights; tests/test_stories.py checks).
LSH_BANDS = {(0.2, 128): (28, 2), (0.7, 128): (14, 9)}


def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    if num_perm not in _PERMUTATIONS:
        gen = np.random.RandomState(1)
        a = gen.randint(1, 1 << 32, num_perm, dtype=np.uint64)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint64)
        _PERMUTATIONS[num_perm] = (a, b)
    return _PERMUTATIONS[num_perm]


def _word_hash(word: str) -> int:
    h = _WORD_HASHES.get(word)
    if h is None:
        digest = hashlib.sha1(word.encode("utf-8")).digest()
        h = _WORD_HASHES[word] = int.from_bytes(digest[:4], "little")
    return h


def signatures(shingles: Sequence[set[str]], num_perm: int) -> np.ndarray:
    """MinHash signature of every word set, one uint64 row each (all 2^32 - 1 for none).
    a < 2^32 and x < 2^32, so a * x + b never overflows 64 bits."""
    a, b = _permutations(num_perm)
    out = np.full((len(shingles), num_perm), _MAX_HASH, np.uint64)
    prime, mask = np.uint64(_PRIME), np.uint64(_MAX_HASH)
    for i, words in enumerate(shingles):
        if words:
            x = np.fromiter((_word_hash(w) for w in words), np.uint64, len(words))
            out[i] = (((x[:, None] * a[None, :] + b) % prime) & mask).min(axis=0)
    return out


def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows): two signatures are candidates when some band of rows is equal."""
    key = (round(threshold, 6), num_perm)
    if key not in LSH_BANDS:
        from datasketch.lsh import _optimal_param  # only for settings not tabled

        LSH_BANDS[key] = tuple(_optimal_param(threshold, num_perm, 0.5, 0.5))
    return LSH_BANDS[key]


def _band_keys(sig: np.ndarray, bands: int, rows: int) -> list[np.ndarray]:
    """For each band, an int64 bucket number per row of ``sig`` (equal band, equal number)."""
    out = []
    for k in range(bands):
        part = np.ascontiguousarray(sig[:, k * rows : (k + 1) * rows])
        view = part.view(np.dtype((np.void, part.dtype.itemsize * rows))).ravel()
        out.append(np.unique(view, return_inverse=True)[1].astype(np.int64).ravel())
    return out


def candidate_pairs(
    shingles: Sequence[set[str]],
    config: StoryConfig,
    threshold: float | None = None,
    sig: np.ndarray | None = None,
) -> np.ndarray:
    """Pairs (i < j, one row each, int64) that share an LSH bucket (MinHash signatures equal
    on some band) and whose estimated word-set Jaccard reaches ``threshold`` (default: the LSH
    threshold) less the estimate margin. Raises ``_TooDense`` past the budget. Whether a pair
    is a candidate depends on the two signatures alone (``candidates_of`` finds the same
    pairs for one new article).

    An array, not tuples: Reuters-21578 has 3.9 million candidates (its templated earnings
    reports share many words), which as Python tuples took over a gigabyte."""
    threshold = config.lsh_threshold if threshold is None else threshold
    if sig is None:
        sig = signatures(shingles, config.num_perm)
    if not len(sig):
        return np.zeros((0, 2), np.int64)
    bands, rows = lsh_bands(threshold, config.num_perm)
    present = np.array([bool(w) for w in shingles])
    keys = _band_keys(sig, bands, rows)
    buckets: list[dict[int, list[int]]] = []
    for band in keys:
        members: dict[int, list[int]] = {}
        for i in np.flatnonzero(present).tolist():
            members.setdefault(int(band[i]), []).append(i)
        buckets.append(members)
    budget = max(config.min_candidate_budget, config.max_candidates_per_article * len(shingles))
    handed_out = 0
    chunks: list[np.ndarray] = []
    floor = threshold - ESTIMATE_MARGIN
    for i in np.flatnonzero(present).tolist():
        found: set[int] = set()
        for band, members in zip(keys, buckets, strict=True):
            found.update(members[int(band[i])])
        handed_out += len(found)
        if handed_out > budget:
            raise _TooDense(handed_out)
        members_of_i = np.fromiter(found, np.int64, len(found))
        later = np.sort(members_of_i[members_of_i > i])
        if not len(later):
            continue
        same = np.count_nonzero(sig[later] == sig[i], axis=1) / np.float64(config.num_perm)
        kept = later[same >= floor]
        if len(kept):
            chunks.append(np.column_stack((np.full(len(kept), i, np.int64), kept)))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2), np.int64)


def candidates_of(
    one: np.ndarray, others: np.ndarray, config: StoryConfig, threshold: float | None = None
) -> np.ndarray:
    """Rows of ``others`` (signatures) that ``candidate_pairs`` would pair with the signature
    ``one``: equal on some band, estimate at or above the floor."""
    threshold = config.lsh_threshold if threshold is None else threshold
    if not len(others):
        return np.zeros(0, np.int64)
    bands, rows = lsh_bands(threshold, config.num_perm)
    equal = others == one[None, :]
    hit = equal[:, : bands * rows].reshape(len(others), bands, rows).all(axis=2).any(axis=1)
    same = np.count_nonzero(equal, axis=1) / np.float64(config.num_perm)
    return np.flatnonzero(hit & (same >= threshold - ESTIMATE_MARGIN))


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
    facts: Sequence[Facts] | None = None,
) -> PairScore:
    """Decide one candidate pair: copy by words, rewrite by aligned paragraphs, or neither;
    with ``facts``, a pair whose figures or names disagree is neither (``facts_disagree``)."""
    jac = jaccard(shingles[i], shingles[j])
    veto = ""
    if facts is not None and jac < 1.0 and (config.veto_copies or jac < config.copy_jaccard):
        veto = facts_disagree(facts[i], facts[j], config, jac >= config.copy_jaccard)
    if jac >= config.copy_jaccard and not veto:
        return PairScore(i, j, jac, None, True, f"copy: {jac:.0%} of words shared")
    if vectors is None:
        return PairScore(i, j, jac, None, False, "", veto)
    ali = alignment(vectors[i], vectors[j])
    same = jac >= config.rewrite_min_jaccard and ali >= config.rewrite_alignment and not veto
    return PairScore(i, j, jac, ali, same, _rewrite_reason(ali, jac) if same else "", veto)


def _rewrite_reason(ali: float, jac: float) -> str:
    return f"rewrite: paragraphs align at {ali:.2f} (cosine), {jac:.0%} of words shared"


#: Encodes texts into unit vectors, one row per text (the builder's cached embedder).
Encode = Callable[[list[str]], np.ndarray]


def paragraph_texts(article: Article) -> list[str]:
    return [p.full_text for p in article.paragraphs]


def identical_reps(ids: Sequence[str], shingles: Sequence[set[str]]) -> list[int]:
    """``reps[i]``: of the articles with exactly the words of article i, the one with the
    smallest id (an article without words is its own). The smallest id, not the first read:
    the choice must not depend on the order the articles came in."""
    best: dict[frozenset[str], int] = {}
    for i, words in enumerate(shingles):
        if words:
            key = frozenset(words)
            j = best.get(key)
            if j is None or ids[i] < ids[j]:
                best[key] = i
    return [best[frozenset(w)] if w else i for i, w in enumerate(shingles)]


def assign_stories(
    articles: Sequence[Article],
    encode: Encode | None = None,
    config: StoryConfig | None = None,
) -> StoryAssignment:
    """Story id for every article. Without ``encode`` only copies (by words) are clustered."""
    config = config or StoryConfig()
    shingles = [word_shingles(a) for a in articles]
    ids = [a.id for a in articles]
    # Articles with the very same words are copies whatever else is true: only one of each
    # such group takes part in the pairwise work and the others follow it. (100,000 copies
    # of one page would make 5e9 pairs.)
    reps = identical_reps(ids, shingles)
    pairs: list[PairScore] = [
        PairScore(r, i, 1.0, None, True, f"copy: {1.0:.0%} of words shared")
        for i, r in enumerate(reps)
        if r != i
    ]
    distinct = [i for i, r in enumerate(reps) if r == i]
    limited = ""
    subset = [shingles[i] for i in distinct]
    sig = signatures(shingles, config.num_perm)
    try:
        local = candidate_pairs(subset, config, sig=sig[distinct])
    except _TooDense:
        try:  # copies need far fewer candidates than rewrites
            local = candidate_pairs(
                subset, config, threshold=config.copy_jaccard, sig=sig[distinct]
            )
            limited = "only copies were grouped into stories, not rewrites"
        except _TooDense:
            local = np.zeros((0, 2), np.int64)
            limited = "only identical articles were grouped into stories"
        limited += (
            f": too many similar articles for the pairwise comparison (more than "
            f"{config.max_candidates_per_article:,} candidates per article)"
        )
    jac = pair_jaccard(subset, local)
    cands = np.asarray(distinct, np.int64)[local].reshape(-1, 2)
    facts: dict[int, Facts] = {}
    pairs += score_candidates(articles, shingles, cands, jac, encode, config, facts)
    pairs.sort(key=lambda p: (p.a, p.b))
    links = [p for p in pairs if p.same_story and reps[p.a] == p.a and reps[p.b] == p.b]
    story_ids, notes = stories_from_links(ids, reps, links, agreement(articles, facts, config))
    return StoryAssignment(story_ids, notes, pairs, limited, reps, shingles, sig)


def score_candidates(
    articles: Sequence[Article],
    shingles: Sequence[set[str]],
    cands: np.ndarray,
    jac: np.ndarray,
    encode: Encode | None,
    config: StoryConfig,
    facts: dict[int, Facts] | None = None,
) -> list[PairScore]:
    """Scores of the candidate pairs ``cands`` (article indices, with their exact Jaccard
    ``jac``) that share at least ``rewrite_min_jaccard`` of their words: the rest can be
    neither copies nor rewrites, and most candidates (the LSH is generous on purpose) stop
    there. Facts are checked before any vector is asked for: a vetoed pair needs none."""
    kept = jac >= min(config.rewrite_min_jaccard, config.copy_jaccard)
    cands, jac = cands[kept], jac[kept]
    facts = {} if facts is None else facts
    for i in np.unique(cands).tolist():
        if i not in facts:
            facts[i] = article_facts(articles[i])
    vetoes = [
        facts_disagree(facts[i], facts[j], config, jc >= config.copy_jaccard)
        if jc < 1.0 and (config.veto_copies or jc < config.copy_jaccard)
        else ""
        for (i, j), jc in zip(cands.tolist(), jac.tolist(), strict=True)
    ]
    vetoed = np.array([bool(v) for v in vetoes], bool)
    copy = (jac >= config.copy_jaccard) & ~vetoed
    ali = np.full(len(cands), np.nan)
    unsettled = ~copy & ~vetoed
    if encode is not None and unsettled.any():
        vectors = encode_articles(articles, np.unique(cands[unsettled]), encode)
        ali[unsettled] = pair_alignments(vectors, cands[unsettled])
    out: list[PairScore] = []
    for (i, j), jc, is_copy, al, veto in zip(
        cands.tolist(), jac.tolist(), copy.tolist(), ali.tolist(), vetoes, strict=True
    ):
        if is_copy:
            out.append(PairScore(i, j, jc, None, True, f"copy: {jc:.0%} of words shared"))
        elif al != al:  # NaN: vetoed, or no vectors asked for
            out.append(PairScore(i, j, jc, None, False, "", veto))
        elif al >= config.rewrite_alignment:
            out.append(PairScore(i, j, jc, al, True, _rewrite_reason(al, jc)))
        else:
            out.append(PairScore(i, j, jc, al, False, ""))
    return out


def agreement(
    articles: Sequence[Article], facts: dict[int, Facts], config: StoryConfig
) -> Callable[[int, int], bool]:
    """Whether two articles' facts agree (``facts_disagree``), facts computed once each."""

    def of(i: int) -> Facts:
        if i not in facts:
            facts[i] = article_facts(articles[i])
        return facts[i]

    return lambda i, j: not facts_disagree(of(i), of(j), config)


def cluster(
    nodes: Iterable[int],
    links: Iterable[tuple[int, int]],
    ids: Sequence[str],
    agree: Callable[[int, int], bool] | None = None,
) -> dict[int, int]:
    """The representative of every node. Nodes with the most links first (ties: the smallest
    article id); each one not yet placed becomes a representative, and its linked nodes not
    yet placed join it in id order, each only if ``agree``s with every member so far (their
    facts do not disagree). No chains: a member is linked to its representative. No hub: an
    article without figures or names links to many briefs that disagree with each other, and
    they do not all join it. The result depends only on the node's connected component."""
    adjacent: dict[int, set[int]] = {n: set() for n in nodes}
    for a, b in links:
        adjacent[a].add(b)
        adjacent[b].add(a)
    order = sorted(adjacent, key=lambda n: (-len(adjacent[n]), ids[n]))
    center: dict[int, int] = {}
    for n in order:
        if n in center:
            continue
        center[n] = n
        story = [n]
        for m in sorted(adjacent[n], key=lambda m: ids[m]):
            if m in center:
                continue
            if agree is None or all(x in adjacent[m] or agree(m, x) for x in story[1:]):
                center[m] = n
                story.append(m)
    return center


def stories_from_links(
    ids: Sequence[str],
    reps: Sequence[int],
    links: Sequence[PairScore],
    agree: Callable[[int, int], bool] | None = None,
) -> tuple[list[str], list[str]]:
    """(story id, note) of every article from the links between representatives of
    identical groups (``reps``): the stories of ``cluster``, each named by its smallest id;
    a note names the article it was linked to in its story, and why."""
    nodes = [i for i, r in enumerate(reps) if r == i]
    center = cluster(nodes, ((p.a, p.b) for p in links), ids, agree)
    by_pair = {(p.a, p.b): p for p in links}
    by_pair.update({(p.b, p.a): p for p in links})
    members: dict[int, list[int]] = {}
    for i, r in enumerate(reps):
        members.setdefault(center[r], []).append(i)
    story_ids = [""] * len(ids)
    notes = [""] * len(ids)
    for c, group in members.items():
        sid = min(ids[i] for i in group)
        best: PairScore | None = None
        for i in sorted(group, key=lambda i: ids[i]):  # ties go to the smallest id
            story_ids[i] = sid
            r = reps[i]
            if i != r:
                notes[i] = f"copy: {1.0:.0%} of words shared with {ids[r]}"
            elif r != c:
                p = by_pair[(r, c)]
                notes[i] = f"{p.reason} with {ids[c]}"
                if best is None or p.jaccard > best.jaccard:
                    best = p
        if best is not None:  # the representative: its closest member
            notes[c] = f"{best.reason} with {ids[best.a if best.b == c else best.b]}"
        elif len(group) > 1:  # only identical copies of it
            other = min((i for i in group if i != c), key=lambda i: ids[i])
            notes[c] = f"copy: {1.0:.0%} of words shared with {ids[other]}"
    return story_ids, notes


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
