"""The HTTP side of the OpenAI-compatible backend: one ``/chat/completions`` endpoint.

``ChatEndpoint`` posts a request body and hands back the server's successful reply, or its
stream of server-sent events parsed into chunks; ``expertly.generate.openai_compat`` builds
the bodies and reads the replies. Kept apart so that the transport's concerns read in one
place: a server that is busy or failing (429, 5xx) is asked again as ``retry`` says
(``expertly.endpoints``: backoff, ``Retry-After`` honoured); an error names the URL, the
server's own message, the attempts made and the setting to check; a reply that does not
come in time raises ``LLMTimeoutError``, and a prompt the server finds too long for the
model's window raises ``ContextLengthError``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator
from typing import Any

import httpx

from expertly.endpoints import (
    RETRY_STATUSES,
    Outcome,
    RetryPolicy,
    attempts_note,
    send,
    server_message,
)
from expertly.errors import ContextLengthError, LLMError, LLMTimeoutError

CONTEXT_ERRORS = ("maximum context length", "context length", "context window", "too long")
"""Words of the 400 a server answers when the prompt does not fit (vLLM: "This model's
maximum context length is 2048 tokens. However, you requested ...")."""


class ChatEndpoint:
    """``POST url`` (a ``.../chat/completions`` URL) for the served model ``model``, which
    the errors name; ``transport`` lets tests mock the server."""

    def __init__(
        self,
        url: str,
        *,
        model: str,
        api_key: str | None,
        timeout_s: float,
        retry: RetryPolicy,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.url = url
        self.model = model
        self.timeout_s = timeout_s
        self.retry = retry
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)

    def post(self, body: dict[str, Any], timeout_s: float | None = None) -> httpx.Response:
        """The server's successful reply to ``body`` (retried as ``self.retry`` says; a
        ``timeout_s`` given by the caller bounds the retries' waits too)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            request = self._request(body, timeout_s)
            outcome = send(self.client, request, self.retry, deadline=deadline)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, timeout_s) from exc
        self._check(outcome)
        return outcome.response

    def events(self, body: dict[str, Any]) -> Generator[tuple[dict[str, Any], str], None, None]:
        """Each chunk of the server's SSE stream (``data:`` lines until ``[DONE]``) in reply
        to ``body``, parsed, with its raw payload; an ``error`` chunk raises. The response
        is closed when the stream ends or the iterator is closed."""
        try:
            outcome = send(self.client, self._request(body), self.retry, stream=True)
            response = outcome.response
            try:
                self._check(outcome)
                for line in response.iter_lines():
                    payload = line[5:].strip() if line.startswith("data:") else ""
                    if not payload:
                        continue  # blank separators, ": keep-alive" comments, "event:" lines
                    if payload == "[DONE]":
                        break
                    yield self._chunk(payload), payload
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc

    def delta_text(self, choices: Any, payload: str) -> str:
        """The text of one chunk's choices (none: e.g. the last chunk, carrying usage)."""
        try:
            if not choices:
                return ""
            return str((choices[0].get("delta") or {}).get("content") or "")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self.malformed(payload, exc) from exc

    def malformed(self, text: str, exc: Exception) -> LLMError:
        """The error for a reply (``text``) that is not an OpenAI chat completion."""
        return LLMError(
            f"{self.url} sent a reply that is not an OpenAI chat completion ({exc}): "
            f"{text[:300]!r}. Check llm.base_url points at an OpenAI-compatible API."
        )

    def close(self) -> None:
        self.client.close()

    # -- internals ----------------------------------------------------------------------

    def _chunk(self, payload: str) -> dict[str, Any]:
        """One SSE chunk, parsed; an ``error`` chunk raises."""
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise self.malformed(payload, exc) from exc
        if not isinstance(data, dict):
            raise self.malformed(payload, TypeError("a chunk must be a JSON object"))
        if "error" in data:
            raise LLMError(f"{self.url} reported an error mid-stream: {payload[:300]}")
        return data

    def _request(self, body: dict[str, Any], timeout_s: float | None = None) -> httpx.Request:
        if timeout_s is None:
            return self.client.build_request("POST", self.url, json=body)
        return self.client.build_request("POST", self.url, json=body, timeout=timeout_s)

    def _check(self, outcome: Outcome) -> None:
        response = outcome.response
        if response.is_success:
            return
        code = response.status_code
        message = server_message(response)
        tries = attempts_note(outcome, self.retry, "llm")
        if code == 400 and any(w in message.lower() for w in CONTEXT_ERRORS):
            raise ContextLengthError(
                f"{self.url} answered HTTP 400: {message!r}; the prompt and the answer's "
                "tokens do not fit the served model's window: set llm.context_window to the "
                "server's (e.g. vLLM's --max-model-len), or lower llm.max_new_tokens or "
                "retrieval.k."
            )
        hint = (
            "check the API key (the variable named by llm.api_key_env)"
            if code in (401, 403)
            else f"check llm.model = {self.model!r} (GET {self.url.rsplit('/', 2)[0]}/models "
            "lists what the server serves; a vLLM LoRA adapter is named by --lora-modules) "
            "and llm.base_url (it usually ends in /v1)"
            if code == 404
            else f"the server is overloaded or failing: check its log (and llm.model = "
            f"{self.model!r}), or raise llm.retries"
            if code in RETRY_STATUSES
            else f"check llm.model = {self.model!r} and the server's log"
        )
        raise LLMError(f"{self.url} answered HTTP {code}{tries}: {message!r}; {hint}.")

    def _transport_error(self, exc: httpx.HTTPError, timeout_s: float | None = None) -> LLMError:
        if isinstance(exc, httpx.TimeoutException):
            return LLMTimeoutError(
                f"{self.url} did not answer within {timeout_s or self.timeout_s:g} s: check "
                "that the server is up, or raise llm.timeout_s for slow models."
            )
        if isinstance(exc, httpx.ConnectError):
            return LLMError(
                f"Cannot connect to {self.url} ({exc}): is the server running? "
                "Check llm.base_url (EXPERTLY_LLM__BASE_URL)."
            )
        return LLMError(f"Request to {self.url} failed ({type(exc).__name__}: {exc}).")
