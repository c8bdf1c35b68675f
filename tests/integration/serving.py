"""Helpers of the tests that run ``expertly serve`` as a subprocess: a free loopback port,
and a server started on a workspace that is stopped, whatever happens, when the test ends."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port nobody listens on now (on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    workspace: Path, log_path: Path, env: Mapping[str, str], *, ready_within_s: float = 600
) -> Iterator[str]:
    """``expertly serve`` on ``workspace`` at a free port, once ``/readyz`` says 200: yields
    its base URL; its output goes to ``log_path``. Stopped with SIGTERM at the end (killed
    after 60 s), and then every line it logged must be JSON with a request id."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "expertly", "-w", str(workspace), "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + ready_within_s
            while time.monotonic() < deadline:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(0.5)
            else:
                raise AssertionError(f"the server never became ready: {log_path.read_text()}")
            yield base
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    lines = log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    # every line of the server's log is JSON with a request id field
    assert records and all("request_id" in r for r in records), lines[:20]
