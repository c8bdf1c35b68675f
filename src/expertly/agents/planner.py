"""A short numbered plan written before the loop starts (``agent.plan``).

One model call; the plan goes into the trace and into the loop's system prompt. A reply
without numbered lines still gives a plan (its first non-empty lines), so a weak model's
plan is shown as it wrote it rather than dropped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from expertly.agents.budget import complete
from expertly.agents.prompts import PLAN_SYSTEM
from expertly.types import Completion, Message

if TYPE_CHECKING:
    from expertly.generate import LLM

_NUMBERED = re.compile(
    r"^\s*(?:step\s*)?(\d{1,2})\s*[.):-]\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE
)
MAX_STEPS = 5
MAX_LINE = 200


@dataclass(frozen=True)
class Plan:
    """The plan's steps, the raw reply, and the call that wrote it."""

    steps: tuple[str, ...]
    raw: str
    messages: tuple[Message, ...]
    completion: Completion

    @property
    def text(self) -> str:
        return "\n".join(f"{i}. {s}" for i, s in enumerate(self.steps, start=1))


def parse_plan(reply: str, *, max_steps: int = MAX_STEPS) -> tuple[str, ...]:
    """Numbered lines of ``reply`` (or its first non-empty lines), at most ``max_steps``."""
    steps = [m.group(2) for m in _NUMBERED.finditer(reply)]
    if not steps:
        steps = [line.strip(" -*•\t") for line in reply.splitlines() if line.strip(" -*•\t")]
    out: list[str] = []
    for step in steps:
        step = step[:MAX_LINE].strip()
        if step and step not in out:
            out.append(step)
    return tuple(out[:max_steps])


def make_plan(
    llm: LLM,
    question: str,
    tools: str,
    *,
    max_tokens: int,
    deadline_s: float | None = None,
    prefill: bool = False,
    max_steps: int = MAX_STEPS,
    clock: Callable[[], float] = time.monotonic,
) -> Plan:
    """Ask ``llm`` for a plan; ``prefill`` opens the reply with "1." (small local models)."""
    messages = [
        Message("system", PLAN_SYSTEM.format(steps=max_steps, tools=tools or "(none)")),
        Message("user", f"Question: {question}"),
    ]
    if prefill:
        messages.append(Message("assistant", "1."))
    completion = complete(
        llm, messages, max_tokens=max_tokens, stop=["\n\n"], deadline_s=deadline_s, clock=clock
    )
    raw = ("1." if prefill else "") + completion.text
    return Plan(parse_plan(raw, max_steps=max_steps), raw, tuple(messages), completion)
