"""Connecting this process to Ray: an existing cluster by address, or a local instance.

Ray is imported here only, when a cluster command runs: importing newsearch never loads it.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from newsearch.indexer.errors import NewsearchError


class ClusterError(NewsearchError):
    """Ray is missing, or the cluster cannot be reached or failed a task."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "Ray is not installed: pip install 'newsearch[cluster]' (or `make install`)"
        ) from None
    return ray


#: This process's connection: (address, number of ``connected`` blocks using it).
_connection: list[Any] = [None, 0]
_connection_lock = threading.Lock()


@contextmanager
def connected(address: str) -> Iterator[Any]:
    """``ray`` connected to ``address`` (``host:port`` of the head's GCS, ``ray://...``) or,
    for ``auto``, to a new local Ray instance; disconnected (the local one stopped) when the
    last block using the connection exits.

    A process has one Ray connection: nested or overlapping blocks on the same address share
    it (a server opens a cluster's new build while the old one is still in service).

    A head on a loopback address other than 127.0.0.1 (a test cluster of several local nodes)
    needs the driver to say it is on that address too, or Ray looks for a raylet on the
    machine's outer address.
    """
    ray = import_ray()
    with _connection_lock:
        if _connection[1] == 0:
            _init(ray, address)
            _connection[0] = address
        elif _connection[0] != address or address == "auto":
            raise ClusterError(
                f"this process is connected to Ray at {_connection[0]} already "
                f"(cannot also connect to {address})"
            )
        _connection[1] += 1
    try:
        yield ray
    finally:
        with _connection_lock:
            _connection[1] -= 1
            if _connection[1] == 0:
                ray.shutdown()


def _init(ray: Any, address: str) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False}
    if address == "auto":
        # "local": always a new instance (a bare ray.init() would join any cluster that
        # `ray start` left on this machine, someone else's included).
        kwargs.update(address="local", include_dashboard=False)
    else:
        kwargs["address"] = address
        host = address.rsplit(":", 1)[0]
        try:
            if ipaddress.ip_address(host).is_loopback:
                kwargs["_node_ip_address"] = host
        except ValueError:
            pass
    try:
        ray.init(**kwargs)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError from ray.init
        raise ClusterError(f"cannot connect to Ray at {address}: {exc}") from None
