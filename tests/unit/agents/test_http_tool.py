"""http_get: refusals happen before any connection; redirects, types and sizes are checked.

Responses come from ``httpx.MockTransport`` (a plain function), so no socket is opened.
"""

from __future__ import annotations

import httpx
import pytest

from expertly.agents.tools.base import ToolError, ToolRegistry
from expertly.agents.tools.http import HttpGet, check_url, is_text, normalise_allow


def _tool(handler: object = None, **kw: object) -> HttpGet:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request should be sent, got {request.url}")

    transport = httpx.MockTransport(handler or refuse)  # type: ignore[arg-type]
    return HttpGet(kw.pop("allow", ["docs.example.com"]), transport=transport, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://evil.example.com/x", "host 'evil.example.com' is not allowed"),
        ("https://docs.example.com.evil.net/", "not allowed"),
        ("https://sub.docs.example.com/", "not allowed"),
        ("ftp://docs.example.com/file", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("https://user:pw@docs.example.com/", "user name or password"),
        ("https://evil.com@docs.example.com/", "user name or password"),
        ("http://127.0.0.1/", "not allowed"),
        ("not a url", "only http and https"),
    ],
)
def test_refused_before_connecting(url: str, reason: str) -> None:
    with pytest.raises(ToolError, match=reason):
        _tool().run(url=url)


def test_empty_allow_list_refuses_everything() -> None:
    with pytest.raises(ToolError, match=r"add host names to agent\.http_allow"):
        _tool(allow=[]).run(url="https://docs.example.com/")


def test_allow_list_entries_are_normalised_and_ports_can_be_pinned() -> None:
    allow = normalise_allow(["HTTPS://Docs.Example.com/path", " api.example.com:8443 ", ""])
    assert allow == {"docs.example.com", "api.example.com:8443"}
    assert check_url("https://DOCS.example.com:444/a", allow).host == "docs.example.com"
    assert check_url("https://api.example.com:8443/", allow).port == 8443
    with pytest.raises(ToolError, match="not allowed"):
        check_url("https://api.example.com/", allow)


def test_text_page_is_returned() -> None:
    tool = _tool(
        lambda r: httpx.Response(200, text="plain words", headers={"content-type": "text/plain"})
    )
    result = tool.run(url="https://docs.example.com/a.txt")
    assert result.output == "plain words" and result.data["status"] == 200


def test_html_is_reduced_to_its_text() -> None:
    page = (
        "<html><head><title>Leave</title><script>var secret = 1;</script></head>"
        "<body><nav>Menu</nav><main><h1>Parental leave</h1><p>20 weeks, paid.</p></main>"
        "</body></html>"
    )
    tool = _tool(lambda r: httpx.Response(200, text=page, headers={"content-type": "text/html"}))
    out = tool.run(url="https://docs.example.com/").output
    assert "20 weeks, paid." in out and "Parental leave" in out
    assert "<" not in out and "secret" not in out and "Menu" not in out


def test_binary_is_refused() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    tool = _tool(lambda r: httpx.Response(200, content=png, headers={"content-type": "image/png"}))
    with pytest.raises(ToolError, match="image/png, not text"):
        tool.run(url="https://docs.example.com/logo.png")
    assert not is_text("", b"abc\x00def") and is_text("", b"abc")
    assert is_text("application/ld+json", b"{}")


def test_response_is_cut_at_max_bytes() -> None:
    tool = _tool(
        lambda r: httpx.Response(
            200, content=b"a" * 10_000, headers={"content-type": "text/plain"}
        ),
        max_bytes=1000,
    )
    result = tool.run(url="https://docs.example.com/big")
    assert result.truncated
    assert result.output.startswith("a" * 1000) and "a" * 1001 not in result.output
    assert "cut at agent.http_max_bytes = 1,000 bytes" in result.output


def test_redirects_inside_the_allow_list_are_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"location": "/new"})
        return httpx.Response(200, text="moved here", headers={"content-type": "text/plain"})

    result = _tool(handler).run(url="https://docs.example.com/old")
    assert result.output == "moved here"
    assert result.data["redirects"] == ["https://docs.example.com/old"]
    assert result.data["url"] == "https://docs.example.com/new"


def test_redirect_to_another_host_is_refused() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"location": "http://169.254.169.254/latest/meta-data"})

    with pytest.raises(ToolError, match=r"redirect from https://docs\.example\.com/ refused"):
        _tool(handler).run(url="https://docs.example.com/")
    assert seen == ["https://docs.example.com/"]


def test_redirect_loops_stop() -> None:
    handler = lambda r: httpx.Response(302, headers={"location": "/again"})  # noqa: E731
    with pytest.raises(ToolError, match="more than 5 redirects"):
        _tool(handler).run(url="https://docs.example.com/")


def test_http_errors_are_observations() -> None:
    registry = ToolRegistry.of([_tool(lambda r: httpx.Response(404))])
    result = registry.call("http_get", {"url": "https://docs.example.com/missing"})
    assert not result.ok and "HTTP 404 Not Found" in result.output

    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    result = ToolRegistry.of([_tool(broken)]).call("http_get", {"url": "https://docs.example.com/"})
    assert not result.ok and "ConnectError" in result.output


def test_invalid_redirect_location_is_an_observation() -> None:
    handler = lambda r: httpx.Response(302, headers={"location": "http://[::1"})  # noqa: E731
    result = ToolRegistry.of([_tool(handler)]).call(
        "http_get", {"url": "https://docs.example.com/"}
    )
    assert not result.ok and "Invalid URL in location header" in result.output


def test_a_fetch_keeps_to_the_agent_s_time_left_when_it_is_shorter() -> None:
    timeouts: list[float] = []

    def slow(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        raise httpx.ReadTimeout("slow", request=request)

    tool = _tool(slow, timeout_s=10.0)
    registry = ToolRegistry.of([tool])
    result = registry.call("http_get", {"url": "https://docs.example.com/"}, timeout_s=2.0)
    assert not result.ok and not result.timed_out and timeouts == [2.0]
    assert "took longer than the agent's time left (2.0 s of agent.timeout_s)" in result.output
    with pytest.raises(ToolError, match=r"took longer than agent\.http_timeout_s"):
        tool.run_within(60.0, url="https://docs.example.com/")
    assert timeouts[-1] == 10.0
