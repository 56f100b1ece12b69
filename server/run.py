"""Starting the server: one process (the app runs the watcher), or N worker processes that
each follow the index while this process runs the watcher.

Workers share nothing but the index directory: each opens the published generation and
moves to a new one within ``poll`` seconds of its publication, whichever process wrote it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Callable

from newsearch.indexer.errors import NewsearchError

from .config import ServerConfig


class ServeError(NewsearchError):
    """The server cannot start (the address is taken, a bad option)."""


def check_address(host: str, port: int) -> None:
    """Fail with one line before uvicorn logs a traceback-like message for a taken port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(
    config: ServerConfig,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    say: Callable[[str], None] = print,
    access_log: bool = False,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    import logging

    import uvicorn

    if workers < 1:
        raise ServeError(f"--workers must be at least 1, got {workers}")
    if not 0 <= port <= 65535:
        raise ServeError(f"--port must be from 0 to 65535, got {port}")
    from newsearch.cluster.manifest import is_cluster

    cluster = is_cluster(config.index_dir)
    if config.ray_address is not None and not cluster:
        raise ServeError(
            f"--ray serves a cluster directory (--cluster DIR); {config.index_dir} is none "
            "(build one with `newsearch index PATH --shards N`)"
        )
    if config.replicas != 1 and config.ray_address is None:
        raise ServeError(f"--replicas needs --ray (got --replicas {config.replicas})")
    if config.replicas < 1:
        raise ServeError(f"--replicas must be at least 1, got {config.replicas}")
    if config.watch and cluster:
        raise ServeError(
            "--watch follows one index; a cluster directory is rebuilt with "
            "`newsearch index PATH --index-dir DIR --shards N` and the server moves to the "
            "new build by itself"
        )
    check_address(host, port)
    logging.getLogger("newsearch.server").setLevel(logging.INFO)
    where = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    what = f"cluster {config.index_dir}" if cluster else str(config.index_dir)
    if config.ray_address is not None:
        what += (
            f" (shards as Ray Serve deployments on {config.ray_address}, "
            f"{config.replicas} replica{'s' if config.replicas > 1 else ''} each)"
        )
    say(f"serving {what} at {where} (API docs at {where}/docs; Ctrl-C to stop)")
    common = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": access_log,
        "timeout_graceful_shutdown": 5,
    }
    if workers == 1:
        from .app import create_app

        uvicorn.run(create_app(config), **common)
        return

    from .backend import shared_shards
    from .watcher import Watcher

    with shared_shards(config, workers) as config:  # over Ray: deployed once, for all workers
        os.environ["NEWSEARCH_SERVE_CONFIG"] = json.dumps(
            {k: v for k, v in dataclasses.asdict(config).items() if k != "search"}
        )
        watcher = Watcher(config, say=say) if config.watch else None
        if watcher is not None:
            watcher.start()
        try:
            uvicorn.run(
                "newsearch.server.app:app_from_env", factory=True, workers=workers, **common
            )
        finally:
            if watcher is not None:
                watcher.stop()
