"""Guided replies: the agent writes the JSON and the model fills in each field."""

from __future__ import annotations

from collections.abc import Sequence

from expertly.agents.budget import Budget
from expertly.agents.guided import ANSWER_OPENING, guided_reply
from expertly.agents.parsing import FinalAnswer, ToolCall, parse_reply
from expertly.agents.react import AgentAnswerer
from expertly.agents.tools.base import ToolRegistry
from expertly.config import AgentSettings
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Message
from tests.unit.agents.test_react import calculator

CHAT = [Message("system", "tools..."), Message("user", "Question: What is 17 times 23?")]


def fields(messages: Sequence[Message]) -> str:
    """A model that fills each field; it answers once it has seen an observation."""
    prefix = messages[-1].content
    seen = any(m.content.startswith("Observation") for m in messages)
    if prefix == '{"tool": "':
        return 'final_answer" and more' if seen else 'calculator", "arguments"'
    if prefix.endswith('{"expression": "'):
        return '17*23"}}'
    if prefix == ANSWER_OPENING:
        return 'It is "391" [1]."}} trailing'
    raise AssertionError(f"unexpected prefix {prefix!r}")


def test_a_guided_reply_is_valid_json_built_field_by_field() -> None:
    llm = ScriptedLLM(fields)
    budget = Budget(5, 100, 60.0)
    reply = guided_reply(llm, CHAT, ToolRegistry.of([calculator()]), budget)
    assert reply.text == '{"tool": "calculator", "arguments": {"expression": "17*23"}}'
    assert parse_reply(reply.text) == ToolCall("calculator", {"expression": "17*23"})
    assert len(reply.calls) == 2 and budget.calls == 2
    assert budget.completion_tokens == sum(c.completion_tokens for c in reply.calls)


def test_guided_answer_escapes_quotes_and_an_unknown_tool_stays_unknown() -> None:
    budget = Budget(5, 100, 60.0)
    answer = guided_reply(ScriptedLLM(fields), CHAT, ToolRegistry(), budget, answer_only=True)
    assert parse_reply(answer.text) == FinalAnswer('It is "391" [1].')
    odd = guided_reply(ScriptedLLM(['math.math"']), CHAT, ToolRegistry(), Budget(5, 100, 60.0))
    assert parse_reply(odd.text) == ToolCall("math.math", {})


def test_guided_reply_stops_when_the_token_budget_is_spent() -> None:
    budget = Budget(5, 1, 60.0)
    reply = guided_reply(ScriptedLLM(fields), CHAT, ToolRegistry.of([calculator()]), budget)
    assert budget.calls == 1 and budget.tokens_left() == 0
    assert reply.text.startswith('{"tool": "calculator", "arguments": {"expression": "')


def test_the_guided_agent_calls_the_tool_then_answers() -> None:
    calc = calculator()
    llm = ScriptedLLM(fields)
    agent = AgentAnswerer(llm, ToolRegistry.of([calc]), AgentSettings(), guided=True)
    answer = agent.answer("What is 17 times 23?")
    assert calc.calls == [{"expression": "17*23"}]
    assert answer.text == 'It is "391" [1].' and not answer.incomplete
    first, second = (s.detail for s in answer.trace[:2])
    assert (first["tool"], first["guided_calls"], second["kind"]) == ("calculator", 2, "answer")
    system = llm.calls[0][0].content
    assert '{"tool": "calculator", "arguments": {"expression": "2*(3+4)"}}' in system
    assert "- final_answer: Give your final answer" in system
    assert len(answer.prompts) == 2  # one prompt per step, whatever the number of fields
