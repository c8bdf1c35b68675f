"""Native tool calling: OpenAICompatLLM.generate_with_tools against a mocked endpoint, and
the agent loop driving it (tools in the request, tool_calls in the reply)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from expertly.agents.react import AgentAnswerer
from expertly.agents.tools.base import ToolRegistry
from expertly.config import AgentSettings
from expertly.errors import LLMError
from expertly.generate.openai_compat import OpenAICompatLLM
from expertly.types import Message
from tests.unit.agents.test_react import calculator

Reply = Callable[[dict[str, Any]], dict[str, Any]]


def endpoint(reply: Reply, seen: list[dict[str, Any]]) -> OpenAICompatLLM:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        data = reply(body)
        if body.get("stream"):  # the text-mode agent streams (to honour its deadline)
            text = data["choices"][0]["message"]["content"]
            chunk = {"choices": [{"delta": {"content": text}}]}
            sse = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
            return httpx.Response(200, text=sse, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=data)

    return OpenAICompatLLM(
        "qwen", base_url="http://llm.test/v1", transport=httpx.MockTransport(handler)
    )


def tool_call_reply(name: str, arguments: Any, call_id: str = "call_1") -> dict[str, Any]:
    return {
        "model": "qwen",
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": name, "arguments": arguments},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 12},
    }


def text_reply(text: str) -> dict[str, Any]:
    return {
        "choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 80, "completion_tokens": 6},
    }


SCHEMA = ToolRegistry.of([calculator()]).openai_schema()


def test_generate_with_tools_sends_the_schema_and_parses_tool_calls() -> None:
    seen: list[dict[str, Any]] = []
    llm = endpoint(lambda body: tool_call_reply("calculator", '{"expression": "17*23"}'), seen)
    reply = llm.generate_with_tools([Message("user", "17*23?")], SCHEMA, max_tokens=64)
    assert seen[0]["tools"] == SCHEMA and seen[0]["max_tokens"] == 64
    assert seen[0]["messages"] == [{"role": "user", "content": "17*23?"}]
    (call,) = reply.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_1", "calculator", {"expression": "17*23"})
    assert reply.completion.finish_reason == "tool_calls"
    assert (reply.completion.prompt_tokens, reply.completion.completion_tokens) == (50, 12)
    assert reply.message["tool_calls"][0]["function"]["arguments"] == '{"expression": "17*23"}'


def test_generate_with_tools_reads_object_arguments_and_keeps_bad_ones_raw() -> None:
    ollama = endpoint(lambda body: tool_call_reply("calculator", {"expression": "2+3"}), [])
    (call,) = ollama.generate_with_tools([Message("user", "x")], SCHEMA, max_tokens=8).tool_calls
    assert call.arguments == {"expression": "2+3"} and json.loads(call.raw_arguments) == {
        "expression": "2+3"
    }
    broken = endpoint(lambda body: tool_call_reply("calculator", '{"expression": '), [])
    (call,) = broken.generate_with_tools([Message("user", "x")], SCHEMA, max_tokens=8).tool_calls
    assert call.arguments is None and call.raw_arguments == '{"expression": '


def test_generate_with_tools_without_calls_is_a_text_reply_and_errors_are_llm_errors() -> None:
    llm = endpoint(lambda body: text_reply("Hello."), [])
    reply = llm.generate_with_tools([Message("user", "hi")], [], max_tokens=8)
    assert (reply.completion.text, reply.tool_calls, reply.completion.finish_reason) == (
        "Hello.", (), "stop",
    )  # fmt: skip
    bad = endpoint(lambda body: {"choices": []}, [])
    with pytest.raises(LLMError, match="not an OpenAI chat completion"):
        bad.generate_with_tools([Message("user", "hi")], [], max_tokens=8)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    timed = OpenAICompatLLM("m", base_url="http://llm.test/v1", transport=httpx.MockTransport(slow))
    with pytest.raises(LLMError, match="did not answer"):
        timed.generate_with_tools([Message("user", "hi")], [], max_tokens=8, timeout_s=0.5)


def test_the_agent_uses_native_tool_calls_and_sends_tool_results_back() -> None:
    seen: list[dict[str, Any]] = []

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        if len(seen) == 1:
            return tool_call_reply("calculator", '{"expression": "17*23"}')
        if body.get("tools"):  # the answer, once the result is in
            return text_reply("17 times 23 is 391.")
        return text_reply("YES, the result says 391.")  # the supervisor's judge call

    calc = calculator()
    llm = endpoint(reply, seen)
    answer = AgentAnswerer(llm, ToolRegistry.of([calc]), AgentSettings()).answer("17*23?")
    assert answer.text == "17 times 23 is 391." and not answer.incomplete
    assert calc.calls == [{"expression": "17*23"}]
    second = seen[1]["messages"]
    assert second[-2]["tool_calls"][0]["id"] == "call_1"
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == "call_1"
    assert "391" in second[-1]["content"]
    assert "Example of a tool call" not in second[0]["content"]  # no JSON-in-text format
    assert len(seen) == 3 and "tools" not in seen[2]  # the judge
    assert answer.usage == {
        "prompt_tokens": 50 + 80 + 80,
        "completion_tokens": 12 + 6 + 6,
        "calls": 3,
    }
    assert answer.trace[1].detail["supervisor"] == "judge"


def test_native_bad_arguments_are_an_observation_and_native_can_be_turned_off() -> None:
    seen: list[dict[str, Any]] = []

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        if len(seen) == 1:
            return tool_call_reply("calculator", "17*23")
        return text_reply("I could not compute it.")

    settings = AgentSettings(supervise=False)
    answer = AgentAnswerer(endpoint(reply, seen), ToolRegistry.of([calculator()]), settings).answer(
        "17*23?"
    )
    first = answer.trace[0].detail
    assert not first["ok"] and "not a JSON object" in first["error"]
    assert seen[1]["messages"][-1]["role"] == "tool"

    text_seen: list[dict[str, Any]] = []
    off = AgentSettings(native_tools=False, supervise=False)
    llm = endpoint(lambda body: text_reply('{"answer": "391"}'), text_seen)
    assert AgentAnswerer(llm, ToolRegistry.of([calculator()]), off).answer("q").text == "391"
    assert "tools" not in text_seen[0] and text_seen[0]["stream"] is True


def test_native_answer_now_offers_the_tools_and_refuses_a_tool_call_as_an_answer() -> None:
    seen: list[dict[str, Any]] = []

    def reply(body: dict[str, Any]) -> dict[str, Any]:
        if len(seen) == 1:
            return tool_call_reply("calculator", '{"expression": "17*23"}')
        return text_reply("It is 391.")

    settings = AgentSettings(max_steps=1, supervise=False)
    answer = AgentAnswerer(endpoint(reply, seen), ToolRegistry.of([calculator()]), settings).answer(
        "17*23?"
    )
    assert (answer.text, answer.incomplete) == ("It is 391.", True)
    assert answer.reason.startswith("max_steps") and seen[1]["tools"] == SCHEMA
    assert "You cannot call more tools (max_steps)" in seen[1]["messages"][-1]["content"]

    again: list[dict[str, Any]] = []
    stubborn = endpoint(
        lambda body: tool_call_reply("calculator", '{"expression": "17*23"}'), again
    )
    answer = AgentAnswerer(stubborn, ToolRegistry.of([calculator()]), settings).answer("17*23?")
    assert answer.incomplete and answer.text.startswith("I could not finish (max_steps")
    assert "calculator: 391" in answer.text and len(again) == 2


def test_an_endpoint_timeout_at_the_agents_deadline_is_the_time_budget_not_an_error() -> None:
    now = [0.0]
    sent: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.extensions["timeout"]["read"])
        now[0] += 30.0  # the server takes longer than the time left
        raise httpx.ReadTimeout("slow", request=request)

    llm = OpenAICompatLLM(
        "m", base_url="http://llm.test/v1", transport=httpx.MockTransport(handler)
    )
    settings = AgentSettings(timeout_s=20)
    bot = AgentAnswerer(llm, ToolRegistry.of([calculator()]), settings, clock=lambda: now[0])
    answer = bot.answer("17*23?")
    assert sent == [20.0]  # the request was given the time left
    assert answer.incomplete and answer.reason.startswith("timeout_s: 30.0 s passed")
    assert answer.trace[0].detail["error"].startswith("timeout_s")

    now[0] = 0.0  # the server's own limit, well before the agent's deadline: an error
    patient = AgentAnswerer(
        llm, ToolRegistry.of([calculator()]), AgentSettings(timeout_s=600), clock=lambda: 0.0
    )
    with pytest.raises(LLMError, match="did not answer"):
        patient.answer("17*23?")


def test_an_answer_now_call_that_times_out_at_the_deadline_gives_the_summary() -> None:
    now = [0.0]
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        if len(seen) == 1:
            return httpx.Response(
                200, json=tool_call_reply("calculator", '{"expression": "17*23"}')
            )
        now[0] += 30.0  # the last call outlives the agent's time
        raise httpx.ReadTimeout("slow", request=request)

    llm = OpenAICompatLLM(
        "m", base_url="http://llm.test/v1", transport=httpx.MockTransport(handler)
    )
    settings = AgentSettings(timeout_s=20, max_steps=1, supervise=False)
    bot = AgentAnswerer(llm, ToolRegistry.of([calculator()]), settings, clock=lambda: now[0])
    answer = bot.answer("17*23?")
    assert len(seen) == 2 and answer.incomplete and answer.reason.startswith("max_steps")
    assert answer.text.startswith("I could not finish (max_steps") and "391" in answer.text
    last = answer.trace[-2].detail
    assert last["kind"] == "summary" and last["error"].startswith("timeout_s: 30.0 s passed")
