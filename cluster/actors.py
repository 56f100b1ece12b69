"""One Ray actor per shard: the shard's stores open on a cluster node, queried at once.

The router (the process that runs ``ClusterSearcher(..., ray_address=...)``) encodes the
query, fans each step out to the actors (``ray.get`` on all of them together), merges, and
runs fusion, collapse and snippets itself. A shard whose actor died is an error naming the
shard (``ShardUnavailable``), never a page silently missing that shard's articles.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from newsearch.indexer.keyword import KeywordConfig

from .runtime import ClusterError, import_ray
from .shard import ShardServer


class ShardUnavailable(ClusterError):
    """A shard did not answer: the page would be incomplete, so there is none."""

    exit_code = 3


class RayShards:
    """``Fanout`` over Ray actors, ``replicas`` per shard, spread over the nodes.

    A call goes to one live replica of each shard; when that replica's actor has died the
    same call goes to the next replica (the shards are read-only, so a repeated call is
    harmless), and the dead one is dropped. Only a shard with no live replica left fails.
    """

    def __init__(
        self,
        dirs: list[Path],
        keyword_config: KeywordConfig | None = None,
        replicas: int = 1,
    ) -> None:
        if replicas < 1:
            raise ClusterError(f"replicas must be at least 1, got {replicas}")
        ray = import_ray()
        self._ray = ray
        self._lock = threading.Lock()
        self.names = [d.name for d in dirs]
        actor = ray.remote(num_cpus=0, scheduling_strategy="SPREAD", max_restarts=0)(ShardServer)
        #: Live replicas per shard, in the order calls try them.
        self.replicas = [
            [actor.remote(str(d), keyword_config) for _ in range(replicas)] for d in dirs
        ]
        for name, shard in zip(self.names, self.replicas, strict=True):
            try:  # every replica opened, or a clear error now
                ray.get([a.ping.remote() for a in shard])
            except ray.exceptions.RayActorError:
                self.close()
                raise ShardUnavailable(f"shard {name} did not open (its actor died)") from None

    @property
    def actors(self) -> list[Any]:
        """The replica each shard's calls go to first."""
        return [r[0] for r in self.replicas if r]

    def call(self, method: str, *args: Any) -> list[Any]:
        ray = self._ray
        with self._lock:
            tried = [list(r) for r in self.replicas]
        refs = [getattr(r[0], method).remote(*args) if r else None for r in tried]
        out = []
        for i, (name, ref) in enumerate(zip(self.names, refs, strict=True)):
            while True:
                try:
                    if ref is None:
                        raise ShardUnavailable(f"shard {name} is not answering (its actor died)")
                    out.append(ray.get(ref))
                    break
                except ray.exceptions.RayActorError:
                    dead = tried[i].pop(0)
                    with self._lock:
                        if dead in self.replicas[i]:
                            self.replicas[i].remove(dead)
                    ref = getattr(tried[i][0], method).remote(*args) if tried[i] else None
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if getattr(exc, "cause", None) else exc
                    raise ClusterError(f"shard {name}: {cause}") from None
        return out

    def close(self) -> None:
        for a in (a for r in self.replicas for a in r):
            with contextlib.suppress(Exception):  # already gone
                self._ray.kill(a)
        self.replicas = []
