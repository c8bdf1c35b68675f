"""Budgets: what stops the agent, and calls that never run past their deadline."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from expertly.agents.budget import Budget, complete, text_tokens
from expertly.config import AgentSettings
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Completion, Message

CHAT = [Message("user", "count to ten")]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_limit_gives_its_own_reason_and_none_applies_until_reached() -> None:
    clock = Clock()
    budget = Budget(3, 50, 10.0, cost_per_1k_tokens=2.0, max_cost=0.5, clock=clock)
    assert budget.exhausted() == "" and budget.seconds_left() == 10.0
    budget.charge(Completion("x", prompt_tokens=100, completion_tokens=20))
    assert (budget.tokens_left(), budget.cost) == (30, 0.24)
    # The next prompt's tokens count against the cost before the call is made.
    assert budget.exhausted(next_prompt_tokens=130).startswith("max_cost: estimated cost 0.5000")
    assert budget.exhausted(next_prompt_tokens=100) == ""
    budget.steps = 3
    assert budget.exhausted().startswith("max_steps: 3 steps taken (agent.max_steps = 3)")
    assert budget.exhausted(steps=False) == ""  # the final "answer now" call ignores steps
    clock.now += 10.0
    assert budget.exhausted(steps=False).startswith("timeout_s: 10.0 s passed")
    budget.charge(Completion("x", completion_tokens=30))
    assert budget.exhausted(steps=False).startswith("max_tokens: 50 tokens generated")
    assert budget.usage() == {"prompt_tokens": 100, "completion_tokens": 50, "calls": 2}


def test_budget_from_settings_and_zero_max_cost_means_no_cost_limit() -> None:
    settings = AgentSettings(max_steps=2, max_tokens=10, timeout_s=5, cost_per_1k_tokens=9.0)
    budget = Budget.from_settings(settings)
    budget.charge(Completion("x", prompt_tokens=10**6))
    assert budget.cost == 9000.0 and budget.exhausted() == ""
    assert (budget.max_steps, budget.max_tokens, budget.timeout_s) == (2, 10, 5)


class SlowStream(ScriptedLLM):
    """Streams one word per tick of the fake clock; records whether the stream was closed."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(["one two three four five six"])
        self.clock = clock
        self.closed = False

    def stream(self, messages: Sequence[Message], **kw: Any) -> Iterator[str]:
        try:
            for piece in super().stream(messages, **kw):
                self.clock.now += 1.0
                yield piece
        finally:
            self.closed = True


def test_complete_stops_a_streamed_reply_at_the_deadline_and_closes_the_stream() -> None:
    clock = Clock()
    llm = SlowStream(clock)
    done = complete(llm, CHAT, max_tokens=50, deadline_s=2.5, clock=clock)
    assert (done.text, done.finish_reason) == ("one two three ", "timeout")
    assert llm.closed
    assert done.completion_tokens == 3 and done.prompt_tokens == llm.count_tokens(CHAT)


def test_complete_without_deadline_is_generate_and_reports_length() -> None:
    llm = ScriptedLLM(["one two three four five six"])
    assert complete(llm, CHAT, max_tokens=50) == llm.generate(CHAT, max_tokens=50)
    cut = complete(llm, CHAT, max_tokens=4, deadline_s=60.0)
    assert (cut.text.split(), cut.finish_reason, cut.completion_tokens) == (
        ["one", "two", "three", "four"], "length", 4,
    )  # fmt: skip


def test_text_tokens_uses_the_models_own_count() -> None:
    llm = ScriptedLLM()
    assert text_tokens(llm, "") == 0
    assert text_tokens(llm, "a b c") == 3


def test_room_caps_a_call_by_tokens_left_and_by_the_measured_speed() -> None:
    clock = Clock()
    budget = Budget(5, 100, 10.0, clock=clock)
    assert budget.room(64) == 64  # no call timed yet: the token budget alone
    budget.charge(Completion("x", completion_tokens=20), seconds=4.0)  # 5 tokens/s
    assert budget.room(64) == 50  # 10 s left x 5 tokens/s
    assert budget.room(30) == 30
    clock.now += 8.0
    assert budget.room(64) == 10  # 2 s left
    clock.now += 5.0
    assert budget.room(64) == 1  # past the deadline: the loop stops before asking
    budget.charge(Completion("x", completion_tokens=79))  # an untimed call: speed unchanged
    assert budget.room(64) == 1 and budget.tokens_left() == 1
