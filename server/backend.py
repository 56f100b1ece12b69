"""What the server searches: one factory, so the app is the same over an index or a cluster.

An index directory is a ``LiveIndex`` (it follows each published generation); a cluster
directory (``cluster.json``, built by ``newsearch index --shards/--ray``) is a
``ClusterSearcher`` held by a ``StaticIndex``: its shards in this process, or with
``config.ray_address`` one Ray Serve deployment per shard on that cluster (``config.replicas``
replicas each, called through deployment handles).

With several server processes (``--workers``), ``shared_shards`` deploys the shards once, in
the parent process, and every worker attaches to those deployments (``config.ray_apps``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

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
            ray_apps=config.ray_apps,
        )

    return StaticIndex(open_cluster, log=log)


@contextlib.contextmanager
def shared_shards(config: ServerConfig, workers: int) -> Iterator[ServerConfig]:
    """``config`` for ``workers`` server processes: over a cluster on Ray with more than one
    worker, the shards deployed here for the duration and named in ``ray_apps`` (each worker
    connects to Ray as a driver of its own and calls the same deployments); else unchanged."""
    if workers <= 1 or config.ray_address is None or config.ray_apps is not None:
        yield config
        return
    from pathlib import Path

    from newsearch.cluster.deployments import deployed
    from newsearch.cluster.manifest import ClusterManifest
    from newsearch.cluster.runtime import connected
    from newsearch.search.searcher import SearchConfig

    dirs = ClusterManifest.load(config.index_dir).shard_dirs(Path(config.index_dir).resolve())
    keyword = (config.search or SearchConfig()).keyword
    with (
        connected(config.ray_address),
        deployed(dirs, keyword, config.replicas) as apps,
    ):
        yield dataclasses.replace(config, ray_apps=apps.prefix)
