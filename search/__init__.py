"""Search: open an index once, then ``search(query, k, mode)`` from any number of threads.

from newsearch.search import Searcher

searcher = Searcher("index_data")
for hit in searcher.search("security guarantees", k=5):
    print(hit.rank, hit.title, hit.best.text)
"""

from .fusion import Fusion, convex, rrf
from .results import ArticleHit, ParagraphHit, SearchResults
from .searcher import MODES, SearchConfig, Searcher

__all__ = [
    "MODES",
    "ArticleHit",
    "Fusion",
    "ParagraphHit",
    "SearchConfig",
    "SearchResults",
    "Searcher",
    "convex",
    "rrf",
]
