"""The OpenAI-compatible LLM backend against vLLM's and Ollama's reply shapes.

One contract, parametrized over the server flavours: each test builds the backend from
settings (``create_llm``), as a workspace does, and talks to a ``FakeServer`` on a real
local socket that replays the flavour's shapes (``shapes/*.json``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from expertly.config import LLMSettings
from expertly.errors import ContextLengthError, ExpertlyTimeout, LLMError, LLMTimeoutError
from expertly.generate.openai_compat import OpenAICompatLLM, ToolCompletion
from expertly.generate.registry import create_llm
from expertly.generate.streaming import joined
from expertly.types import Completion, Message
from tests.unit.served.fake_server import FakeServer, Reply, closed_port_url, shapes, sse_lines

CHAT = [
    Message("system", "Answer from the handbook."),
    Message("user", "How many weeks of paid parental leave do employees get?"),
]
ANSWER = "Employees get 20 weeks of paid parental leave."
PATH = "/v1/chat/completions"
LLM_FLAVOURS = ("vllm", "ollama")


@pytest.fixture(params=LLM_FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def served_llm(server_url: str, model: str, **settings: Any) -> OpenAICompatLLM:
    """The backend as ``llm.backend = 'openai'`` builds it (fast retries unless asked)."""
    settings.setdefault("retry_backoff_s", 0.01)
    llm = create_llm(
        LLMSettings(backend="openai", model=model, base_url=f"{server_url}/v1", **settings),
        cache_dir=Path("unused"),  # an endpoint converts no model
    )
    assert isinstance(llm, OpenAICompatLLM)
    return llm


@pytest.fixture
def llm(fake_server: FakeServer, flavour: str) -> Iterator[OpenAICompatLLM]:
    backend = served_llm(fake_server.url, shapes(flavour)["model"])
    yield backend
    backend.close()


# -- generate -------------------------------------------------------------------------


def test_generate_reads_text_usage_and_model(
    fake_server: FakeServer, flavour: str, llm: OpenAICompatLLM
) -> None:
    shape = shapes(flavour)
    fake_server.queue(PATH, Reply(body=shape["chat"]))
    done = llm.generate(CHAT, max_tokens=60, temperature=0.0)
    assert done == Completion(ANSWER, 38, 10, "stop", shape["model"])
    sent = fake_server.received[0]
    assert (sent.path, sent.headers["Content-Type"]) == (PATH, "application/json")
    assert sent.body == {
        "model": shape["model"],
        "messages": [{"role": m.role, "content": m.content} for m in CHAT],
        "max_tokens": 60,
        "temperature": 0.0,
        "stream": False,
    }


@pytest.mark.parametrize("usage", ["absent", "null", "null fields"])
def test_generate_estimates_usage_the_server_does_not_report(
    fake_server: FakeServer, flavour: str, llm: OpenAICompatLLM, usage: str
) -> None:
    body = shapes(flavour)["chat"]
    if usage == "absent":
        del body["usage"]
    elif usage == "null":
        body["usage"] = None
    else:
        body["usage"] = {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None}
    fake_server.queue(PATH, Reply(body=body))
    done = llm.generate(CHAT, max_tokens=60)
    assert done.text == ANSWER
    assert done.prompt_tokens == llm.count_tokens(CHAT)
    assert done.completion_tokens == math.ceil(len(ANSWER) / 3)


def test_generate_sends_the_api_key_as_a_bearer_token(
    fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVED_KEY", "sk-local-123")
    llm = served_llm(fake_server.url, "m", api_key_env="SERVED_KEY")
    fake_server.queue(PATH, Reply(body=shapes("vllm")["chat"]))
    llm.generate(CHAT, max_tokens=5)
    assert fake_server.received[0].headers["Authorization"] == "Bearer sk-local-123"


# -- stream ---------------------------------------------------------------------------


def test_stream_pieces_join_to_the_text_and_usage_is_counted(
    fake_server: FakeServer, flavour: str, llm: OpenAICompatLLM
) -> None:
    shape = shapes(flavour)
    fake_server.queue(PATH, Reply.sse(shape["stream"]), Reply.sse(shape["stream"]))
    pieces, done = joined(llm.stream_completion(CHAT, max_tokens=60))
    assert pieces == [
        "Employees",
        " get",
        " 20",
        " weeks",
        " of",
        " paid",
        " parental",
        " leave",
        ".",
    ]
    assert list(llm.stream(CHAT, max_tokens=60)) == pieces
    assert done == Completion(ANSWER, 38, 10, "stop", shape["model"])
    sent = fake_server.received[0].body
    assert (sent["stream"], sent["stream_options"]) == (True, {"include_usage": True})


def test_stream_without_a_usage_chunk_estimates_usage(
    fake_server: FakeServer, flavour: str, llm: OpenAICompatLLM
) -> None:
    fake_server.queue(PATH, Reply.sse(shapes(flavour)["stream_no_usage"]))
    pieces, done = joined(llm.stream_completion(CHAT, max_tokens=60))
    assert "".join(pieces) == done.text == ANSWER
    assert done.prompt_tokens == llm.count_tokens(CHAT)
    assert done.completion_tokens == math.ceil(len(ANSWER) / 3)


def test_stream_reads_chunks_that_carry_usage_null(
    fake_server: FakeServer, flavour: str, llm: OpenAICompatLLM
) -> None:
    """Servers that follow OpenAI to the letter put ``"usage": null`` in every chunk but
    the last."""
    lines = [
        line.replace('"choices":[{', '"usage":null,"choices":[{')
        for line in shapes(flavour)["stream"]
    ]
    assert sum('"usage":null' in line for line in lines) >= 10
    fake_server.queue(PATH, Reply.sse(lines))
    pieces, done = joined(llm.stream_completion(CHAT, max_tokens=60))
    assert ("".join(pieces), done.prompt_tokens, done.completion_tokens) == (ANSWER, 38, 10)


def test_stream_error_event_raises_with_the_servers_message(
    fake_server: FakeServer, flavour: str, llm: OpenAICompatLLM
) -> None:
    shape = shapes(flavour)
    lines = [*shape["stream"][:4], shape["errors"]["mid_stream"], ""]
    fake_server.queue(PATH, Reply.sse(lines))
    with pytest.raises(LLMError, match=r"reported an error mid-stream.*(terminated|EngineCore)"):
        list(llm.stream(CHAT, max_tokens=60))


# -- stop strings ---------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True])
def test_stop_strings_cut_the_reply_when_the_server_does_not(
    fake_server: FakeServer, flavour: str, llm: OpenAICompatLLM, streaming: bool
) -> None:
    shape = shapes(flavour)
    pieces = ["Employees get", " 20 weeks.", "\nQues", "tion: and", " sick leave?"]
    if streaming:
        fake_server.queue(PATH, Reply.sse(sse_lines(shape["stream"], pieces)))
        shown, done = joined(llm.stream_completion(CHAT, max_tokens=60, stop=["\nQuestion:"]))
        assert "".join(shown) == done.text
    else:
        body = shape["chat"]
        body["choices"][0]["message"]["content"] = "".join(pieces)
        fake_server.queue(PATH, Reply(body=body))
        done = llm.generate(CHAT, max_tokens=60, stop=["\nQuestion:"])
    assert (done.text, done.finish_reason) == ("Employees get 20 weeks.", "stop")
    assert fake_server.received[0].body["stop"] == ["\nQuestion:"]


def test_no_stop_field_is_sent_without_stop_strings(
    fake_server: FakeServer, llm: OpenAICompatLLM, flavour: str
) -> None:
    fake_server.queue(PATH, Reply(body=shapes(flavour)["chat"]))
    llm.generate(CHAT, max_tokens=5)
    assert "stop" not in fake_server.received[0].body


# -- tool calls -----------------------------------------------------------------------


def test_tool_calls_in_the_reply_become_tool_call_requests(
    fake_server: FakeServer, flavour: str, llm: OpenAICompatLLM
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "search_docs",
                "description": "Search the handbook",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
    ]
    fake_server.queue(PATH, Reply(body=shapes(flavour)["chat_tool_call"]))
    reply = llm.generate_with_tools(CHAT, tools, max_tokens=100)
    assert isinstance(reply, ToolCompletion)
    (call,) = reply.tool_calls
    assert (call.name, call.arguments) == ("search_docs", {"query": "paid parental leave weeks"})
    assert reply.completion.finish_reason == "tool_calls"
    assert (reply.completion.prompt_tokens, reply.completion.completion_tokens) == (212, 24)
    assert reply.message["tool_calls"][0]["id"] == call.id
    assert fake_server.received[0].body["tools"] == tools


# -- errors ---------------------------------------------------------------------------


def test_a_server_that_is_down_gives_an_error_naming_the_url() -> None:
    url = closed_port_url()
    llm = served_llm(url, "m")
    with pytest.raises(LLMError, match=r"Cannot connect to http://127\.0\.0\.1:\d+/v1/chat/") as e:
        llm.generate(CHAT, max_tokens=5)
    assert "is the server running?" in str(e.value) and "llm.base_url" in str(e.value)
    with pytest.raises(LLMError, match=r"Cannot connect to .*is the server running"):
        list(llm.stream(CHAT))


@pytest.mark.parametrize("streaming", [False, True])
def test_a_reply_slower_than_the_timeout_is_a_clear_timeout_error(
    fake_server: FakeServer, streaming: bool
) -> None:
    llm = served_llm(fake_server.url, "m", timeout_s=0.3)
    fake_server.queue(PATH, Reply(body=shapes("vllm")["chat"], delay_s=1.5))
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError, match=r"did not answer within 0\.3 s.*llm\.timeout_s") as e:
        if streaming:
            list(llm.stream(CHAT))
        else:
            llm.generate(CHAT, max_tokens=5)
    assert isinstance(e.value, ExpertlyTimeout)
    assert time.monotonic() - started < 1.2  # it did not wait for the reply, nor retry
    deadline = time.monotonic() + 2.0  # the server's thread may record the request late
    while not fake_server.received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fake_server.received) == 1


def test_a_503_then_a_reply_succeeds(
    fake_server: FakeServer, flavour: str, llm: OpenAICompatLLM
) -> None:
    shape = shapes(flavour)
    fake_server.queue(PATH, Reply.error(shape["errors"]["unavailable"]), Reply(body=shape["chat"]))
    assert llm.generate(CHAT, max_tokens=60).text == ANSWER
    first, second = fake_server.received
    assert first.body == second.body
    asked = float(shape["errors"]["unavailable"].get("headers", {}).get("Retry-After", 0))
    assert second.at - first.at >= max(asked - 0.05, 0.01)


def test_a_stream_is_retried_before_its_first_piece(
    fake_server: FakeServer, flavour: str, llm: OpenAICompatLLM
) -> None:
    shape = shapes(flavour)
    fake_server.queue(
        PATH, Reply.error(shape["errors"]["server_error"]), Reply.sse(shape["stream"])
    )
    pieces, done = joined(llm.stream_completion(CHAT, max_tokens=60))
    assert ("".join(pieces), done.completion_tokens, len(fake_server.received)) == (ANSWER, 10, 2)


def test_429_waits_as_long_as_retry_after_asks(fake_server: FakeServer) -> None:
    shape = shapes("vllm")
    llm = served_llm(fake_server.url, shape["model"])
    fake_server.queue(PATH, Reply.error(shape["errors"]["rate_limited"]), Reply(body=shape["chat"]))
    assert llm.generate(CHAT, max_tokens=60).text == ANSWER
    first, second = fake_server.received
    assert second.at - first.at >= 0.95  # Retry-After: 1, though the backoff is 0.01 s


def test_a_retry_after_longer_than_the_longest_wait_fails_at_once(fake_server: FakeServer) -> None:
    shape = shapes("vllm")
    llm = served_llm(fake_server.url, shape["model"], retry_max_wait_s=0.5)
    fake_server.queue(PATH, Reply.error(shape["errors"]["rate_limited"]))
    with pytest.raises(LLMError, match=r"HTTP 429 \(it asked to retry after 1 s, longer than "):
        llm.generate(CHAT, max_tokens=5)
    assert len(fake_server.received) == 1


def test_a_persistent_500_fails_after_the_retries_with_the_servers_message(
    fake_server: FakeServer, flavour: str
) -> None:
    shape = shapes(flavour)
    llm = served_llm(fake_server.url, shape["model"], retries=3)
    error = shape["errors"]["server_error"]
    fake_server.queue(PATH, *[Reply.error(error) for _ in range(4)])
    with pytest.raises(LLMError) as e:
        llm.generate(CHAT, max_tokens=5)
    message = str(e.value)
    assert "HTTP 500 (after 4 attempts; llm.retries = 3)" in message
    expected = error["body"].get("message") or error["body"]["error"]["message"]
    assert expected in message and "check its log" in message and "raise llm.retries" in message
    assert len(fake_server.received) == 4
    times = [r.at for r in fake_server.received]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps[2] >= gaps[0]  # the backoff grows: 0.01, 0.02, 0.04 s


def test_no_retries_when_set_to_zero(fake_server: FakeServer) -> None:
    shape = shapes("ollama")
    llm = served_llm(fake_server.url, shape["model"], retries=0)
    fake_server.queue(PATH, Reply.error(shape["errors"]["unavailable"]))
    with pytest.raises(LLMError, match=r"HTTP 503 \(after 1 attempt; llm.retries = 0\).*busy"):
        llm.generate(CHAT, max_tokens=5)


@pytest.mark.parametrize(
    ("flavour_", "error", "expected"),
    [
        ("vllm", "model_not_found", r"HTTP 404: 'The model `myrun2` does not exist\.'.*llm\.model"),
        ("vllm", "model_not_found_nested", r"HTTP 404: 'The model `myrun2` does not exist"),
        ("ollama", "model_not_found", r"HTTP 404: 'model \"llama9\" not found, try pulling"),
        ("vllm", "bad_request", r"HTTP 400: .*greater than or equal to 1"),
        ("ollama", "bad_request", r"HTTP 400: 'invalid message format'"),
    ],
)
def test_client_errors_are_not_retried_and_quote_the_server(
    fake_server: FakeServer, flavour_: str, error: str, expected: str
) -> None:
    llm = served_llm(fake_server.url, "myrun2")
    fake_server.queue(PATH, Reply.error(shapes(flavour_)["errors"][error]))
    with pytest.raises(LLMError, match=expected) as e:
        llm.generate(CHAT, max_tokens=5)
    assert not isinstance(e.value, ContextLengthError)
    assert len(fake_server.received) == 1
    if error.startswith("model_not_found"):
        assert "/v1/models lists what the server serves" in str(e.value)


def test_a_prompt_too_long_for_the_served_window_is_a_context_length_error(
    fake_server: FakeServer,
) -> None:
    llm = served_llm(fake_server.url, "m")
    fake_server.queue(PATH, Reply.error(shapes("vllm")["errors"]["context_length"]))
    with pytest.raises(ContextLengthError, match=r"maximum context length is 32768.*--max-model"):
        llm.generate(CHAT, max_tokens=160)


def test_the_callers_time_budget_bounds_the_retries(fake_server: FakeServer) -> None:
    """The agent passes the seconds it has left: a Retry-After beyond them is not waited."""
    shape = shapes("vllm")
    llm = served_llm(fake_server.url, shape["model"])
    fake_server.queue(PATH, Reply.error(shape["errors"]["rate_limited"]))
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"HTTP 429 \(after 1 attempt; llm.retries = 2\)"):
        llm.generate_with_tools(CHAT, [], max_tokens=5, timeout_s=0.5)
    assert time.monotonic() - started < 0.5
    assert len(fake_server.received) == 1


def test_a_stream_that_stalls_past_the_timeout_is_a_timeout_error(fake_server: FakeServer) -> None:
    """The time-out bounds the wait for each piece, not the whole reply."""
    shape = shapes("ollama")
    llm = served_llm(fake_server.url, shape["model"], timeout_s=0.3)
    fake_server.queue(PATH, dataclasses.replace(Reply.sse(shape["stream"]), stall=(6, 1.5)))
    shown: list[str] = []
    with pytest.raises(LLMTimeoutError, match=r"did not answer within 0\.3 s"):
        for piece in llm.stream(CHAT, max_tokens=60):
            shown.append(piece)
    assert shown == ["Employees", " get", " 20"]  # the pieces before the stall were shown
