"""Scale-out on Ray: a corpus built as N shard indexes over a cluster, searched as one index.

``build_cluster`` partitions the articles so that every story lies in one shard, builds each
shard as a complete newsearch index (Ray tasks, or in this process), and writes
``cluster.json``; ``ClusterSearcher`` searches the shards and answers as ``Searcher`` does over
one index of the same articles (global BM25 statistics, merged candidate lists, the same
fusion, collapse and snippets), its shards in this process or each a Ray Serve deployment
(``deployments.py``). Layering: this package imports ``indexer`` and ``search``; only the
CLI, the server and the public face import it. Ray itself is imported only where a build or
a search runs on a cluster (``pip install 'newsearch[cluster]'``).
"""
