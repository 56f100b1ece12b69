"""One Ray actor per shard: the shard's stores open on a cluster node, queried at once.

The router (the process that runs ``ClusterSearcher(..., ray_address=...)``) encodes the
query, fans each step out to the actors (``ray.get`` on all of them together), merges, and
runs fusion, collapse and snippets itself. A shard whose actor died is an error naming the
shard (``ShardUnavailable``), never a page silently missing that shard's articles.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from newsearch.indexer.keyword import KeywordConfig

from .runtime import ClusterError, import_ray
from .shard import ShardServer


class ShardUnavailable(ClusterError):
    """A shard did not answer: the page would be incomplete, so there is none."""

    exit_code = 3


class RayShards:
    """``Fanout`` over Ray actors, one per shard, spread over the nodes."""

    def __init__(self, dirs: list[Path], keyword_config: KeywordConfig | None = None) -> None:
        ray = import_ray()
        self._ray = ray
        self.names = [d.name for d in dirs]
        actor = ray.remote(num_cpus=0, scheduling_strategy="SPREAD", max_restarts=0)(ShardServer)
        self.actors = [actor.remote(str(d), keyword_config) for d in dirs]
        self.call("ping")  # every shard opened, or a clear error now

    def call(self, method: str, *args: Any) -> list[Any]:
        ray = self._ray
        refs = [getattr(a, method).remote(*args) for a in self.actors]
        out = []
        for name, ref in zip(self.names, refs, strict=True):
            try:
                out.append(ray.get(ref))
            except ray.exceptions.RayActorError:
                raise ShardUnavailable(f"shard {name} is not answering (its actor died)") from None
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) else exc
                raise ClusterError(f"shard {name}: {cause}") from None
        return out

    def close(self) -> None:
        for a in self.actors:
            with contextlib.suppress(Exception):  # already gone
                self._ray.kill(a)
        self.actors = []
