"""A local HTTP server that replays served models' replies, for the backends' contract tests.

The backends under test use their real ``httpx`` client against a real socket: this server
listens on 127.0.0.1 (a free port), answers each request with the next ``Reply`` queued for
its path, and records what it received. Reply shapes come from ``shapes/*.json`` (vLLM,
Ollama, TEI); see each file's ``_source`` for the server version and where the shape comes
from. A request with nothing queued is answered 599 and recorded in ``problems``, which the
``fake_server`` fixture asserts is empty at the end of every test.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SHAPES = Path(__file__).with_name("shapes")
FLAVOURS = ("vllm", "ollama", "tei")


@cache
def _load(flavour: str) -> str:
    return (SHAPES / f"{flavour}.json").read_text(encoding="utf-8")


def shapes(flavour: str) -> dict[str, Any]:
    """The recorded shapes of ``flavour`` (a fresh copy: tests may edit it)."""
    data: dict[str, Any] = json.loads(_load(flavour))
    return data


@dataclass
class Reply:
    """One answer: a JSON ``body`` (or raw ``text``), or an SSE stream of ``lines`` (sent
    one line at a time, as a server flushes its events), after ``delay_s``."""

    status: int = 200
    body: Any = None
    text: str | None = None
    lines: list[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    stall: tuple[int, float] | None = None  # (line index, seconds): a stream stops a while

    @classmethod
    def error(cls, shape: dict[str, Any]) -> Reply:
        """A reply from an ``errors`` entry of a shapes file."""
        return cls(shape["status"], body=shape["body"], headers=dict(shape.get("headers", {})))

    @classmethod
    def sse(cls, lines: list[str]) -> Reply:
        return cls(lines=lines, headers={"Content-Type": "text/event-stream"})


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() when it arrived


class FakeServer:
    """``with FakeServer() as server:`` listens until the block ends; ``server.url`` is
    its root (``http://127.0.0.1:PORT``)."""

    def __init__(self) -> None:
        self.replies: dict[str, deque[Reply]] = {}
        self.received: list[Received] = []
        self.problems: list[str] = []
        self.hangups: list[str] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to ``path`` with ``replies``, in order."""
        with self._lock:
            self.replies.setdefault(path, deque()).extend(replies)

    def pending(self) -> int:
        with self._lock:
            return sum(len(q) for q in self.replies.values())

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next(self, path: str) -> Reply | None:
        with self._lock:
            queued = self.replies.get(path)
            return queued.popleft() if queued else None


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            server.received.append(
                Received("POST", self.path, dict(self.headers), body, time.monotonic())
            )
            reply = server._next(self.path)
            if reply is None:
                server.problems.append(f"no reply queued for POST {self.path}")
                reply = Reply(599, body={"error": f"fake server: nothing queued for {self.path}"})
            try:
                self._send(reply)
            except (BrokenPipeError, ConnectionResetError):
                # the client gave up first (its time-out): noted, for the time-out tests
                server.hangups.append(self.path)

        def _send(self, reply: Reply) -> None:
            time.sleep(reply.delay_s)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.lines is not None:
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Connection", "close")
                self.end_headers()
                for i, line in enumerate(reply.lines):
                    if reply.stall is not None and reply.stall[0] == i:
                        time.sleep(reply.stall[1])
                    self._chunk(f"{line}\n".encode())
                self._chunk(b"")
                self.close_connection = True
                return
            data = (
                reply.text.encode()
                if reply.text is not None
                else json.dumps(reply.body).encode()
                if reply.body is not None
                else b""
            )
            if reply.text is None and "Content-Type" not in reply.headers:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")  # one request per connection: none left open
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def log_message(self, format: str, *args: Any) -> None:
            return  # the tests read ``received``, not the console

    return Handler


def closed_port_url() -> str:
    """The URL of a local port nothing listens on (connecting is refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def sse_lines(lines: list[str], pieces: list[str]) -> list[str]:
    """``lines`` (a recorded stream) with its text chunks' contents replaced by ``pieces``,
    keeping every other field and the framing as the server sends them."""
    out: list[str] = []
    texts: Iterator[str] = iter(pieces)
    for line in lines:
        if not line.startswith("data: {"):
            out.append(line)
            continue
        chunk = json.loads(line[6:])
        choices = chunk.get("choices") or []
        delta = choices[0].get("delta", {}) if choices else {}
        if choices and delta.get("content") and choices[0].get("finish_reason") is None:
            piece = next(texts, None)
            if piece is None:
                continue  # fewer pieces than the recording: drop the extra chunk
            delta["content"] = piece
        out.append("data: " + json.dumps(chunk, separators=(",", ":"), ensure_ascii=False))
    rest = list(texts)
    if rest:
        raise ValueError(f"the recording has fewer text chunks than pieces: {rest}")
    return out
