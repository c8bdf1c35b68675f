"""`expertly serve --workers 2`: two processes on one port share keys, jobs, metrics and the
index, and a SIGTERM lets the request in flight finish.

The server runs as a subprocess on a free loopback port with the hashing embedder and the
scripted LLM (``llm.backend = scripted``), so the test measures the processes, not a
model. Which worker answered a request is read from its JSON log line (``pid``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.serving import free_port

pytestmark = pytest.mark.integration
ENV = {
    **os.environ,
    "EXPERTLY_LLM__BACKEND": "scripted",
    "EXPERTLY_EMBEDDER__BACKEND": "hashing",
    "HF_HUB_OFFLINE": "1",
}
ENV.pop("PROMETHEUS_MULTIPROC_DIR", None)


def cli(ws: Path, *args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(ws), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path
    ws: Path
    keys: dict[str, dict[str, Any]]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[name]['key']}"}

    def records(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def pids(self, message: str) -> set[int]:
        """The worker processes that logged a request line starting with ``message``."""
        return {r["pid"] for r in self.records() if r["message"].startswith(message)}

    def until_both(self, message: str, send: Callable[[], None], limit_s: float = 60) -> None:
        """Send requests (one connection each) until both workers logged ``message``."""
        deadline = time.monotonic() + limit_s
        while len(self.pids(message)) < 2:
            assert time.monotonic() < deadline, f"one worker only answered {message!r}"
            assert self.process.poll() is None, self.log.read_text()
            send()
            time.sleep(0.02)  # the log line is written after the response


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    ws = tmp_path / "ws"
    keys = {
        "admin": cli(ws, "keys", "create", "--scopes", "admin"),
        "acme": cli(ws, "keys", "create", "--tenant", "acme", "--scopes", "ask,ingest"),
        "doomed": cli(ws, "keys", "create", "--tenant", "acme", "--scopes", "ask"),
    }
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "expertly", "-w", str(ws), "serve", "--port", str(port),
             "--workers", "2", "--rate-per-minute", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=ENV,
        )  # fmt: skip
    found = Server(f"http://127.0.0.1:{port}", process, log, ws, keys)
    try:

        def ready() -> None:
            try:
                httpx.get(f"{found.base}/readyz", timeout=5)
            except httpx.TransportError:
                time.sleep(0.2)  # not listening yet

        found.until_both("GET /readyz 200", ready)
        yield found
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(60)


def test_two_workers_share_keys_jobs_metrics_and_the_index(server: Server) -> None:
    base, acme = server.base, server.auth("acme")
    healthz = 0

    def health() -> None:
        nonlocal healthz
        assert httpx.get(f"{base}/healthz").status_code == 200
        healthz += 1

    server.until_both("GET /healthz", health)

    # a document uploaded through one worker: its job status and the document are found
    # through both (each request opens its own connection, the kernel spreads them)
    files = {"files": ("kiwi.md", b"# Kiwi\n\nThe kiwi budget for 2027 is 4,200 euros.\n")}
    started = httpx.post(f"{base}/v1/uploads", files=files, headers=acme)
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    deadline = time.monotonic() + 30
    while httpx.get(f"{base}/v1/jobs/{job_id}", headers=acme).json()["status"] != "done":
        assert time.monotonic() < deadline, "the upload job never finished"
        time.sleep(0.1)

    def status() -> None:
        job = httpx.get(f"{base}/v1/jobs/{job_id}", headers=acme).json()
        assert job["status"] == "done" and job["results"][0]["doc_id"] == "acme/kiwi.md", job

    server.until_both("GET /v1/jobs/", status)

    def search() -> None:
        found = httpx.post(f"{base}/v1/search", json={"query": "kiwi budget"}, headers=acme)
        assert found.json()["data"][0]["doc_id"] == "acme/kiwi.md", found.text

    server.until_both("POST /v1/search 200", search)

    # a key revoked with the CLI is refused by both workers from the next request on
    doomed = server.auth("doomed")
    assert httpx.get(f"{base}/v1/models", headers=doomed).status_code == 200
    cli(server.ws, "keys", "revoke", server.keys["doomed"]["id"])

    def refused() -> None:
        assert httpx.get(f"{base}/v1/models", headers=doomed).status_code == 401

    server.until_both("GET /v1/models 401", refused)

    # /metrics sums the workers: every /healthz so far, whichever process answered it
    text = httpx.get(f"{base}/metrics").text
    line = 'expertly_requests_total{method="GET",route="/healthz",status="200"}'
    counted = next(row for row in text.splitlines() if row.startswith(line))
    assert float(counted.rsplit(" ", 1)[1]) == healthz
    assert len(server.pids("GET /healthz")) == 2


def test_sigterm_finishes_the_request_in_flight(server: Server) -> None:
    """An upload still being sent when the server is told to stop is answered and indexed."""
    request = httpx.Request(
        "POST",
        f"{server.base}/v1/uploads",
        files={"files": ("late.md", b"# Late\n\nThe mango audit closes on Friday.\n" * 50)},
        headers=server.auth("acme"),
    )
    body = request.read()
    received = threading.Event()
    answer: list[httpx.Response] = []

    def slowly() -> Iterator[bytes]:
        yield body[:100]
        received.wait(10)
        time.sleep(1.0)  # SIGTERM arrives while the rest of the body is on its way
        yield body[100:]

    def send() -> None:
        headers = {"Content-Type": request.headers["Content-Type"], **server.auth("acme")}
        url = f"{server.base}/v1/uploads"
        answer.append(httpx.post(url, content=slowly(), headers=headers, timeout=60))

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.5)
    server.process.send_signal(signal.SIGTERM)
    received.set()
    sender.join(60)
    assert answer and answer[0].status_code == 202, answer
    assert server.process.wait(60) == 0
    # after the exit the accepted job has run: the document is in the index
    listed = subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(server.ws), "search", "mango audit",
         "--json"],
        capture_output=True, text=True, timeout=120, env=ENV,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "acme/late.md" in listed.stdout
