"""A real two-node Ray cluster on this machine, for the cluster tests.

Two ``ray start --block`` processes, a head on 127.0.0.2 and a worker on 127.0.0.3, one CPU
and a small object store each: two nodes as Ray sees them (two raylets, two object stores,
tasks scheduled between them), on loopback only. Each is started in a new session, so every
process Ray forks under it (GCS, raylet, workers, which set their own process groups) keeps
that session id; stopping the cluster ends the processes of those two sessions and nothing
else (never ``ray stop``, which would end other people's Ray processes on a shared machine).

Ray 2.60's GCS, raylets and agents listen on every interface (0.0.0.0), whatever
``--node-ip-address`` says. So the cluster runs in a private network namespace holding only a
loopback device (``unshare --net``, then ``nsenter`` for each Ray process and driver): nothing
it opens can be reached from outside it. ``LocalRayCluster.prefix`` is the command prefix that
runs a driver (the CLI, a script) inside that namespace.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HEAD_IP = "127.0.0.2"
WORKER_IP = "127.0.0.3"
#: Per node. Ray refuses less than ~75 MB; 200 MB is plenty for shard builds of test corpora.
OBJECT_STORE_BYTES = 200 * 1024 * 1024
START_TIMEOUT = 180.0


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def ray_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Ray process and driver the tests start."""
    env = dict(os.environ)
    env.update(
        RAY_USAGE_STATS_ENABLED="0",
        RAY_DISABLE_IMPORT_WARNING="1",
        # One CPU per node: no thread pools sized for the whole machine in each worker.
        OMP_NUM_THREADS="1",
        RAY_BACKEND_LOG_LEVEL="warning",
    )
    env.update(extra or {})
    return env


def namespace_available() -> bool:
    """Whether this process may make a network namespace (root, or CAP_SYS_ADMIN)."""
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    got = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    return got.returncode == 0


def session_pids(sid: int) -> list[int]:
    """Live processes whose session id is ``sid`` (read from /proc, this machine only)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) == sid:
                found.append(int(entry))
        except (ProcessLookupError, PermissionError):
            continue
    return found


@dataclass
class LocalRayCluster:
    """Start with :meth:`start`, always :meth:`stop` (idempotent, safe after a failed start)."""

    env_extra: dict[str, str] = field(default_factory=dict)
    address: str = ""
    temp_dir: Path | None = None
    log_dir: Path | None = None
    procs: list[subprocess.Popen] = field(default_factory=list)
    #: The process that holds the private network namespace open.
    holder: subprocess.Popen | None = None
    #: Session ids of everything started (kept after ``stop``, to check nothing outlived it).
    sessions: list[int] = field(default_factory=list)

    @property
    def prefix(self) -> list[str]:
        """Run a command inside the cluster's network namespace: ``[*prefix, cmd, ...]``."""
        assert self.holder is not None, "start the cluster first"
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"]

    def run(self, cmd: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess:
        """A driver process inside the namespace, with the cluster's environment."""
        kw.setdefault("env", ray_env(self.env_extra))
        return subprocess.run(
            [*self.prefix, *map(str, cmd)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kw,
        )

    def start(self) -> str:
        # Ray's unix socket paths must stay short (108 bytes): its own short folder in /tmp.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="nsray-", dir="/tmp"))
        self.log_dir = Path(tempfile.mkdtemp(prefix="nsray-logs-"))
        # Token authentication with a token of its own: every process of this cluster and
        # every driver the tests start read it from here, never from ~/.ray/auth_token
        # (which Ray 2.60 creates for a new local instance and then enforces on later ones).
        token = self.temp_dir / "auth_token"
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
        self.env_extra.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
        # unshare execs the shell in the new namespace: the holder's pid names it.
        self.holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up && exec sleep 86400"],
            start_new_session=True,
        )
        self.sessions.append(self.holder.pid)
        deadline = time.monotonic() + 10
        while not self._loopback_up():
            if self.holder.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("could not make a private network namespace (unshare --net)")
            time.sleep(0.05)
        port = _free_port(HEAD_IP)
        self.address = f"{HEAD_IP}:{port}"
        # `ray` run by this interpreter, not by its shebang: Ray's workers use the interpreter
        # of `ray start`, and a venv copied from another checkout (cp -a) keeps shebangs that
        # name the other one, whose workers would import the other checkout's newsearch.
        ray = [sys.executable, str(Path(sys.executable).with_name("ray"))]
        common = [
            "--num-cpus=1",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            "--disable-usage-stats",
            "--block",
        ]
        self._launch(
            "head",
            [
                *ray,
                "start",
                "--head",
                f"--node-ip-address={HEAD_IP}",
                f"--port={port}",
                "--include-dashboard=false",
                f"--ray-client-server-port={_free_port(HEAD_IP)}",
                f"--temp-dir={self.temp_dir}",
                *common,
            ],
        )
        self._wait_for_nodes(1)
        self._launch(
            "worker",
            [
                *ray,
                "start",
                f"--address={self.address}",
                f"--node-ip-address={WORKER_IP}",
                *common,
            ],
        )
        self._wait_for_nodes(2)
        return self.address

    def _loopback_up(self) -> bool:
        got = subprocess.run(
            [*self.prefix, "ip", "-o", "link", "show", "lo"], capture_output=True, text=True
        )
        return got.returncode == 0 and "UP" in got.stdout

    def _launch(self, name: str, cmd: list[str]) -> None:
        assert self.log_dir is not None
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - lives with the process
        self.procs.append(
            subprocess.Popen(
                [*self.prefix, *cmd],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=ray_env(self.env_extra),
                start_new_session=True,
                cwd=self.temp_dir,
            )
        )
        self.sessions.append(self.procs[-1].pid)

    def _wait_for_nodes(self, n: int) -> None:
        """Until the GCS lists ``n`` live nodes (asked by a short-lived driver process)."""
        script = (
            "import ray, sys\n"
            f"ray.init(address={self.address!r}, _node_ip_address={HEAD_IP!r},"
            " logging_level='ERROR', log_to_driver=False)\n"
            "print(sum(1 for x in ray.nodes() if x['Alive']))\n"
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"ray start exited with {p.returncode}: {self.logs()}")
            got = self.run([sys.executable, "-c", script], timeout=120)
            lines = got.stdout.strip().splitlines()
            if got.returncode == 0 and lines and lines[-1].isdigit() and int(lines[-1]) >= n:
                return
            time.sleep(1.0)
        raise RuntimeError(f"the Ray cluster did not reach {n} nodes: {self.logs()}")

    def logs(self) -> str:
        if self.log_dir is None:
            return ""
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )

    def pids(self) -> list[int]:
        """Every live process of the sessions this cluster started (the holder's included),
        before or after ``stop``."""
        return sorted({pid for sid in self.sessions for pid in session_pids(sid)})

    def stop(self) -> None:
        """SIGTERM, then SIGKILL, to every process of the two sessions; then the folders."""
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.2)
        for p in [*self.procs, *([self.holder] if self.holder else [])]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=5)
        self.procs.clear()
        self.holder = None
        for d in (self.temp_dir, self.log_dir):
            if d is not None:
                shutil.rmtree(d, ignore_errors=True)
        self.temp_dir = self.log_dir = None
