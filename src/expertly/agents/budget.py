"""The limits that stop an agent: steps, generated tokens, wall-clock time, estimated cost.

One ``Budget`` per question. The loop asks ``exhausted()`` before each step (a non-empty
reason stops it), charges every model call with ``charge()``, and gives each call at most
``room()`` new tokens and ``seconds_left()`` of time (each tool call gets that time too, see
``tools/base.py``). ``complete`` stops a streamed reply at
the deadline, but a local model's stream only yields at word boundaries, so a reply without
spaces arrives in one piece at the end: ``room()`` therefore also caps a call's tokens at
what the generation speed measured so far in this question fits into the time left.
Nothing here raises when a budget runs out: the agent turns the reason into an
``incomplete`` answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from expertly.config import AgentSettings
from expertly.generate import Closeable
from expertly.types import Completion, Message, TraceStep

if TYPE_CHECKING:
    from expertly.generate import LLM


@dataclass
class Budget:
    """What one question may spend, and what it has spent so far.

    ``max_tokens`` counts generated (completion) tokens over all calls; cost counts prompt
    and completion tokens at ``cost_per_1k_tokens``. ``max_cost`` 0 means no cost limit.
    """

    max_steps: int
    max_tokens: int
    timeout_s: float
    cost_per_1k_tokens: float = 0.0
    max_cost: float = 0.0
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    timed_tokens: int = 0  # completion tokens of calls whose duration is known
    timed_seconds: float = 0.0

    def __post_init__(self) -> None:
        if not self.started:
            self.started = self.clock()

    @classmethod
    def from_settings(
        cls, settings: AgentSettings, clock: Callable[[], float] = time.monotonic
    ) -> Budget:
        return cls(
            settings.max_steps,
            settings.max_tokens,
            settings.timeout_s,
            settings.cost_per_1k_tokens,
            settings.max_cost,
            clock,
        )

    # -- spending -----------------------------------------------------------------------

    def charge(self, completion: Completion, seconds: float = 0.0) -> None:
        """Count one model call's tokens; ``seconds`` (its duration) feeds the speed
        estimate used by ``room``."""
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        if seconds > 0 and completion.completion_tokens > 0:
            self.timed_tokens += completion.completion_tokens
            self.timed_seconds += seconds

    def room(self, limit: int) -> int:
        """New tokens the next call may ask for: ``limit``, the tokens left, and (once a
        call has been timed) the tokens the measured speed fits into the time left."""
        room = min(limit, self.tokens_left())
        if self.timed_seconds > 0 and room > 0:
            per_second = self.timed_tokens / self.timed_seconds
            room = min(room, max(1, int(self.seconds_left() * per_second)))
        return room

    @property
    def cost(self) -> float:
        """Estimated cost so far: all tokens × ``cost_per_1k_tokens`` / 1000."""
        return (self.prompt_tokens + self.completion_tokens) * self.cost_per_1k_tokens / 1000

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def tokens_left(self) -> int:
        return max(0, self.max_tokens - self.completion_tokens)

    def seconds_left(self) -> float:
        return max(0.0, self.timeout_s - self.elapsed)

    # -- limits -------------------------------------------------------------------------

    def exhausted(self, *, next_prompt_tokens: int = 0, steps: bool = True) -> str:
        """Why no further model call may be made ('' when one may).

        ``next_prompt_tokens`` lets the cost check refuse a call whose prompt alone would
        pass ``max_cost``; ``steps=False`` ignores the step limit (the final answer call
        made after the steps ran out).
        """
        if steps and self.steps >= self.max_steps:
            return f"max_steps: {self.steps} steps taken (agent.max_steps = {self.max_steps})"
        if self.completion_tokens >= self.max_tokens:
            return (
                f"max_tokens: {self.completion_tokens} tokens generated "
                f"(agent.max_tokens = {self.max_tokens})"
            )
        if self.elapsed >= self.timeout_s:
            return f"timeout_s: {self.elapsed:.1f} s passed (agent.timeout_s = {self.timeout_s:g})"
        if self.max_cost > 0:
            next_cost = next_prompt_tokens * self.cost_per_1k_tokens / 1000
            if self.cost + next_cost >= self.max_cost:
                return (
                    f"max_cost: estimated cost {self.cost + next_cost:.4f} reaches "
                    f"agent.max_cost = {self.max_cost:g}"
                )
        return ""

    def trace(self, stopped_by: str, seconds: float) -> TraceStep:
        """The run's totals as the last trace step (``stopped_by``: the reason, if any)."""
        detail = {"steps": self.steps, **self.usage(), "cost": round(self.cost, 6)}
        return TraceStep("agent.budget", {**detail, "stopped_by": stopped_by}, round(seconds, 4))

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "calls": self.calls,
        }


def text_tokens(llm: LLM, text: str) -> int:
    """Tokens ``text`` takes for ``llm``: its count of a message holding the text, less the
    count of an empty one (exact for exact tokenizers, the backend's estimate otherwise)."""
    if not text:
        return 0
    return max(
        1, llm.count_tokens([Message("user", text)]) - llm.count_tokens([Message("user", "")])
    )


def complete(
    llm: LLM,
    messages: Sequence[Message],
    *,
    max_tokens: int,
    stop: Sequence[str] = (),
    deadline_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Completion:
    """One reply that never runs past ``deadline_s`` seconds from now.

    Without a deadline this is ``llm.generate``. With one, the reply is streamed and the
    stream is closed once the time is up (the local backend then stops generating); the
    reply is what arrived so far, with ``finish_reason`` "timeout". Token counts come from
    the LLM's own ``count_tokens``.
    """
    if deadline_s is None:
        return llm.generate(messages, max_tokens=max_tokens, stop=stop)
    end = clock() + deadline_s
    pieces: list[str] = []
    finish = "stop"
    stream = llm.stream(messages, max_tokens=max_tokens, stop=stop)
    try:
        for piece in stream:
            pieces.append(piece)
            if clock() >= end:
                finish = "timeout"
                break
    finally:
        if isinstance(stream, Closeable):
            stream.close()
    text = "".join(pieces)
    generated = text_tokens(llm, text)
    if finish == "stop" and generated >= max_tokens:
        finish = "length"
    return Completion(
        text,
        llm.count_tokens(messages),
        min(generated, max_tokens) if generated else 0,
        finish,
        llm.name,
    )
