"""A real ``newsearch serve`` for tests: started on a free loopback port, stopped after.

Also the corpus the server tests index: the demo articles plus hostile ones whose headline,
body and URL hold markup and script, and a JSONL article whose id looks like a path.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import DEMO, REPO, write

XSS_TITLE = '<script>window.__pwned="title"</script>Quokka <img src=x onerror="window.__pwned=1">'
XSS_BODY = (
    'Zorblax quokka <script>window.__pwned="body"</script> reports from the marsh. '
    '<img src=x onerror="window.__pwned=2"> <a href="javascript:window.__pwned=3">click</a>'
)
XSS_URL = "javascript:window.__pwned=4"
PATH_ID = "../../etc/shadow"
SERVE = [sys.executable, "-m", "newsearch.cli.main", "serve"]


def hostile_corpus(root: Path) -> Path:
    """The demo articles and the hostile ones, in ``root``."""
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("README*"))
    lines = [
        {
            "id": "xss-1",
            "title": XSS_TITLE,
            "text": XSS_BODY + "\n\nA second paragraph about the zorblax quokka colony.",
            "url": XSS_URL,
            "source": "<b>Evil Wire</b>",
            "category": "<i>marsh</i>",
        },
        {
            "id": PATH_ID,
            "title": "An article whose id looks like a path",
            "text": "Pelicanthrope migration counted at the estuary for the first time.",
            "url": "https://example.org/pelicans",
        },
    ]
    write(root / "extra" / "hostile.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``newsearch serve`` in a child process on 127.0.0.1."""

    def __init__(self, index_dir: Path, *extra: str, startup: float = 120.0) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(index_dir).parent / f"serve-{self.port}.log"
        self._log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*SERVE, "-i", str(index_dir), "--port", str(self.port), *extra],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
        deadline = time.monotonic() + startup
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.log()}")
            with contextlib.suppress(OSError):
                if self.get("/healthz")[0] == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer within {startup} s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request with the path sent exactly as given (no normalisation of ``..``)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, Any]:
        status, headers, body = self.request("GET", path)
        if headers.get("content-type", "").startswith("application/json"):
            return status, json.loads(body)
        return status, body.decode("utf-8", errors="replace")

    def post(self, path: str, data: Any) -> tuple[int, Any]:
        body = json.dumps(data).encode()
        status, _, raw = self.request("POST", path, body, {"Content-Type": "application/json"})
        return status, json.loads(raw)

    def wait_for(self, check, timeout: float = 60.0, every: float = 0.05) -> Any:
        """Poll ``check()`` until it returns something truthy (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = check()
            if got:
                return got
            time.sleep(every)
        raise AssertionError(f"condition not met within {timeout} s; server log: {self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


@contextlib.contextmanager
def serving(index_dir: Path, *extra: str) -> Iterator[Server]:
    server = Server(index_dir, *extra)
    try:
        yield server
    finally:
        server.stop()
