"""The agent's way out when a budget stops its loop: the best supported answer it can give.

Once a reason stops the loop (steps, tokens, time, cost, a full context window, a tool call
that outlived the time), the agent makes one last call asking for an answer from the
observations, if the budget still allows one and there is anything to answer from; the
supervisor checks that answer like any other. Otherwise, or when that reply is not a
supported answer, the answer is a summary of what the tools returned. Either way the
outcome is ``incomplete`` and its ``reason`` names the budget. Nothing here raises for the
model's mistakes or for the time running out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from expertly.agents import prompts as P
from expertly.agents.budget import Budget
from expertly.agents.conversation import Conversation
from expertly.agents.parsing import FinalAnswer
from expertly.agents.replies import ModelCalls, Replies
from expertly.agents.steps import AgentStep
from expertly.agents.supervisor import Verdict
from expertly.agents.tools.base import ToolRegistry
from expertly.errors import ExpertlyTimeout
from expertly.types import Message

ANSWER_NOW_TOKENS = 160
MIN_CALL_TOKENS = 8  # a call with less room than this cannot say anything useful


@dataclass
class Outcome:
    """How a question ended: the answer's text and whether it is abstained or incomplete."""

    text: str
    abstained: bool = False
    incomplete: bool = False
    reason: str = ""


class RunState(Protocol):
    """What the exit reads of a question's run (``react._Run`` has it)."""

    budget: Budget
    calls: ModelCalls
    chat: Conversation
    registry: ToolRegistry
    replies: Replies
    steps: list[AgentStep]
    observations: list[str]
    results: list[tuple[str, str]]

    def check(self, step: AgentStep, text: str) -> Verdict:
        """The supervisor's verdict on an answer (charged to the budget)."""
        ...

    def next_prompt_tokens(self) -> int:
        """The next prompt's tokens, for the cost limit (0 when there is none)."""
        ...


def out_of_budget(run: RunState, reason: str) -> Outcome:
    """The best supported answer once ``reason`` stops the loop; the step is recorded."""
    step = AgentStep(len(run.steps) + 1, kind="answer_now")
    started = time.perf_counter()
    try:
        tokens = run.budget.room(ANSWER_NOW_TOKENS)
        blocked = (
            ("no observations" if not run.observations else "")
            or ("the context window is full" if reason.startswith("context") else "")
            or run.budget.exhausted(steps=False, next_prompt_tokens=run.next_prompt_tokens())
            or ("too few tokens left" if tokens < MIN_CALL_TOKENS else "")
        )
        text = "" if blocked else _answer_now(run, step, reason, tokens)
        if text:
            return Outcome(text, incomplete=True, reason=reason)
        step.kind = "summary"
        if blocked:
            step.extra["why"] = blocked
        return Outcome(P.summary(reason, run.results), incomplete=True, reason=reason)
    finally:
        step.seconds = time.perf_counter() - started
        run.steps.append(step)


def _answer_now(run: RunState, step: AgentStep, reason: str, tokens: int) -> str:
    """One last call asking for an answer from the observations ('' if unusable)."""
    ask = Message("user", P.ANSWER_NOW.format(reason=reason.split(":")[0]))
    try:
        action = run.replies.answer_now(run.calls, run.chat, run.registry, step, ask, tokens)
    except ExpertlyTimeout:
        timeout = run.budget.exhausted(steps=False)
        if not timeout.startswith("timeout_s"):
            raise  # the server's own limit (llm.timeout_s), not the agent's budget
        step.fail(timeout)
        return ""
    if not isinstance(action, FinalAnswer) or not action.text:
        step.fail("the reply to 'answer now' was not an answer")
        return ""
    step.answer = action.text
    verdict = run.check(step, action.text)
    if not verdict.supported:
        step.fail(f"unsupported ({verdict.method}): {'; '.join(verdict.problems)}")
        return ""
    return action.text
