"""How ``newsearch serve`` serves: one dataclass, shared by the app, the watcher and ``run``."""

from __future__ import annotations

from dataclasses import dataclass, field

from newsearch.search.searcher import SearchConfig

#: Largest request body accepted (bytes): a query body is a few hundred.
MAX_BODY = 64 * 1024
#: Seconds a request may take before it is answered 504.
TIMEOUT = 10.0


@dataclass
class ServerConfig:
    """How the app serves; ``watch`` paths are followed by the process that runs the app
    (``run.serve`` decides which one that is)."""

    index_dir: str
    model_path: str | None = None
    watch: list[str] = field(default_factory=list)
    debounce: float = 1.0
    timeout: float = TIMEOUT
    max_body: int = MAX_BODY
    poll: float = 0.2
    keep_generations: int = 4
    search: SearchConfig | None = None
    #: A cluster directory's shards as Ray Serve deployments on this cluster (None: in this
    #: process).
    ray_address: str | None = None
    #: Replicas per shard deployment (with ``ray_address``): Serve replaces one that dies.
    replicas: int = 1
    #: The prefix of shard deployments another process made (``backend.shared_shards``, for
    #: worker processes); None: the server deploys the shards itself.
    ray_apps: str | None = None
