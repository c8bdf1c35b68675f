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
too long for the model's window raises ``ContextLengthError``. That HTTP side, and the
parsing of the SSE stream, is ``expertly.generate.openai_http``; the tool-call types and
their parsing are ``expertly.generate.openai_tools``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from typing import Any

import httpx

from expertly.endpoints import RetryPolicy
from expertly.errors import ContextLengthError, LLMError
from expertly.generate.openai_http import ChatEndpoint
from expertly.generate.openai_tools import (
    ToolCallRequest,
    ToolCompletion,
    assistant_message,
    tool_calls,
)
from expertly.generate.replies import stream_text
from expertly.generate.stops import StopBuffer, cut_at_stop
from expertly.types import Completion, Message

# The tool-call types are re-exported: the agent and the tests import them from here, beside
# ``generate_with_tools`` that returns them.
__all__ = ["OpenAICompatLLM", "ToolCallRequest", "ToolCompletion"]

DEFAULT_CONTEXT_WINDOW = 8192
CHARS_PER_TOKEN = 3  # English averages ~4 characters per token; 3 over-counts on purpose
MESSAGE_OVERHEAD = 4  # role and separator tokens a chat template adds per message
REPLY_PRIMING = 3  # the "assistant" header the template appends


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
        self._http = ChatEndpoint(
            f"{base_url.rstrip('/')}/chat/completions",
            model=model,
            api_key=api_key,
            timeout_s=timeout_s,
            retry=retry or RetryPolicy(),
            transport=transport,
        )

    @property
    def url(self) -> str:
        """Where requests go: ``{base_url}/chat/completions``."""
        return self._http.url

    @property
    def timeout_s(self) -> float:
        """Seconds a request may take, unless the caller gives its own."""
        return self._http.timeout_s

    @property
    def retry(self) -> RetryPolicy:
        """How a busy or failing server is asked again."""
        return self._http.retry

    @property
    def _client(self) -> httpx.Client:
        """The endpoint's HTTP client (its headers carry the API key)."""
        return self._http.client

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
        response = self._http.post(body)
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            finish = "length" if choice.get("finish_reason") == "length" else "stop"
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self._http.malformed(response.text, exc) from exc
        text, _ = cut_at_stop(text, stop)
        model = str(data.get("model") or self.name)
        return _completion(text, usage, finish, model, self.count_tokens(messages), text)

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
        response = self._http.post(body, None if timeout_s is None else max(timeout_s, 0.1))
        try:
            data = response.json()
            message = data["choices"][0]["message"]
            finish = data["choices"][0].get("finish_reason") or "stop"
            text = message.get("content") or ""
            calls = tool_calls(message)
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self._http.malformed(response.text, exc) from exc
        finish = "tool_calls" if calls else ("length" if finish == "length" else "stop")
        generated = text + "".join(c.name + c.raw_arguments for c in calls)
        model = str(data.get("model") or self.name)
        prompt = self._estimate(body["messages"])
        completion = _completion(text, usage, finish, model, prompt, generated)
        return ToolCompletion(completion, calls, assistant_message(text, calls))

    def stream(self, messages: Sequence[Message], **kw: Any) -> Iterator[str]:
        """Text pieces from the server's SSE stream (``data:`` lines until ``[DONE]``);
        keywords as for ``generate``, ``max_tokens`` defaults to 256."""
        return stream_text(self, messages, **kw)

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
        self._http.close()

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
        with closing(self._http.events(body)) as chunks:
            for chunk, payload in chunks:
                if isinstance(chunk.get("usage"), dict):  # null but in the last chunk
                    usage = chunk["usage"]
                model = str(chunk.get("model") or model)
                choices = chunk.get("choices") or []
                if choices and choices[0].get("finish_reason") == "length":
                    finish = "length"
                if buffer.stopped:
                    continue  # read on to the usage chunk; the text is already cut
                out = buffer.feed(self._http.delta_text(choices, payload))
                if out:
                    pieces.append(out)
                    yield out
        tail = buffer.flush()
        if tail:
            pieces.append(tail)
            yield tail
        text = "".join(pieces)
        finish = "stop" if buffer.stopped else finish
        yield _completion(text, usage, finish, model, self.count_tokens(messages), text)

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


def _completion(
    text: str, usage: Mapping[str, Any], finish: str, model: str, prompt_tokens: int, generated: str
) -> Completion:
    """The reply with the server's ``usage``, or where it reports none, the estimates:
    ``prompt_tokens``, and ``generated`` (the text and any tool calls) by its length."""
    return Completion(
        text,
        int(usage.get("prompt_tokens") or prompt_tokens),
        int(usage.get("completion_tokens") or math.ceil(len(generated) / CHARS_PER_TOKEN)),
        finish,
        model,
    )
