"""Story clustering on real text with the real model: copies merge, same-topic news does not."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO, SEEDS, SHARED, require_shared

from newsearch.indexer import BuildOptions, build_index, read_articles
from newsearch.indexer.layout import IndexLayout
from newsearch.indexer.stories import (
    LSH_BANDS,
    StoryConfig,
    alignment,
    article_facts,
    assign_stories,
    candidate_pairs,
    candidates_of,
    cluster,
    facts_disagree,
    jaccard,
    pair_alignments,
    pair_jaccard,
    paragraph_texts,
    score_pair,
    signatures,
    word_shingles,
)
from newsearch.indexer.update import update_index
from newsearch.search import Searcher

BANK = DEMO / "business" / "2026-03-19-central-bank-holds-interest-rates.txt"

#: Same topic (a central bank, rates, inflation, mortgages, the committee's vote), another
#: event: a rate rise by a different bank. Must never join the demo article's story.
SAME_TOPIC_OTHER_EVENT = """Reserve bank raises interest rates to 5.25% to fight inflation

The reserve bank raised its main interest rate by half a point to 5.25 percent on Tuesday, its
third increase this year, as inflation climbed to its highest level in a decade. The move was
larger than most economists had expected.

Consumer prices rose 7.4 percent in the year to September, driven by energy and food costs.
The bank said services inflation and wage growth showed that price pressures were spreading.

"We will do what is necessary to bring inflation back to target," governor Marcus Hale told
reporters. "Acting late would mean acting harder later."

All nine members of the monetary policy committee voted for a rise, though three argued for a
smaller step. The currency strengthened after the announcement and government bond yields rose.

Homeowners on variable mortgages will see monthly payments rise at once. Builders warned that
higher borrowing costs would slow construction, and retailers said spending was already weak.
"""


def _edited(text: str) -> str:
    """A light edit: a few words changed, one paragraph dropped, a sentence added."""
    paragraphs = text.split("\n\n")
    del paragraphs[4]  # the business groups' reaction
    edited = "\n\n".join(paragraphs)
    edited = edited.replace("on Thursday", "this week").replace("widely predicted", "forecast")
    edited = edited.replace("Economists now expect", "Most analysts now expect")
    return edited + "\n\nThe next rate decision is due in six weeks.\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stories")
    original = BANK.read_text(encoding="utf-8")
    _head, body = original.split("\n", 1)
    (root / "a-original.txt").write_text(original, encoding="utf-8")
    (root / "b-exact-copy.txt").write_text(original, encoding="utf-8")
    new_head = "Rates on hold: bank waits for more evidence that inflation is beaten"
    (root / "c-new-headline.txt").write_text(f"{new_head}\n{body}", encoding="utf-8")
    (root / "d-edited.txt").write_text(_edited(original), encoding="utf-8")
    (root / "e-same-topic.txt").write_text(SAME_TOPIC_OTHER_EVENT, encoding="utf-8")
    return root


def stories_of(paths, encode=None) -> dict[str, str]:
    articles = read_articles(paths).articles
    result = assign_stories(articles, encode)
    return {a.id: s for a, s in zip(articles, result.story_ids, strict=True)}


def test_copies_merge_and_same_topic_article_stays_apart(corpus, embedder):
    stories = stories_of([corpus], embedder.encode)
    original = stories["a-original.txt"]
    assert original == "a-original.txt"  # the smallest id names the story
    for copy in ("b-exact-copy.txt", "c-new-headline.txt", "d-edited.txt"):
        assert stories[copy] == original, copy
    assert stories["e-same-topic.txt"] == "e-same-topic.txt"


def test_same_topic_article_is_rejected_by_alignment_not_by_words(corpus, embedder):
    """The negative case must be hard: it shares enough of the topic's words to reach the
    vector check, and is only kept apart because its paragraphs say other things."""
    articles = {a.id: a for a in read_articles([corpus]).articles}
    pair = [articles["a-original.txt"], articles["e-same-topic.txt"]]
    shingles = [word_shingles(a) for a in pair]
    vectors = [embedder.encode(paragraph_texts(a)) for a in pair]
    config = StoryConfig()
    score = score_pair(0, 1, shingles, vectors, config)
    assert config.rewrite_min_jaccard <= score.jaccard < config.copy_jaccard
    assert score.alignment is not None and score.alignment < config.rewrite_alignment
    assert not score.same_story and score.reason == ""
    # The edited copy, by contrast, passes on both counts or as a copy.
    edited = articles["d-edited.txt"]
    shingles[1], vectors[1] = word_shingles(edited), embedder.encode(paragraph_texts(edited))
    assert score_pair(0, 1, shingles, vectors, config).same_story


def test_without_vectors_only_word_copies_merge(corpus):
    stories = stories_of([corpus])
    assert stories["b-exact-copy.txt"] == stories["c-new-headline.txt"] == "a-original.txt"
    assert stories["e-same-topic.txt"] == "e-same-topic.txt"


def test_notes_say_why(corpus, embedder):
    articles = read_articles([corpus]).articles
    result = assign_stories(articles, embedder.encode)
    notes = dict(zip((a.id for a in articles), result.notes, strict=True))
    assert notes["b-exact-copy.txt"].startswith("copy: 100% of words shared with")
    assert notes["e-same-topic.txt"] == ""


def test_seed_rewrites_are_one_story(embedder):
    """Two outlets' rewrites share a third of their words (not enough for a copy) but align
    paragraph by paragraph."""
    stories = stories_of([require_shared(SEEDS)], embedder.encode)
    assert len(set(stories.values())) == 1


def test_demo_has_exactly_one_syndicated_pair(embedder):
    stories = stories_of([DEMO], embedder.encode)
    merged = {a for a, s in stories.items() if list(stories.values()).count(s) > 1}
    assert merged == {
        "business/2026-05-02-harbour-rail-strike-coastal-herald.txt",
        "business/2026-05-02-harbour-rail-strike-daily-ledger.txt",
    }


def test_build_reports_the_texts_it_encoded_for_stories(embedder, tmp_path):
    """The seeds are rewrites (a third of their words shared): their paragraphs are encoded
    alone for the alignment; the build counts those texts apart from the index's, and caches
    them."""
    seeds = require_shared(SEEDS)
    before = embedder.encoded_count
    first = build_index([seeds], tmp_path / "ix", BuildOptions(), embedder=embedder)
    assert first.embedded > 0 and first.story_embedded > 0 and first.stories == 1
    assert embedder.encoded_count - before == first.embedded + first.story_embedded
    again = update_index([seeds], tmp_path / "ix", embedder=embedder, rebuild=True)
    assert (again.embedded, again.story_embedded, again.stories) == (0, 0, 1)
    assert embedder.encoded_count - before == first.embedded + first.story_embedded


def test_pairwise_jaccard_and_alignment_equal_the_scalar_ones():
    """The vectorized forms used on big corpora against the plain definitions: Jaccard
    exactly, alignment to float rounding, on random sets and unit vectors of varied sizes
    (articles without paragraphs included)."""
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(40)]
    shingles = [set(rng.choice(words, size=rng.integers(0, 25))) for _ in range(30)]
    vectors = []
    for _ in range(30):
        v = rng.normal(size=(int(rng.integers(0, 6)), 8)).astype(np.float32)
        vectors.append(v / np.linalg.norm(v, axis=1, keepdims=True) if len(v) else v)
    pairs = np.array([(i, j) for i in range(30) for j in range(i + 1, 30)], np.int64)
    assert pair_jaccard(shingles, pairs).tolist() == [
        jaccard(shingles[i], shingles[j]) for i, j in pairs.tolist()
    ]
    want = [alignment(vectors[i], vectors[j]) for i, j in pairs.tolist()]
    assert np.allclose(pair_alignments(vectors, pairs), want, atol=1e-6)
    assert pair_jaccard(shingles, np.zeros((0, 2), np.int64)).shape == (0,)


def test_candidates_are_an_array_of_ordered_pairs(corpus):
    articles = read_articles([corpus]).articles
    cands = candidate_pairs([word_shingles(a) for a in articles], StoryConfig())
    assert cands.dtype == np.int64 and cands.shape[1] == 2 and len(cands) > 0
    assert (cands[:, 0] < cands[:, 1]).all()


# -- wire-service scale: templated briefs, no chains (issue 14) --------------------------------

REUTERS = SHARED / "data" / "news-large" / "reuters21578"
_BRIEF = re.compile(r"\b(QTR|QTLY|QUARTERLY|DIVIDEND|PAYOUT)\b")


@pytest.fixture(scope="module")
def briefs():
    """The earnings and dividend briefs of the first Reuters-21578 file (159 of its 1,000
    articles): one template, many companies, the articles that chained into one story."""
    sgm = require_shared(REUTERS / "reut2-000.sgm")
    return [a for a in read_articles([sgm]).articles if _BRIEF.search(a.title)]


def test_lsh_bands_are_the_ones_datasketch_picks():
    from datasketch.lsh import _optimal_param

    for (threshold, num_perm), bands in LSH_BANDS.items():
        assert tuple(_optimal_param(threshold, num_perm, 0.5, 0.5)) == bands


def test_candidates_of_one_article_are_the_pairs_of_the_whole_set(briefs):
    """An update finds a new article's candidates against the stored signatures alone; they
    must be exactly the pairs the full set's LSH yields for that article."""
    shingles = [word_shingles(a) for a in briefs]
    sig = signatures(shingles, 128)
    assert np.array_equal(sig, signatures(shingles, 128))  # persisted: must not drift
    pairs = candidate_pairs(shingles, StoryConfig(), sig=sig)
    for i in (0, 17, 58, 101):
        want = sorted({int(b) for a, b in pairs if a == i} | {int(a) for a, b in pairs if b == i})
        got = [j for j in candidates_of(sig[i], sig, StoryConfig()).tolist() if j != i]
        assert got == want


def test_two_companies_earnings_briefs_disagree_on_facts(briefs):
    by_title = {a.title: a for a in briefs}
    brown = article_facts(by_title["BROWN-FORMAN INC <BFD> 4TH QTR NET"])
    united = article_facts(by_title["UNITED PRESIDENTIAL CORP <UPCO> 4TH QTR NET"])
    assert "bfd" in brown.companies and "1.59" in brown.figures
    assert facts_disagree(brown, united, StoryConfig()) == "companies"
    assert facts_disagree(brown, brown, StoryConfig()) == ""
    # without company tags, the figures still tell them apart
    untagged = [
        a.__class__(a.id, re.sub(r"<[^>]*>", "", a.title), a.paragraphs)
        for a in (
            by_title["BROWN-FORMAN INC <BFD> 4TH QTR NET"],
            by_title["UNITED PRESIDENTIAL CORP <UPCO> 4TH QTR NET"],
        )
    ]
    assert facts_disagree(*map(article_facts, untagged), StoryConfig()) == "figures"


def test_positive_controls_agree_on_facts():
    """Both rewrites pairs that must stay one story pass the fact test."""
    for paths in ([require_shared(SEEDS)], sorted(DEMO.rglob("*harbour-rail-strike*.txt"))):
        a, b = read_articles(paths).articles
        assert facts_disagree(article_facts(a), article_facts(b), StoryConfig()) == ""


def test_templated_briefs_of_different_companies_are_never_one_story(briefs, embedder):
    result = assign_stories(briefs, embedder.encode)
    members: dict[str, list[int]] = {}
    for i, sid in enumerate(result.story_ids):
        members.setdefault(sid, []).append(i)
    assert max(len(m) for m in members.values()) <= 5
    config = StoryConfig()
    for group in members.values():
        for x in group:
            for y in group:
                fx, fy = article_facts(briefs[x]), article_facts(briefs[y])
                assert not facts_disagree(fx, fy, config), (briefs[x].title, briefs[y].title)
    vetoed = [p for p in result.pairs if p.veto]
    assert len(vetoed) > 100 and {p.veto for p in vetoed} >= {"companies", "figures"}


def test_links_do_not_chain():
    """a-b and b-c linked, a and c not: b takes one of them, never both (union-find made one
    story of all three; on Reuters such chains joined 2,317 briefs)."""
    ids = ["a", "b", "c"]
    assert cluster(range(3), [(0, 1), (1, 2)], ids, lambda i, j: False) == {1: 1, 0: 1, 2: 2}
    # members that agree with each other may all join the representative
    assert cluster(range(3), [(0, 1), (1, 2)], ids, lambda i, j: True) == {1: 1, 0: 1, 2: 1}


def test_a_company_query_shows_that_companys_report_first(briefs, embedder, tmp_path):
    """A real index of the briefs: the query for one company's results finds its report
    first, in a story of its own (not behind another company's report and "(+N more)")."""
    feed = tmp_path / "briefs.jsonl"
    with feed.open("w", encoding="utf-8") as fh:
        for a in briefs:
            text = "\n\n".join(p.full_text for p in a.paragraphs)
            fh.write(json.dumps({"id": a.id, "title": a.title, "text": text}) + "\n")
    build_index([feed], tmp_path / "ix", BuildOptions(export_onnx=False), embedder=embedder)
    with Searcher(tmp_path / "ix", embedder=embedder) as s:
        for query, company in (
            ("Brown-Forman fourth quarter net", "BROWN-FORMAN"),
            ("Esquire Radio and Electronics quarterly results", "ESQUIRE RADIO"),
        ):
            top = s.search(query, k=3).hits[0]
            assert top.title.startswith(company), (query, top.title)
            assert top.also_in_total == 0, [c.title for c in top.also_in]


# -- incremental updates keep stories right (issue 14) ------------------------------------------


def _stories(index_dir: Path) -> dict[str, tuple[str, str]]:
    layout = IndexLayout(index_dir)
    conn = sqlite3.connect(str(layout.current() / "docstore.sqlite"))
    try:
        return {
            r[0]: (r[1], r[2])
            for r in conn.execute("SELECT id, story_id, story_note FROM articles")
        }
    finally:
        conn.close()


def test_a_rewrite_arriving_later_joins_its_story_and_survives_deletions(embedder, tmp_path):
    """The syndicated pair arrives one copy at a time through incremental updates (how a
    newsroom's feed brings it): the second copy joins the first one's story; deleting the
    story's first article leaves the other alone, with its own id. After every step the
    stories equal a full build's of the same files."""
    corpus, ix = tmp_path / "c", tmp_path / "ix"
    shutil.copytree(DEMO, corpus)
    herald, ledger = sorted(corpus.rglob("*harbour-rail-strike*.txt"))
    held = herald.read_text(encoding="utf-8")
    herald.unlink()
    update_index([corpus], ix, embedder=embedder)
    alone = _stories(ix)
    ledger_id = ledger.relative_to(corpus).as_posix()
    herald_id = herald.relative_to(corpus).as_posix()
    assert alone[ledger_id] == (ledger_id, "")

    def matches_a_full_build() -> dict[str, tuple[str, str]]:
        fresh = tmp_path / f"fresh{len(list(tmp_path.iterdir()))}"
        fresh.mkdir()  # the same embedding cache: no model time, the very same vectors
        shutil.copyfile(IndexLayout(ix).cache_path, IndexLayout(fresh).cache_path)
        update_index([corpus], fresh, embedder=embedder, rebuild=True)
        assert _stories(ix) == _stories(fresh)
        return _stories(ix)

    herald.write_text(held, encoding="utf-8")
    report = update_index([corpus], ix, embedder=embedder)
    assert (report.mode, report.added) == ("incremental", 1)
    assert report.stories == len({sid for sid, _ in alone.values()})  # joined, not a new one
    joined = matches_a_full_build()
    assert joined[ledger_id][0] == joined[herald_id][0] == min(ledger_id, herald_id)
    assert joined[ledger_id][1].startswith("rewrite: paragraphs align at")

    herald.unlink()  # the story's id (its smallest article id) goes
    update_index([corpus], ix, embedder=embedder)
    left = matches_a_full_build()
    assert left[ledger_id] == (ledger_id, "") and herald_id not in left


def test_word_shingles_are_the_words_of_whooshs_stemming_analyzer(tmp_path):
    """The one-pass shingles hold exactly the stemmed words the analyzer gives the text."""
    from whoosh.analysis import StemmingAnalyzer

    edge = tmp_path / "edge.txt"
    edge.write_text(
        "U.S. A I'm ÉCOLE naïve café's 3.5% to be OR not x y z2 _under_ ran running runs\n\n"
        "The U.S.A. and U.K. ... e.g. 1,000,000 ALL-CAPS Straße İstanbul ﬁnance Ⅻ\n",
        encoding="utf-8",
    )
    articles = list(read_articles([edge, DEMO]).articles)
    articles += read_articles([require_shared(SHARED / "data" / "bbc" / "tech")]).articles
    reuters = SHARED / "data" / "news-large" / "reuters21578" / "reut2-000.sgm"
    articles += read_articles([require_shared(reuters)]).articles[:400]
    analyzer = StemmingAnalyzer()
    for a in articles:
        text = " ".join([a.title, *(p.full_text for p in a.paragraphs)])
        assert word_shingles(a) == {t.text for t in analyzer(text)}, a.id
