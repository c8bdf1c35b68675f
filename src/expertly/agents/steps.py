"""One record per agent step, and the run state the loop keeps between steps.

An ``AgentStep`` is filled in while the step runs and recorded in a ``finally`` block, so a
step that went wrong is in the trace too. The model's mistakes (an unreadable reply, an
unknown tool, bad arguments, a repeated call, an unsupported answer) are stored on the
step as ``error`` and the loop goes on; exceptions from expertly itself propagate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from expertly.types import Hit, TraceStep

TRACE_TEXT = 2000  # characters of raw replies and observations kept in the trace


def _short(text: str, limit: int = TRACE_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more]"


@dataclass
class AgentStep:
    """What happened in one step.

    ``kind`` is "plan", "action" (a reply that called a tool or failed to), "answer" (a
    final answer accepted), "retry" (an answer the supervisor sent back), "abstain",
    "answer_now" (the extra call made after a budget ran out) or "summary".
    ``prompt`` is the index into ``Answer.prompts`` of the messages sent (-1: no call).
    """

    number: int
    kind: str = "action"
    prompt: int = -1
    raw: str = ""
    thought: str = ""
    tool: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    observation: str = ""
    ok: bool = True
    error: str = ""
    answer: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def fail(self, error: str) -> None:
        self.ok, self.error = False, error

    def trace(self) -> TraceStep:
        detail: dict[str, Any] = {"step": self.number, "kind": self.kind, "ok": self.ok}
        if self.prompt >= 0:
            detail["prompt"] = self.prompt
            detail["raw"] = _short(self.raw)
            detail["prompt_tokens"] = self.prompt_tokens
            detail["completion_tokens"] = self.completion_tokens
            detail["finish_reason"] = self.finish_reason
        for key in ("thought", "tool", "error", "answer"):
            if getattr(self, key):
                detail[key] = getattr(self, key)
        if self.tool:
            detail["arguments"] = json.loads(json.dumps(self.arguments, default=repr))
        if self.observation:
            detail["observation"] = _short(self.observation)
        detail.update(self.extra)
        return TraceStep(f"agent.{self.kind}", detail, seconds=round(self.seconds, 4))


@dataclass
class Sources:
    """Search hits seen during a run, numbered across the run: ``[n]`` is ``hits[n-1]``.

    A chunk found again keeps its first number, so the model's citations stay stable.
    """

    hits: list[Hit] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)

    def number(self, found: tuple[Hit, ...]) -> list[tuple[int, Hit]]:
        out = []
        for hit in found:
            n = self.numbers.get(hit.chunk.id)
            if n is None:
                self.hits.append(hit)
                n = self.numbers[hit.chunk.id] = len(self.hits)
            out.append((n, self.hits[n - 1]))
        return out
