"""Reading tool calls and answers out of model replies: JSON, repaired JSON, ReAct text."""

from __future__ import annotations

import pytest

from expertly.agents.parsing import (
    FORMAT_HINT,
    FinalAnswer,
    ParseError,
    ToolCall,
    find_json_object,
    parse_reply,
)

CALC = ToolCall("calculator", {"expression": "2*21"}, "need math")
X, E, L = {"input": "2*21"}, {"expression": "2*21"}, {"input": "leave"}


@pytest.mark.parametrize(
    "reply",
    [
        '{"thought": "need math", "tool": "calculator", "arguments": {"expression": "2*21"}}',
        '```json\n{"thought": "need math", "tool": "calculator", '
        '"arguments": {"expression": "2*21"}}\n```',
        "{'thought': 'need math', 'tool': 'calculator', 'arguments': {'expression': '2*21'}}",
        '{"thought": "need math", "tool": "calculator", "arguments": {"expression": "2*21",},}',
        'Sure! Here is my call: {"thought": "need math", "tool": "calculator", '
        '"arguments": {"expression": "2*21"}} Hope that helps.',
        '{"thought": "need math", "tool": "calculator", '
        '"arguments": "{\\"expression\\": \\"2*21\\"}"}',
        '{"thought": "need math", "action": "calculator", "action_input": {"expression": "2*21"}}',
        '{"thought": "need math", "function": {"name": "calculator", '
        '"arguments": {"expression": "2*21"}}}',
    ],
    ids=["json", "fence", "single-quotes", "trailing-commas", "text-around", "args-string",
         "action-keys", "function-form"],
)  # fmt: skip
def test_json_forms_give_the_same_tool_call(reply: str) -> None:
    assert parse_reply(reply) == CALC


def test_prefill_is_joined_and_a_reply_cut_off_by_the_token_limit_is_closed() -> None:
    reply = 'need math", "tool": "calculator", "arguments": {"expression": "2*21"'
    assert parse_reply(reply, prefill='{"thought": "') == CALC


def test_answers_in_json_and_react_text() -> None:
    assert parse_reply('{"thought": "done", "answer": "42 [1]"}') == FinalAnswer("42 [1]", "done")
    assert parse_reply('{"tool": "final_answer", "arguments": {"answer": "42"}}') == FinalAnswer(
        "42"
    )
    text = "Thought: I know it now\nFinal Answer: 20 weeks [1]"
    assert parse_reply(text) == FinalAnswer("20 weeks [1]", "I know it now")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Thought: compute\nAction: calculator[2*21]", ToolCall("calculator", X, "compute")),
        ('Action: calculator\nAction Input: {"expression": "2*21"}', ToolCall("calculator", E)),
        ("Action: search_docs\nAction Input: leave\nObservation:", ToolCall("search_docs", L)),
        ('Action: calculator[{"expression": "2*21"}]', ToolCall("calculator", E)),
        ("Action: calculator", ToolCall("calculator", {})),
    ],
)  # fmt: skip
def test_react_text_forms(reply: str, expected: ToolCall) -> None:
    assert parse_reply(reply) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   ",
        "The answer is 12.",
        '{"thought": "hmm"}',
        '{"tool": "calculator", "arguments": [1, 2]}',
        '{"tool": "not a tool name!", "arguments": {}}',
        "Action: 12 weeks of leave",
        "{{{{{{",
        '{"tool": "calculator", "arguments": {1, 2}}',  # a Python set is no JSON object
        "{" * 2000 + "}" * 10,
    ],
)
def test_malformed_replies_become_errors_that_teach_the_format(reply: str) -> None:
    action = parse_reply(reply)
    assert isinstance(action, ParseError)
    assert FORMAT_HINT in action.message


def test_final_answer_ends_at_the_next_label_and_wins_over_a_bogus_action() -> None:
    reply = "Thought: easy\nFinal Answer: 5\nAction: calculator[2+3]"
    assert parse_reply(reply) == FinalAnswer("5", "easy")
    # SmolLM2-135M wrote this: an "Action" that is no tool name, then a final answer.
    reply = " 12 weeks\nAction: 12 weeks\nWhen you know the answer:\nFinal Answer: 12"
    assert parse_reply(reply) == FinalAnswer("12")
    # A valid action before a final answer is the step to take now.
    assert parse_reply("Action: calculator[2+3]\nFinal Answer: 5") == ToolCall(
        "calculator", {"input": "2+3"}
    )


def test_find_json_object_never_evaluates_code() -> None:
    assert find_json_object("{'a': __import__('os').system('echo hi')}") is None
    assert find_json_object("no braces here") is None
    assert find_json_object('x {"a": {"b": [1, 2,]}} y') == {"a": {"b": [1, 2]}}
