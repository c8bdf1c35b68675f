"""``http_get``: fetch a text page from an allow-listed host.

Only ``http``/``https`` URLs whose host is in ``agent.http_allow`` (exact host match; an
entry ``host:port`` also pins the port) are fetched; everything else is refused before any
connection. Redirects are followed by hand, at most ``MAX_REDIRECTS`` hops, and every hop is
checked against the same list, so an allowed host cannot bounce the agent elsewhere. The
body is read as a stream and cut at ``agent.http_max_bytes``; HTML is reduced to its main
text (the ingest HTML loader), other text types are returned as they are, binary content is
refused. Environment proxies are ignored (``trust_env=False``) and no cookies are kept.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from expertly.agents.tools.base import ToolError, ToolResult

MAX_REDIRECTS = 5
TEXT_TYPES = (
    "application/json",
    "application/xml",
    "application/xhtml+xml",
    "application/javascript",
    "application/x-ndjson",
    "application/yaml",
    "application/csv",
)

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"url": {"type": "string", "description": "An http(s) URL on an allowed host"}},
    "required": ["url"],
}


def normalise_allow(hosts: Sequence[str]) -> frozenset[str]:
    """Allow-list entries, lower-cased, scheme and path dropped ("Example.com/" → "example.com")."""
    out = set()
    for entry in hosts:
        text = entry.strip().lower()
        if "://" in text:
            text = text.split("://", 1)[1]
        text = text.split("/", 1)[0]
        if text:
            out.add(text)
    return frozenset(out)


def check_url(url: str | httpx.URL, allow: frozenset[str]) -> httpx.URL:
    """The parsed URL if its scheme and host are allowed; ``ToolError`` saying why not."""
    try:
        parsed = httpx.URL(url) if isinstance(url, str) else url
        host = parsed.host.lower()
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ToolError(f"not a valid URL: {url!r} ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise ToolError(f"only http and https URLs can be fetched, not {parsed.scheme or url!r}")
    if parsed.userinfo:
        raise ToolError("URLs with a user name or password are not fetched")
    if not host:
        raise ToolError(f"the URL {str(parsed)!r} has no host")
    if not allow:
        raise ToolError(
            "no host is allowed: add host names to agent.http_allow to let the agent fetch them"
        )
    with_port = f"{host}:{parsed.port}" if parsed.port is not None else host
    if host not in allow and with_port not in allow:
        raise ToolError(
            f"the host {host!r} is not allowed; allowed hosts: {', '.join(sorted(allow))}"
        )
    return parsed


def is_text(content_type: str, head: bytes) -> bool:
    """Whether a body is text: by its media type, else by the absence of NUL bytes."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media:
        return media.startswith("text/") or media in TEXT_TYPES or media.endswith(("+json", "+xml"))
    return b"\x00" not in head[:4096]


class HttpGet:
    """The ``http_get`` tool."""

    name = "http_get"
    parameters: Mapping[str, Any] = PARAMETERS

    def __init__(
        self,
        allow: Sequence[str],
        *,
        timeout_s: float = 10.0,
        max_bytes: int = 200_000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.allow = normalise_allow(allow)
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.transport = transport
        hosts = ", ".join(sorted(self.allow)) or "none"
        self.description = (
            f"Fetch a web page or text file by URL and read its text. Allowed hosts: {hosts}."
        )

    def run(self, **arguments: Any) -> ToolResult:
        """Fetch the URL within ``agent.http_timeout_s``."""
        return self._fetch(str(arguments["url"]), self.timeout_s)

    def run_within(self, timeout_s: float, **arguments: Any) -> ToolResult:
        """Fetch the URL within ``timeout_s`` or ``agent.http_timeout_s``, the shorter."""
        return self._fetch(str(arguments["url"]), min(timeout_s, self.timeout_s))

    def _fetch(self, text: str, seconds: float) -> ToolResult:
        url = check_url(text.strip(), self.allow)
        deadline = time.monotonic() + seconds
        limit = (
            "agent.http_timeout_s"
            if seconds >= self.timeout_s
            else f"the agent's time left ({seconds:.1f} s of agent.timeout_s)"
        )
        hops: list[str] = []
        with httpx.Client(
            timeout=seconds,
            follow_redirects=False,
            trust_env=False,
            transport=self.transport,
            headers={"User-Agent": "expertly-agent"},
        ) as client:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    with client.stream("GET", url) as response:
                        if response.is_redirect:
                            location = response.headers.get("location", "")
                            hops.append(str(url))
                            try:
                                url = check_url(url.join(location), self.allow)
                            except (ToolError, httpx.InvalidURL) as exc:
                                raise ToolError(
                                    f"redirect from {hops[-1]} refused: {exc}"
                                ) from None
                            continue
                        return self._read(response, url, hops, (deadline, limit))
                except httpx.TimeoutException as exc:
                    raise ToolError(f"fetching {url} took longer than {limit}: {exc}") from None
                except (httpx.HTTPError, httpx.InvalidURL) as exc:
                    raise ToolError(f"fetching {url} failed: {type(exc).__name__}: {exc}") from None
        raise ToolError(f"more than {MAX_REDIRECTS} redirects, starting at {hops[0]}")

    def _read(
        self, response: httpx.Response, url: httpx.URL, hops: list[str], until: tuple[float, str]
    ) -> ToolResult:
        """The response's text; ``until`` is the deadline and the name of its limit."""
        deadline, limit = until
        if response.status_code >= 400:
            raise ToolError(f"{url} answered HTTP {response.status_code} {response.reason_phrase}")
        content_type = response.headers.get("content-type", "")
        body = bytearray()
        cut = False
        for chunk in response.iter_bytes():
            if not body and not is_text(content_type, chunk):
                media = content_type.split(";")[0] or "binary data"
                raise ToolError(f"{url} returned {media}, not text; only text can be read")
            body += chunk
            if len(body) >= self.max_bytes:
                del body[self.max_bytes :]
                cut = True
                break
            if time.monotonic() > deadline:
                raise ToolError(f"{url} did not finish within {limit}")
        text = self._decode(bytes(body), content_type, response.encoding)
        if cut:
            text += f"\n[... response cut at agent.http_max_bytes = {self.max_bytes:,} bytes]"
        return ToolResult(
            text,
            data={
                "url": str(url),
                "status": response.status_code,
                "content_type": content_type,
                "redirects": hops,
            },
            truncated=cut,
        )

    @staticmethod
    def _decode(body: bytes, content_type: str, encoding: str | None) -> str:
        media = content_type.split(";", 1)[0].strip().lower()
        if media in ("text/html", "application/xhtml+xml"):
            from expertly.ingest.formats._build import FormatError
            from expertly.ingest.formats.html import load_html

            try:
                parsed = load_html(body)
            except FormatError as exc:
                raise ToolError(f"the page could not be read: {exc}") from None
            return f"{parsed.title}\n\n{parsed.text}".strip() if parsed.title else parsed.text
        return body.decode(encoding or "utf-8", errors="replace")
