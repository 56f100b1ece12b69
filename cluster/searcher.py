"""``Searcher`` over a cluster directory: the same API and the same JSON as over one index."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from newsearch.indexer.encoders import Encoder
from newsearch.indexer.stores import Generation
from newsearch.search.searcher import SearchConfig, Searcher

from .generation import ShardedGeneration
from .manifest import ClusterManifest, is_cluster


class ClusterSearcher(Searcher):
    """Searches every shard of a cluster built by ``build_cluster``: in this process, or with
    ``ray_address`` through one Ray Serve deployment per shard with ``replicas`` replicas
    (``deployments.py``: Serve replaces a replica that dies; a call it was running goes to
    another one). The searcher deploys the shards and deletes them on ``close``, unless
    ``ray_apps`` names the prefix of shards another process deployed (``deployed``), which it
    then only calls.

    The generation is the shards' published ones when the searcher opens; ``refresh`` is a
    no-op (open a new searcher after a rebuild).
    """

    def __init__(
        self,
        cluster_dir: str | os.PathLike[str],
        model_path: str | os.PathLike[str] | None = None,
        config: SearchConfig | None = None,
        embedder: Encoder | None = None,
        ray_address: str | None = None,
        replicas: int = 1,
        ray_apps: str | None = None,
        shard_timeout: float | None = None,
    ) -> None:
        self.manifest = ClusterManifest.load(cluster_dir)
        self._exit = contextlib.ExitStack()
        self._ray_address = ray_address
        self._replicas = replicas
        self._ray_apps = ray_apps
        self._shard_timeout = shard_timeout
        try:
            super().__init__(cluster_dir, model_path, config, embedder)
        except BaseException:
            self._exit.close()
            raise

    def _open_generation(self) -> Generation:
        root = Path(self.layout.root)
        shards = None
        if self._ray_address is not None:
            from .deployments import SHARD_TIMEOUT, ServeApps, ServeShards, deploy
            from .runtime import connected

            self._exit.enter_context(connected(self._ray_address))
            dirs = self.manifest.shard_dirs(root.resolve())
            timeout = self._shard_timeout or SHARD_TIMEOUT
            if self._ray_apps is not None:
                apps = ServeApps(self._ray_apps, tuple(d.name for d in dirs))
            else:
                apps = ServeApps.new(dirs)
                deploy(dirs, self.config.keyword, self._replicas, apps)
            shards = ServeShards(apps, owner=self._ray_apps is None, timeout=timeout)
        return ShardedGeneration(root, self.manifest, self.config.keyword, shards)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._exit.close()

    def refresh(self) -> bool:
        return False


def open_searcher(
    index_dir: str | os.PathLike[str], model_path: str | os.PathLike[str] | None = None
) -> Searcher:
    """A ``ClusterSearcher`` for a cluster directory, else a ``Searcher`` for an index."""
    if is_cluster(index_dir):
        return ClusterSearcher(index_dir, model_path=model_path)
    return Searcher(index_dir, model_path=model_path)
