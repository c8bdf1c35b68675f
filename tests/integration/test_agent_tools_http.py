"""http_get against a real HTTP server on 127.0.0.1 (a thread of this test process)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from expertly.agents.tools.base import ToolRegistry
from expertly.agents.tools.http import HttpGet

PAGE = (
    b"<html><head><title>Price list</title></head><body><nav>Home | Shop</nav>"
    b"<main><h1>Sensors</h1><p>The HX-100 humidity sensor costs 149 EUR.</p></main></body></html>"
)


class Server:
    """A local server; ``requests`` records every path it was asked for."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]]) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                status, headers, body = routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def other() -> Iterator[Server]:
    server = Server({"/": (200, {"Content-Type": "text/plain"}, b"not allowed content")})
    yield server
    server.close()


@pytest.fixture
def site(other: Server) -> Iterator[Server]:
    html = {"Content-Type": "text/html; charset=utf-8"}
    server = Server(
        {
            "/prices.html": (200, html, PAGE),
            "/old": (301, {"Location": "/prices.html"}, b""),
            "/away": (302, {"Location": f"http://localhost:{other.port}/"}, b""),
            "/other-port": (302, {"Location": f"http://127.0.0.1:{other.port}/"}, b""),
            "/big.txt": (200, {"Content-Type": "text/plain"}, b"0123456789" * 10_000),
            "/logo.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n\x00\x00"),
        }
    )
    yield server
    server.close()


def tool_for(site: Server, **kw: Any) -> ToolRegistry:
    return ToolRegistry.of([HttpGet([f"127.0.0.1:{site.port}"], timeout_s=5, **kw)])


def test_allowed_page_is_fetched_as_text(site: Server) -> None:
    result = tool_for(site).call("http_get", {"url": f"http://127.0.0.1:{site.port}/prices.html"})
    assert result.ok, result.output
    assert "The HX-100 humidity sensor costs 149 EUR." in result.output
    assert "<p>" not in result.output and "Home | Shop" not in result.output


def test_redirect_on_the_allowed_host_is_followed(site: Server) -> None:
    result = tool_for(site).call("http_get", {"url": f"http://127.0.0.1:{site.port}/old"})
    assert result.ok and "149 EUR" in result.output
    assert site.requests == ["/old", "/prices.html"]


@pytest.mark.parametrize("path", ["/away", "/other-port"])
def test_redirect_to_a_host_not_allowed_is_refused(site: Server, other: Server, path: str) -> None:
    result = tool_for(site).call("http_get", {"url": f"http://127.0.0.1:{site.port}{path}"})
    assert not result.ok
    assert "refused" in result.output and "is not allowed" in result.output
    assert other.requests == []  # the other server was never contacted


def test_large_response_is_cut(site: Server) -> None:
    registry = tool_for(site, max_bytes=1000)
    result = registry.call("http_get", {"url": f"http://127.0.0.1:{site.port}/big.txt"})
    assert result.ok and result.truncated
    assert result.output.startswith("0123456789" * 100 + "\n[... response cut")


def test_binary_is_refused(site: Server) -> None:
    result = tool_for(site).call("http_get", {"url": f"http://127.0.0.1:{site.port}/logo.png"})
    assert not result.ok and "image/png, not text" in result.output


def test_missing_page_and_closed_port(site: Server) -> None:
    result = tool_for(site).call("http_get", {"url": f"http://127.0.0.1:{site.port}/nope"})
    assert not result.ok and "HTTP 404" in result.output
    port = site.port
    site.close()
    result = tool_for(site).call("http_get", {"url": f"http://127.0.0.1:{port}/prices.html"})
    assert not result.ok and "ConnectError" in result.output
