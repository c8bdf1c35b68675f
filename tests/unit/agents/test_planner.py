"""The planner: one call, a short numbered plan, forgiving about the reply's form."""

from __future__ import annotations

import pytest

from expertly.agents.planner import make_plan, parse_plan
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Message


@pytest.mark.parametrize(
    ("reply", "steps"),
    [
        ("1. Search the leave policy.\n2) Compute the total.\n3 - Answer.",
         ("Search the leave policy.", "Compute the total.", "Answer.")),
        ("Step 1: search\nStep 2: answer", ("search", "answer")),
        ("- search the docs\n- answer", ("search the docs", "answer")),
        ("1. a\n1. a\n2. b", ("a", "b")),
        ("", ()),
    ],
)  # fmt: skip
def test_parse_plan_reads_numbered_or_bulleted_lines(reply: str, steps: tuple[str, ...]) -> None:
    assert parse_plan(reply) == steps


def test_parse_plan_is_bounded() -> None:
    reply = "\n".join(f"{i}. step {i} " + "x" * 500 for i in range(1, 10))
    steps = parse_plan(reply, max_steps=3)
    assert len(steps) == 3 and all(len(s) <= 200 for s in steps)


def test_make_plan_prefills_the_first_number_and_keeps_the_call() -> None:
    llm = ScriptedLLM([" Search for the price.\n2. Multiply by 3.\n\n3. ignored"])
    plan = make_plan(llm, "What do 3 sensors cost?", "- search_docs: ...", max_tokens=40,
                     prefill=True)  # fmt: skip
    assert plan.steps == ("Search for the price.", "Multiply by 3.")  # cut at the blank line
    assert plan.text == "1. Search for the price.\n2. Multiply by 3."
    assert plan.messages[-1] == Message("assistant", "1.")
    assert "search_docs" in plan.messages[0].content
    assert plan.completion.completion_tokens > 0 and list(plan.messages) == llm.calls[0]
