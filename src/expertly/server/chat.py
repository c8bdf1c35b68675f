"""``POST /v1/chat/completions``: OpenAI's chat API answered by an expertly route.

The ``model`` names the route (``expertly-rag``, ``expertly-auto``, ...). The last user
message is the question; earlier turns and system messages are not used (each question is
answered from the documents on its own, as ``expertly ask`` does). Parameters expertly
cannot honour are refused by name with a 400, never ignored; unknown fields are accepted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from expertly.answer import stream_answer
from expertly.generate.stops import cut_at_stop
from expertly.server.auth import requires, service_of
from expertly.server.batching import AnswererKey
from expertly.server.errors import APIError, unsupported
from expertly.server.service import Caller, Service
from expertly.server.streaming import AnswerPump, Outcome, StreamRequest, sse_events
from expertly.server.wire import extension
from expertly.types import Answer, Citation

router = APIRouter()


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's request body; fields not listed are accepted (and unused) unless refused
    in ``refuse_unsupported``."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=8192)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    stop: str | list[str] | None = None
    n: int | None = None


# parameter -> (is it asking for something unsupported?, why it is refused)
_REFUSED: dict[str, tuple[Any, str]] = {
    "n": (lambda v: v not in (None, 1), "one choice per request (n=1)."),
    "tools": (lambda v: bool(v), "the routes call their own tools; use model expertly-agent."),
    "tool_choice": (
        lambda v: v not in (None, "none", "auto"),
        "no tools can be passed; use model expertly-agent.",
    ),
    "functions": (lambda v: bool(v), "function calling is not offered; use expertly-agent."),
    "function_call": (
        lambda v: v not in (None, "none", "auto"),
        "function calling is not offered; use expertly-agent.",
    ),
    "logprobs": (lambda v: bool(v), "log-probabilities are not returned."),
    "top_logprobs": (lambda v: v is not None, "log-probabilities are not returned."),
    "logit_bias": (lambda v: bool(v), "token biases are not applied."),
    "response_format": (
        lambda v: v is not None and (not isinstance(v, dict) or v.get("type") != "text"),
        "answers are plain text with [n] citation markers.",
    ),
    "top_p": (lambda v: v not in (None, 1, 1.0), "nucleus sampling is not offered."),
    "presence_penalty": (lambda v: v not in (None, 0, 0.0), "penalties are not applied."),
    "frequency_penalty": (lambda v: v not in (None, 0, 0.0), "penalties are not applied."),
    "audio": (lambda v: v is not None, "answers are text only."),
    "modalities": (lambda v: v not in (None, ["text"]), "answers are text only."),
    "prediction": (lambda v: v is not None, "predicted outputs are not used."),
    "parallel_tool_calls": (lambda v: bool(v), "no tools can be passed."),
    "web_search_options": (lambda v: v is not None, "answers come from your documents only."),
    "reasoning_effort": (lambda v: v not in (None, "none"), "the models do not reason apart."),
    "verbosity": (lambda v: v not in (None, "medium"), "answer length is set by max_tokens."),
}


def refuse_unsupported(body: ChatRequest) -> None:
    """A 400 naming the first parameter asked for that expertly cannot honour."""
    given = {**(body.model_extra or {}), "n": body.n}
    for name, (asks, why) in _REFUSED.items():
        if name in given and asks(given[name]):
            raise unsupported(name, why)
    seed = given.get("seed")
    if seed is not None and (body.temperature or 0.0) > 0:
        raise unsupported("seed", "sampling is not seeded; use temperature 0 (deterministic).")


def question_of(messages: list[ChatMessage]) -> str:
    """The text of the last message, which must be the user's."""
    last = messages[-1]
    if last.role != "user":
        raise APIError(
            400,
            f"The last message is from '{last.role}': end 'messages' with the user's question.",
            param="messages",
            code="invalid_value",
        )
    if isinstance(last.content, list):
        parts = []
        for part in last.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise unsupported(
                    "messages.content", "only text parts ({'type': 'text'}) can be read."
                )
            parts.append(part["text"])
        text = "\n".join(parts)
    else:
        text = last.content or ""
    if not text.strip() or "\x00" in text:
        raise APIError(
            400,
            "The question (the last user message) is empty or holds a NUL byte: ask in words.",
            param="messages",
            code="invalid_value",
        )
    return text


def stops_of(stop: str | list[str] | None) -> list[str]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > 4 or any(not s for s in stops):
        raise APIError(
            400, "'stop' takes up to 4 non-empty strings.", param="stop", code="invalid_value"
        )
    return stops


def finish_reason(answer: Answer, stopped: bool) -> str:
    if stopped:
        return "stop"
    reasons = [s.detail.get("finish_reason") for s in answer.trace if s.name == "generate"]
    return "length" if reasons and reasons[-1] == "length" else "stop"


def kept_citations(answer: Answer, text: str) -> tuple[Citation, ...]:
    """The citations whose ``[n]`` marker is still in ``text`` (all of them unless a
    stop sequence cut the answer short)."""
    if text == answer.text:
        return answer.citations
    return tuple(c for c in answer.citations if f"[{c.number}]" in text)


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(
    body: ChatRequest, request: Request, caller: Caller = Depends(requires("ask"))
) -> JSONResponse | StreamingResponse:
    service = service_of(request)
    refuse_unsupported(body)
    question = question_of(body.messages)
    stops = stops_of(body.stop)
    route = service.route_of(body.model)
    if route is None:
        offered = ", ".join(m for m, r in service.models() if r != "embed")
        raise APIError(
            404,
            f"The model '{body.model}' does not exist: choose one of {offered} (GET /v1/models).",
            param="model",
            code="model_not_found",
        )
    ready(service)
    mode, run = route
    max_tokens = body.max_completion_tokens or body.max_tokens
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def outcome(answer: Answer) -> tuple[str, str, dict[str, Any], dict[str, int]]:
        """(text, finish_reason, extension, usage) of the answer, tokens counted."""
        text, stopped = cut_at_stop(answer.text, stops)
        usage = _usage(answer)
        service.metrics.tokens.labels("prompt", mode).inc(usage["prompt_tokens"])
        service.metrics.tokens.labels("completion", mode).inc(usage["completion_tokens"])
        ext = extension(replace(answer, text=text), kept_citations(answer, text))
        return text, finish_reason(answer, stopped), ext, usage

    key = (mode, run, max_tokens, body.temperature)
    if body.stream:
        include = bool(body.stream_options and body.stream_options.include_usage)
        request_ = StreamRequest(ident, created, body.model, stops, include)
        return await _streamed(service, key, question, caller, request_, outcome)
    assert service.batcher is not None
    answer = await service.batcher.answer(key, question, caller.principal)
    text, reason, ext, usage = outcome(answer)
    return JSONResponse(
        {
            "id": ident,
            "object": "chat.completion",
            "created": created,
            "model": body.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": reason,
                    "logprobs": None,
                }
            ],
            "usage": usage,
            "system_fingerprint": None,
            "expertly": ext,
        }
    )


async def _streamed(
    service: Service,
    key: AnswererKey,
    question: str,
    caller: Caller,
    request: StreamRequest,
    outcome: Outcome,
) -> StreamingResponse:
    """The answer as server-sent events while the model generates it. The generation
    slot is held from here to the stream's end; an error before the first piece is an
    ordinary error response (its status code intact), one after it an error event."""
    assert service.queue is not None

    def items() -> Iterator[str | Answer]:
        answerer = service.answerer(*key)
        return stream_answer(answerer, question, principal=caller.principal)

    await service.queue.enter()
    pump = AnswerPump(items, service.queue.leave)
    try:
        first = await pump.next()
    except BaseException:
        pump.stop()
        raise
    if first[0] == "error":
        raise first[1]
    return StreamingResponse(
        sse_events(pump, first, request, outcome),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


def ready(service: Service) -> None:
    """A 503 with ``Retry-After`` while the models load (or after they failed to)."""
    if service.ready:
        return
    if service.failure:
        raise APIError(503, f"The models failed to load: {service.failure}", code="not_ready")
    raise APIError(
        503,
        "The server is still loading its models: retry shortly (GET /readyz says when).",
        code="not_ready",
        headers={"Retry-After": str(service.settings.retry_after_s)},
    )


def _usage(answer: Answer) -> dict[str, int]:
    prompt = int(answer.usage.get("prompt_tokens", 0))
    completion = int(answer.usage.get("completion_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
