"""What the server searches: one factory, so the app is the same over an index or a cluster.

An index directory is a ``LiveIndex`` (it follows each published generation); a cluster
directory (``cluster.json``, built by ``newsearch index --shards/--ray``) is a
``ClusterSearcher`` held by a ``StaticIndex``: its shards in this process, or with
``config.ray_address`` one Ray actor per shard on that cluster.
"""

from __future__ import annotations

from collections.abc import Callable

from newsearch.search.live import LiveIndex, StaticIndex

from .config import ServerConfig

Served = LiveIndex | StaticIndex


def open_served(config: ServerConfig, log: Callable[[str], None] | None = None) -> Served:
    """The searcher source for ``config.index_dir`` (opened by its ``start``)."""
    from newsearch.cluster.manifest import is_cluster

    if not is_cluster(config.index_dir):
        return LiveIndex(
            config.index_dir,
            config.model_path,
            config=config.search,
            keep=config.keep_generations,
            log=log,
        )

    def open_cluster():  # type: ignore[no-untyped-def]
        from newsearch.cluster.searcher import ClusterSearcher

        return ClusterSearcher(
            config.index_dir,
            config.model_path,
            config=config.search,
            ray_address=config.ray_address,
            replicas=config.replicas,
        )

    return StaticIndex(open_cluster, log=log)
