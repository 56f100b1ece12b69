"""What the server searches: one factory, so the app is the same over an index or a cluster.

An index directory is a ``LiveIndex`` (it follows each published generation); a cluster
directory (``cluster.json``, built by ``newsearch index --shards/--ray``) is a
``ClusterSearcher`` held by a ``FollowedCluster`` (it moves to each new build of the
cluster without a restart): its shards in this process, or with
``config.ray_address`` one Ray Serve deployment per shard on that cluster (``config.replicas``
replicas each, called through deployment handles).

With several server processes (``--workers``), ``shared_shards`` deploys the shards once, in
the parent process, and every worker attaches to those deployments (``config.ray_apps``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from newsearch.search.live import LiveIndex, Refused, StaticIndex, _Open
from newsearch.search.searcher import Searcher

from .config import ServerConfig

Served = LiveIndex | StaticIndex


class FollowedCluster(StaticIndex):
    """A cluster directory served across its rebuilds, without a restart.

    ``build_cluster`` replaces ``cluster.json`` last, once every shard is built. When it
    changes, the new build is opened beside the one in service (on Ray: deployed under a
    prefix of its own), then swapped in; the old one is closed ``grace`` seconds later, so
    requests that started on it finish on it (a page token of the old build is then refused
    with 410, as a superseded generation's is). A new build that fails to open is refused
    (``refused``, in /status) and the old one stays in service.
    """

    def __init__(
        self,
        cluster_dir: str | os.PathLike[str],
        open_searcher: Callable[[], Searcher],
        log: Callable[[str], None] | None = None,
        grace: float = 15.0,
    ) -> None:
        super().__init__(open_searcher, log)
        from newsearch.cluster.manifest import MANIFEST_FILE

        self._manifest = Path(cluster_dir) / MANIFEST_FILE
        self._grace = grace
        self._opened_as: tuple[int, int, int] | None = None
        self._follow_lock = threading.Lock()
        self._retired: list[tuple[threading.Timer, _Open]] = []

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = self._manifest.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _build_name(self) -> str:
        from newsearch.cluster.generation import build_name
        from newsearch.cluster.manifest import ClusterManifest

        try:
            return build_name(ClusterManifest.load(self._manifest.parent))
        except Exception:  # unreadable: name the file
            return str(self._manifest)

    def refresh(self) -> bool:
        """Open the cluster if nothing is open, or its new build if it was rebuilt; True if
        a build went into service now."""
        with self._follow_lock:
            if self._stop.is_set():
                return False
            seen = self._signature()
            if self._current is None:
                opened = super().refresh()
                if opened:
                    self._opened_as = seen
                return opened
            if seen is None or seen == self._opened_as:
                return False
            self._opened_as = seen  # tried once per build: a failed deploy is not repeated
            try:
                new = _Open(self._open_searcher())
            except Exception as exc:  # any failure: the build in service stays
                self.refused = Refused(self._build_name(), str(exc), time.time())
                self._log(f"the new build of {self._manifest.parent} was not opened: {exc}")
                return False
            with self._lock:
                old, self._current = self._current, new
                self.refused = None
                self.switched_at = time.time()
            timer = threading.Timer(self._grace, self._retire, args=(old,))
            timer.daemon = True
            timer.start()
            self._retired = [(t, o) for t, o in self._retired if not o.closing]
            self._retired.append((timer, old))
        self._log(f"serving {new.name}")
        return True

    def start(self, poll: float = 0.2) -> None:
        """Open now (or retry until open), then look for a new build every ``poll`` seconds
        (at least 1)."""
        if self._poller is not None:
            return
        self.refresh()

        def loop() -> None:
            while not self._stop.wait(max(poll, 1.0)):
                self.refresh()

        self._poller = threading.Thread(target=loop, name="newsearch-cluster", daemon=True)
        self._poller.start()

    def _retire(self, old: _Open) -> None:
        """Close a build that went out of service (once: by its timer or by ``close``)."""
        with self._lock:
            if old.closing:
                return
            old.closing = True
        with contextlib.suppress(Exception):  # its shards or Ray already gone
            old.searcher.close()

    def close(self) -> None:
        self._stop.set()
        with self._follow_lock:
            retired, self._retired = self._retired, []
        for timer, old in retired:
            timer.cancel()
            self._retire(old)
        super().close()


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

    if config.ray_apps is not None:
        # Worker processes over Ray call deployments the parent made: a rebuild needs the
        # parent to deploy anew, so they serve the build they opened (restart to move on).
        return StaticIndex(open_cluster, log=log)
    return FollowedCluster(config.index_dir, open_cluster, log=log, grace=config.timeout + 5)


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
