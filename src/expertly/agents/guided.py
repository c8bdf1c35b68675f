"""Guided replies: the agent writes the JSON, the model fills in the blanks.

A model as small as SmolLM2-135M does not follow a reply format from instructions (measured:
0 of 12 free replies were a usable tool call, with or without an example or a ``{"thought":
"`` prefill; see ``prompts.py``). It does continue text well. So, for a model that accepts a
prefill, the reply is built field by field, each field one short continuation that stops at
the closing quote::

    {"thought": "<model>", "<model: tool or answer>": ...
        tool   → "tool": "<model>", "arguments": {"<first parameter>": "<model>"}}
        answer → "answer": "<model>"}

The tool name is the model's own choice (an unknown name gets the usual error observation);
only the first parameter of the chosen tool is filled in. Several short calls replace one
long one; each is charged to the budget like any other call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from expertly.agents.budget import Budget, complete
from expertly.types import Completion, Message

if TYPE_CHECKING:
    from expertly.agents.tools.base import ToolRegistry
    from expertly.generate import LLM

THOUGHT_TOKENS = 48
KEY_TOKENS = 4
NAME_TOKENS = 12
VALUE_TOKENS = 64
ANSWER_TOKENS = 96
ANSWER_OPENING = '{"tool": "final_answer", "arguments": {"answer": "'


@dataclass
class GuidedReply:
    """The reply as one JSON text, and the calls that wrote it."""

    text: str = ""
    calls: list[Completion] = field(default_factory=list)
    timed_out: bool = False


def _field_value(text: str) -> str:
    """A continuation as a JSON string body: escapes kept valid, newlines flattened."""
    flat = " ".join(text.replace('\\"', "'").split())
    return json.dumps(flat)[1:-1]


def guided_reply(
    llm: LLM,
    messages: Sequence[Message],
    registry: ToolRegistry,
    budget: Budget,
    *,
    clock: Callable[[], float] = time.monotonic,
    answer_only: bool = False,
) -> GuidedReply:
    """Build one reply field by field, charging every call to ``budget``; ``answer_only``
    skips straight to the answer (the call made once the steps have run out)."""
    reply = GuidedReply()
    prefix = ANSWER_OPENING if answer_only else '{"tool": "'

    def fill(limit: int, stop: Sequence[str] = ('"',)) -> str | None:
        room = budget.room(limit)
        if room <= 0 or budget.seconds_left() <= 0:
            reply.timed_out = budget.seconds_left() <= 0
            return None
        started = time.perf_counter()
        completion = complete(
            llm,
            [*messages, Message("assistant", prefix)],
            max_tokens=room,
            stop=stop,
            deadline_s=budget.seconds_left(),
            clock=clock,
        )
        reply.calls.append(completion)
        budget.charge(completion, time.perf_counter() - started)
        reply.timed_out = completion.finish_reason == "timeout"
        return completion.text

    def done(text: str) -> GuidedReply:
        reply.text = text
        return reply

    if not answer_only:
        name = fill(NAME_TOKENS)
        if name is None:
            return done(prefix)
        name = name.strip()
        tool = registry.tools.get(name)
        if tool is None and name.lower().startswith(("final", "answer")):
            prefix = ANSWER_OPENING
        else:
            prefix += _field_value(name) + '", "arguments": {'
            params = list(tool.parameters.get("properties", {})) if tool is not None else []
            if not params:
                return done(prefix + "}}")
            prefix += json.dumps(params[0]) + ': "'
            value = fill(VALUE_TOKENS)
            if value is None:
                return done(prefix)
            return done(prefix + _field_value(value) + '"}}')
    answer = fill(ANSWER_TOKENS, ('"}', '", "', '"\n', "\n\n"))
    if answer is None:
        return done(prefix)
    return done(prefix + _field_value(answer.rstrip('"')) + '"}}')
