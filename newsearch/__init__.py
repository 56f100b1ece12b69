"""newsearch: hybrid (BM25 + dense vector) search over news articles.

The public face for applications that embed the engine::

    from newsearch import Searcher, SearchConfig, Filter, Fusion, build_index, update_index
    from newsearch import index_status
    from newsearch.errors import NewsearchError

A corpus built as shards (``build_cluster``, on Ray with the ``[cluster]`` extra) is searched
with ``ClusterSearcher``: the same API and the same results as ``Searcher`` over one index.

Names load on first use (PEP 562): importing ``newsearch`` costs nothing, and an app that only
searches never imports the indexer's writers, Whoosh or FAISS before its first query.
Layering below this face: ``cli -> search -> indexer``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsearch.indexer.lazy import lazy_attributes

if TYPE_CHECKING:
    from newsearch.cluster.build import ClusterBuildReport, build_cluster
    from newsearch.cluster.searcher import ClusterSearcher
    from newsearch.indexer.builder import BuildOptions, build_index
    from newsearch.indexer.reports import BuildReport, UpdateReport
    from newsearch.indexer.status import IndexStatus, index_status
    from newsearch.indexer.update import update_index
    from newsearch.search.filters import Filter
    from newsearch.search.fusion import Fusion
    from newsearch.search.recency import Recency
    from newsearch.search.related import RelatedConfig, RelatedResults
    from newsearch.search.results import ArticleHit, ParagraphHit, SearchResults, StoryCopy
    from newsearch.search.searcher import SearchConfig, Searcher

#: Public name -> the module that defines it.
_WHERE = {
    "Searcher": "newsearch.search.searcher",
    "SearchConfig": "newsearch.search.searcher",
    "Filter": "newsearch.search.filters",
    "Fusion": "newsearch.search.fusion",
    "Recency": "newsearch.search.recency",
    "RelatedConfig": "newsearch.search.related",
    "RelatedResults": "newsearch.search.related",
    "SearchResults": "newsearch.search.results",
    "ArticleHit": "newsearch.search.results",
    "ParagraphHit": "newsearch.search.results",
    "StoryCopy": "newsearch.search.results",
    "BuildOptions": "newsearch.indexer.builder",
    "build_index": "newsearch.indexer.builder",
    "update_index": "newsearch.indexer.update",
    "BuildReport": "newsearch.indexer.reports",
    "UpdateReport": "newsearch.indexer.reports",
    "index_status": "newsearch.indexer.status",
    "IndexStatus": "newsearch.indexer.status",
    "ClusterSearcher": "newsearch.cluster.searcher",
    "build_cluster": "newsearch.cluster.build",
    "ClusterBuildReport": "newsearch.cluster.build",
}


__getattr__ = lazy_attributes(__name__, _WHERE, globals())


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "ArticleHit",
    "BuildOptions",
    "BuildReport",
    "ClusterBuildReport",
    "ClusterSearcher",
    "Filter",
    "Fusion",
    "IndexStatus",
    "ParagraphHit",
    "Recency",
    "RelatedConfig",
    "RelatedResults",
    "SearchConfig",
    "SearchResults",
    "Searcher",
    "StoryCopy",
    "UpdateReport",
    "build_cluster",
    "build_index",
    "index_status",
    "update_index",
]
