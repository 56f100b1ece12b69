"""Each shard as a Ray Serve deployment, called through deployment handles.

One Serve application per shard (``<prefix>-shard-NNN``), holding one deployment named after
the shard whose replicas are ``ShardServer`` objects with the shard open. Ray Serve keeps the
replica count: a replica whose process dies is health-checked out and started again, on any
node (they take no CPU slot). The router (the process that runs ``ClusterSearcher``: the HTTP
server, a script) holds one handle per shard; Serve's handle routes a call to a live replica.

A call that was running on a replica when it died fails with ``RayActorError``; the shards
are read-only, so the same call is sent again through the handle (which has dropped the dead
replica) until the shard answers or ``timeout`` runs out. Only then is the shard unavailable:
an error naming it (503 over HTTP), never a page without that shard's articles.

No HTTP proxy: Serve is started with ``proxy_location="Disabled"`` (handles only), so Serve
listens nowhere. Ray is imported only when a cluster is served.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsearch.indexer.keyword import KeywordConfig

from .runtime import ClusterError, import_ray
from .shard import ShardServer

#: Seconds a shard may take to answer one call, waiting for a live replica included (a
#: replaced replica needs a few seconds to start and open its shard).
SHARD_TIMEOUT = 5.0
#: How often Serve's controller checks each replica (a dead one is replaced after this).
HEALTH_CHECK_PERIOD = 1.0


class ShardUnavailable(ClusterError):
    """A shard did not answer: the page would be incomplete, so there is none."""

    exit_code = 3


@dataclass(frozen=True)
class ServeApps:
    """Where a cluster's shards are deployed: application ``f"{prefix}-{shard}"`` holds
    deployment ``shard``."""

    prefix: str
    shards: tuple[str, ...]

    @classmethod
    def new(cls, dirs: list[Path]) -> ServeApps:
        """A prefix of its own: two servers of one cluster never share (or delete) apps."""
        return cls(f"newsearch-{uuid.uuid4().hex[:8]}", tuple(d.name for d in dirs))

    def app(self, shard: str) -> str:
        return f"{self.prefix}-{shard}"


def _serve() -> Any:
    import_ray()
    from ray import serve

    # Serve logs each deployment step at INFO to the driver's stderr (the server's log).
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    return serve


def deploy(
    dirs: list[Path],
    keyword_config: KeywordConfig | None,
    replicas: int,
    apps: ServeApps,
) -> None:
    """Deploy every shard (``replicas`` each) and wait until all replicas run."""
    if replicas < 1:
        raise ClusterError(f"replicas must be at least 1, got {replicas}")
    serve = _serve()
    serve.start(proxy_location="Disabled")  # handles only: Serve listens nowhere
    shard = serve.deployment(
        ShardServer,
        num_replicas=replicas,
        ray_actor_options={"num_cpus": 0},
        max_ongoing_requests=16,
        health_check_period_s=HEALTH_CHECK_PERIOD,
        health_check_timeout_s=10.0,
        graceful_shutdown_timeout_s=2.0,
        graceful_shutdown_wait_loop_s=0.5,
    )
    targets = [
        serve.RunTarget(
            shard.options(name=d.name).bind(str(d), keyword_config),
            name=apps.app(d.name),
            route_prefix=None,
        )
        for d in dirs
    ]
    try:
        serve.run_many(targets)
    except Exception as exc:  # a replica that cannot open its shard fails the deployment
        undeploy(apps)
        first = next((line for line in str(exc).splitlines() if line.strip()), repr(exc))
        raise ClusterError(f"the shards did not start on Ray Serve: {first}") from None


def undeploy(apps: ServeApps) -> None:
    """Delete the shards' applications (their replicas stop); Serve itself keeps running."""
    serve = _serve()
    for shard in apps.shards:
        with contextlib.suppress(Exception):  # not deployed, or Serve already gone
            serve.delete(apps.app(shard))


@contextlib.contextmanager
def deployed(
    dirs: list[Path], keyword_config: KeywordConfig | None, replicas: int
) -> Iterator[ServeApps]:
    """The shards deployed for the duration (Ray connected by the caller)."""
    apps = ServeApps.new(dirs)
    deploy(dirs, keyword_config, replicas, apps)
    try:
        yield apps
    finally:
        undeploy(apps)


class ServeShards:
    """``Fanout`` over the shards' deployment handles.

    ``owner``: this object deployed ``apps`` (``deploy``) and deletes them on ``close``;
    otherwise it attaches to apps another process deployed (a server's worker processes).
    """

    def __init__(self, apps: ServeApps, owner: bool = False, timeout: float = SHARD_TIMEOUT):
        ray = import_ray()
        serve = _serve()
        self._errors = ray.exceptions
        from ray.serve.exceptions import RayServeException

        self._serve_error = RayServeException
        self.apps = apps
        self.owner = owner
        self.timeout = timeout
        self.names = list(apps.shards)
        try:
            self.handles = [serve.get_deployment_handle(s, apps.app(s)) for s in self.names]
        except Exception as exc:  # no Serve controller, or the apps are gone
            self.close()
            raise ClusterError(f"the shards are not deployed on Ray Serve: {exc}") from None

    def call(self, method: str, *args: Any) -> list[Any]:
        deadline = time.monotonic() + self.timeout
        sent = [getattr(h, method).remote(*args) for h in self.handles]
        return [
            self._result(name, handle, response, method, args, deadline)
            for name, handle, response in zip(self.names, self.handles, sent, strict=True)
        ]

    def _result(
        self, name: str, handle: Any, response: Any, method: str, args: tuple, deadline: float
    ) -> Any:
        errors = self._errors
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                return response.result(timeout_s=left)
            except TimeoutError:
                with contextlib.suppress(Exception):
                    response.cancel()
                raise ShardUnavailable(
                    f"shard {name} is not answering (no live replica within {self.timeout:g} s)"
                ) from None
            except errors.RayActorError:
                # The replica died under this call: the handle has dropped it, so the call
                # goes to another replica (or waits for the one Serve starts instead).
                time.sleep(0.05)
                response = getattr(handle, method).remote(*args)
            except errors.RayTaskError as exc:
                cause = exc.cause if getattr(exc, "cause", None) else exc
                raise ClusterError(f"shard {name}: {cause}") from None
            except self._serve_error as exc:  # the deployment was deleted, Serve is down
                first = next((x for x in str(exc).splitlines() if x.strip()), repr(exc))
                raise ShardUnavailable(f"shard {name} is not answering ({first})") from None

    def close(self) -> None:
        if self.owner:
            undeploy(self.apps)
