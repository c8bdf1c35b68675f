"""OpenAI-compatible ``/chat/completions`` backend: Ollama, vLLM, llama.cpp server, OpenAI...

Named ``openai_compat`` so that it is never mistaken for the ``openai`` SDK, which expertly
does not use: plain httpx keeps the dependency list short and the errors in our hands.

Token counts cannot be exact without the served model's tokenizer, so ``count_tokens`` is a
deliberately pessimistic estimate (``exact_tokens = False``); budgeting with it leaves some
of the window unused rather than overflowing it.

``generate_with_tools`` adds native tool calling (``tools=[...]`` in the request,
``tool_calls`` in the reply) for the agent: the backend implements the ``ToolCalling``
capability (as well as ``Warmable`` and ``Closeable``), not part of the ``LLM`` protocol, so
other backends need not offer it. A reply that does not come in time raises
``LLMTimeoutError``, an ``ExpertlyTimeout``.

A server that is busy or failing (429, 5xx) is asked again as ``retry`` says
(``expertly.endpoints``: backoff, ``Retry-After`` honoured); an error names the URL, the
server's own message, the attempts made and the setting to check. A prompt the server finds
too long for the model's window raises ``ContextLengthError``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
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
from expertly.generate.stops import StopBuffer, cut_at_stop
from expertly.types import Completion, Message

DEFAULT_CONTEXT_WINDOW = 8192
CHARS_PER_TOKEN = 3  # English averages ~4 characters per token; 3 over-counts on purpose
MESSAGE_OVERHEAD = 4  # role and separator tokens a chat template adds per message
REPLY_PRIMING = 3  # the "assistant" header the template appends
DEFAULT_STREAM_TOKENS = 256
CONTEXT_ERRORS = ("maximum context length", "context length", "context window", "too long")
"""Words of the 400 a server answers when the prompt does not fit (vLLM: "This model's
maximum context length is 2048 tokens. However, you requested ...")."""


@dataclass(frozen=True)
class ToolCallRequest:
    """One tool call the model asked for. ``arguments`` is None when the model's argument
    text is not a JSON object (``raw_arguments`` keeps it, so the caller can say why)."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str


@dataclass(frozen=True)
class ToolCompletion:
    """A reply that may call tools: the text part, the calls, and the assistant message as
    the API expects it back in the next request's history."""

    completion: Completion
    tool_calls: tuple[ToolCallRequest, ...]
    message: dict[str, Any]


class OpenAICompatLLM:
    """Calls ``POST {base_url}/chat/completions``; ``transport`` lets tests mock the server.

    ``model`` is sent as the request's ``model`` field: the name the server serves the model
    under, which for vLLM with ``--enable-lora --lora-modules NAME=PATH`` may be a LoRA
    adapter's ``NAME`` (the base model then answers through that adapter)."""

    exact_tokens = False

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        context_window: int = 0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = model
        self.context_window = context_window or DEFAULT_CONTEXT_WINDOW
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_s, transport=transport)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """An estimate: ceil(chars / 3) + 4 per message + 3; pessimistic, never exact."""
        return REPLY_PRIMING + sum(
            math.ceil(len(m.content) / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD for m in messages
        )

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        """One reply. ``usage`` comes from the server when it reports it, else estimates."""
        body = self._body(messages, max_tokens, temperature, stop, stream=False)
        return self._complete(body, messages, stop)

    def constrained_reply(self, messages: Sequence[Message], choices: Sequence[str]) -> Completion:
        """A reply constrained to ``{"answer": <one of choices>}`` by a JSON schema
        (``response_format``, which OpenAI, vLLM, Ollama and llama.cpp's server accept). A
        server that refuses the schema (HTTP 400) is asked again without it, for a short
        free reply; the caller maps either to a choice (``answer.choices.pick``)."""
        body = self._body(messages, 16, 0.0, (), stream=False)
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": "choice",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"answer": {"type": "string", "enum": list(choices)}},
                    "required": ["answer"],
                    "additionalProperties": False,
                },
            },
        }
        try:
            return self._complete(body, messages, ())
        except LLMError as exc:
            if isinstance(exc, ContextLengthError) or "HTTP 400" not in str(exc):
                raise
        del body["response_format"]
        return self._complete(body, messages, ())

    def _complete(
        self, body: dict[str, Any], messages: Sequence[Message], stop: Sequence[str]
    ) -> Completion:
        response = self._post(body)
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            finish = "length" if choice.get("finish_reason") == "length" else "stop"
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self._malformed(response.text, exc) from exc
        text, _ = cut_at_stop(text, stop)
        return Completion(
            text,
            int(usage.get("prompt_tokens") or self.count_tokens(messages)),
            int(usage.get("completion_tokens") or math.ceil(len(text) / CHARS_PER_TOKEN)),
            finish,
            str(data.get("model") or self.name),
        )

    def generate_with_tools(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        timeout_s: float | None = None,
    ) -> ToolCompletion:
        """One reply with native tool calling: ``tools`` in the OpenAI form
        (``ToolRegistry.openai_schema()``). ``messages`` may mix ``Message``s with raw API
        messages (an assistant message carrying ``tool_calls``, ``role: tool`` results).
        ``timeout_s`` bounds this request (the agent passes the time it has left)."""
        body = self._body([], max_tokens, temperature, (), stream=False)
        body["messages"] = [
            {"role": m.role, "content": m.content} if isinstance(m, Message) else dict(m)
            for m in messages
        ]
        if tools:
            body["tools"] = [dict(t) for t in tools]
        response = self._post(body, None if timeout_s is None else max(timeout_s, 0.1))
        try:
            data = response.json()
            message = data["choices"][0]["message"]
            finish = data["choices"][0].get("finish_reason") or "stop"
            text = message.get("content") or ""
            calls = tuple(_tool_call(c, i) for i, c in enumerate(message.get("tool_calls") or []))
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self._malformed(response.text, exc) from exc
        finish = "tool_calls" if calls else ("length" if finish == "length" else "stop")
        generated = text + "".join(c.name + c.raw_arguments for c in calls)
        completion = Completion(
            text,
            int(usage.get("prompt_tokens") or self._estimate(body["messages"])),
            int(usage.get("completion_tokens") or math.ceil(len(generated) / CHARS_PER_TOKEN)),
            finish,
            str(data.get("model") or self.name),
        )
        echo: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            echo["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.raw_arguments},
                }
                for c in calls
            ]
        return ToolCompletion(completion, calls, echo)

    def stream(self, messages: Sequence[Message], **kw: Any) -> Iterator[str]:
        """Text pieces from the server's SSE stream (``data:`` lines until ``[DONE]``);
        keywords as for ``generate``, ``max_tokens`` defaults to 256."""
        kw.setdefault("max_tokens", DEFAULT_STREAM_TOKENS)
        for item in self.stream_completion(messages, **kw):
            if isinstance(item, str):
                yield item

    def stream_completion(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Completion]:
        """Text pieces, then the Completion (``CompletionStreaming``): usage as the server
        reports it in its last chunk (asked for with ``stream_options.include_usage``),
        estimated like ``generate``'s when it reports none."""
        return self._stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)

    def warmup(self) -> float:
        """One one-token request, so that a server that loads models lazily (Ollama) has the
        model in memory before the first timed call. Returns seconds."""
        started = time.perf_counter()
        self.generate([Message("user", "Hi")], max_tokens=1)
        return time.perf_counter() - started

    def close(self) -> None:
        self._client.close()

    # -- internals ----------------------------------------------------------------------

    def _estimate(self, messages: Sequence[Mapping[str, Any]]) -> int:
        """``count_tokens`` for raw API messages (tool calls counted by their JSON)."""
        return REPLY_PRIMING + sum(
            math.ceil(len(json.dumps(m)) / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD for m in messages
        )

    def _stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
    ) -> Iterator[str | Completion]:
        body = self._body(messages, max_tokens, temperature, stop, stream=True)
        body["stream_options"] = {"include_usage": True}
        buffer = StopBuffer(stop)
        pieces: list[str] = []
        usage: dict[str, Any] = {}
        finish, model = "stop", self.name
        try:
            outcome = send(self._client, self._request(body), self.retry, stream=True)
            response = outcome.response
            try:
                self._check(outcome)
                for line in response.iter_lines():
                    payload = line[5:].strip() if line.startswith("data:") else ""
                    if not payload:
                        continue  # blank separators, ": keep-alive" comments, "event:" lines
                    if payload == "[DONE]":
                        break
                    chunk = self._chunk(payload)
                    if isinstance(chunk.get("usage"), dict):  # null but in the last chunk
                        usage = chunk["usage"]
                    model = str(chunk.get("model") or model)
                    choices = chunk.get("choices") or []
                    if choices and choices[0].get("finish_reason") == "length":
                        finish = "length"
                    if buffer.stopped:
                        continue  # read on to the usage chunk; the text is already cut
                    out = buffer.feed(self._text(choices, payload))
                    if out:
                        pieces.append(out)
                        yield out
            finally:
                response.close()
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        tail = buffer.flush()
        if tail:
            pieces.append(tail)
            yield tail
        text = "".join(pieces)
        yield Completion(
            text,
            int(usage.get("prompt_tokens") or self.count_tokens(messages)),
            int(usage.get("completion_tokens") or math.ceil(len(text) / CHARS_PER_TOKEN)),
            "stop" if buffer.stopped else finish,
            model,
        )

    def _body(
        self,
        messages: Sequence[Message],
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
        *,
        stream: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }
        if stop:  # some servers reject an empty list
            body["stop"] = list(stop)
        return body

    def _chunk(self, payload: str) -> dict[str, Any]:
        """One SSE chunk, parsed; an ``error`` chunk raises."""
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise self._malformed(payload, exc) from exc
        if not isinstance(data, dict):
            raise self._malformed(payload, TypeError("a chunk must be a JSON object"))
        if "error" in data:
            raise LLMError(f"{self.url} reported an error mid-stream: {payload[:300]}")
        return data

    def _text(self, choices: Any, payload: str) -> str:
        """The text of one chunk's choices (none: e.g. the last chunk, carrying usage)."""
        try:
            if not choices:
                return ""
            return str((choices[0].get("delta") or {}).get("content") or "")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self._malformed(payload, exc) from exc

    def _request(self, body: dict[str, Any], timeout_s: float | None = None) -> httpx.Request:
        if timeout_s is None:
            return self._client.build_request("POST", self.url, json=body)
        return self._client.build_request("POST", self.url, json=body, timeout=timeout_s)

    def _post(self, body: dict[str, Any], timeout_s: float | None = None) -> httpx.Response:
        """The server's successful reply to ``body`` (retried as ``self.retry`` says; a
        ``timeout_s`` given by the caller bounds the retries' waits too)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            request = self._request(body, timeout_s)
            outcome = send(self._client, request, self.retry, deadline=deadline)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, timeout_s) from exc
        self._check(outcome)
        return outcome.response

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
            else f"check llm.model = {self.name!r} (GET {self.url.rsplit('/', 2)[0]}/models "
            "lists what the server serves; a vLLM LoRA adapter is named by --lora-modules) "
            "and llm.base_url (it usually ends in /v1)"
            if code == 404
            else f"the server is overloaded or failing: check its log (and llm.model = "
            f"{self.name!r}), or raise llm.retries"
            if code in RETRY_STATUSES
            else f"check llm.model = {self.name!r} and the server's log"
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

    def _malformed(self, text: str, exc: Exception) -> LLMError:
        return LLMError(
            f"{self.url} sent a reply that is not an OpenAI chat completion ({exc}): "
            f"{text[:300]!r}. Check llm.base_url points at an OpenAI-compatible API."
        )


def _tool_call(raw: Mapping[str, Any], index: int) -> ToolCallRequest:
    """One entry of ``tool_calls``; arguments arrive as a JSON string (OpenAI, vLLM) or
    as an object (Ollama)."""
    function = raw["function"]
    args = function.get("arguments")
    if isinstance(args, Mapping):
        return ToolCallRequest(
            str(raw.get("id") or f"call_{index}"), function["name"], dict(args), json.dumps(args)
        )
    text = args if isinstance(args, str) else ""
    try:
        parsed = json.loads(text) if text.strip() else {}
    except ValueError:
        parsed = None
    return ToolCallRequest(
        str(raw.get("id") or f"call_{index}"),
        str(function["name"]),
        parsed if isinstance(parsed, dict) else None,
        text,
    )
