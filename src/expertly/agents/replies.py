"""How the agent gets a reply from its model: one strategy per mode, chosen once per agent.

* ``TextReplies`` — the model writes its call or answer as JSON text. For a model that
  continues a reply the caller started (``Prefilling``) the opening (``{"thought": "``) is
  written for it, which keeps a small model on the format; for any other model the reply is
  plain text.
* ``GuidedReplies`` — the reply is built field by field (``guided.py``): for small local
  models that cannot follow the format on their own; it needs a prefilling model.
* ``NativeReplies`` — the endpoint's own tool calling (``ToolCalling``).

Each strategy has ``think`` (one step's action) and ``answer_now`` (the one last "answer from
what you have" call once a budget stops the loop). ``ModelCalls`` is what they share: every
call is charged to the budget, its prompt kept for ``Answer.prompts`` and its time counted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from expertly.agents import prompts as P
from expertly.agents.budget import Budget, complete
from expertly.agents.conversation import Conversation, native_action
from expertly.agents.guided import guided_reply
from expertly.agents.parsing import Action, FinalAnswer, ParseError, parse_reply
from expertly.agents.steps import AgentStep
from expertly.agents.tools.base import ToolRegistry
from expertly.errors import ExpertlyTimeout
from expertly.generate import Prefilling, ToolCalling
from expertly.types import Completion, Message

if TYPE_CHECKING:
    from expertly.generate import LLM

STOP = ("}\n", "\nObservation")  # one JSON object per reply; the parser closes the brace


@dataclass
class ModelCalls:
    """The model calls of one question: charged to ``budget``, prompts kept, time counted."""

    llm: LLM
    budget: Budget
    clock: Callable[[], float]
    prompts: list[tuple[Message, ...]] = field(default_factory=list)
    seconds: float = 0.0

    def keep(self, step: AgentStep, messages: list[Message]) -> None:
        """Keep the prompt ``messages`` and point ``step`` at it."""
        self.prompts.append(tuple(messages))
        step.prompt = len(self.prompts) - 1

    def record(
        self, step: AgentStep, messages: list[Message], completion: Completion, started: float
    ) -> None:
        """Charge one finished call (begun at ``started``, a ``perf_counter`` time)."""
        seconds = time.perf_counter() - started
        self.budget.charge(completion, seconds)
        self.seconds += seconds
        self.keep(step, messages)
        step.prompt_tokens = completion.prompt_tokens
        step.completion_tokens = completion.completion_tokens
        step.finish_reason = completion.finish_reason

    def complete(self, step: AgentStep, messages: list[Message], max_new: int) -> Completion:
        """One text reply, stopped at the budget's deadline, recorded on ``step``."""
        started = time.perf_counter()
        completion = complete(
            self.llm,
            messages,
            max_tokens=max_new,
            stop=STOP,
            deadline_s=self.budget.seconds_left(),
            clock=self.clock,
        )
        self.record(step, messages, completion, started)
        return completion


class Replies(Protocol):
    """One way of getting the agent's replies."""

    @property
    def mode(self) -> str:
        """The system prompt's variant for this strategy ("text", "guided", "native")."""
        ...

    def think(
        self,
        calls: ModelCalls,
        chat: Conversation,
        registry: ToolRegistry,
        step: AgentStep,
        max_new: int,
    ) -> Action | None:
        """The action of one step; None when the time ran out during the call (``step.error``
        then says so and the loop stops)."""
        ...

    def answer_now(
        self,
        calls: ModelCalls,
        chat: Conversation,
        registry: ToolRegistry,
        step: AgentStep,
        ask: Message,
        tokens: int,
    ) -> Action:
        """The reply to ``ask`` (answer from the observations), in at most ``tokens``."""
        ...


@dataclass(frozen=True)
class TextReplies:
    """Replies as JSON text; ``opening`` and ``answer_opening`` are prefilled when set."""

    opening: str = ""
    answer_opening: str = ""
    mode: str = "text"

    def think(
        self,
        calls: ModelCalls,
        chat: Conversation,
        registry: ToolRegistry,
        step: AgentStep,
        max_new: int,
    ) -> Action | None:
        return self._reply(calls, chat.messages(), step, max_new, self.opening)

    def answer_now(
        self,
        calls: ModelCalls,
        chat: Conversation,
        registry: ToolRegistry,
        step: AgentStep,
        ask: Message,
        tokens: int,
    ) -> Action:
        return self._reply(calls, [*chat.messages(), ask], step, tokens, self.answer_opening)

    @staticmethod
    def _reply(
        calls: ModelCalls, messages: list[Message], step: AgentStep, max_new: int, opening: str
    ) -> Action:
        if opening:
            messages.append(Message("assistant", opening))
        completion = calls.complete(step, messages, max_new)
        step.raw = opening + completion.text
        return parse_reply(completion.text, prefill=opening)


@dataclass(frozen=True)
class GuidedReplies:
    """Replies built field by field by ``guided_reply``."""

    mode: str = "guided"

    def think(
        self,
        calls: ModelCalls,
        chat: Conversation,
        registry: ToolRegistry,
        step: AgentStep,
        max_new: int,
    ) -> Action | None:
        return self._reply(calls, chat.messages(), registry, step, answer_only=False)

    def answer_now(
        self,
        calls: ModelCalls,
        chat: Conversation,
        registry: ToolRegistry,
        step: AgentStep,
        ask: Message,
        tokens: int,
    ) -> Action:
        return self._reply(calls, [*chat.messages(), ask], registry, step, answer_only=True)

    @staticmethod
    def _reply(
        calls: ModelCalls,
        messages: list[Message],
        registry: ToolRegistry,
        step: AgentStep,
        *,
        answer_only: bool,
    ) -> Action:
        started = time.perf_counter()
        reply = guided_reply(
            calls.llm, messages, registry, calls.budget, clock=calls.clock,
            answer_only=answer_only,
        )  # fmt: skip
        calls.seconds += time.perf_counter() - started
        calls.keep(step, messages)
        step.raw = reply.text
        step.prompt_tokens = sum(c.prompt_tokens for c in reply.calls)
        step.completion_tokens = sum(c.completion_tokens for c in reply.calls)
        step.finish_reason = "timeout" if reply.timed_out else "guided"
        step.extra["guided_calls"] = len(reply.calls)
        return parse_reply(reply.text)


@dataclass(frozen=True)
class NativeReplies:
    """Replies through the endpoint's tool calling; the first tool call is the action."""

    llm: ToolCalling
    mode: str = "native"

    def think(
        self,
        calls: ModelCalls,
        chat: Conversation,
        registry: ToolRegistry,
        step: AgentStep,
        max_new: int,
    ) -> Action | None:
        started = time.perf_counter()
        try:
            reply = self.llm.generate_with_tools(
                chat.wire,
                registry.openai_schema(),
                max_tokens=max_new,
                timeout_s=calls.budget.seconds_left(),
            )
        except ExpertlyTimeout:
            reason = calls.budget.exhausted(steps=False)
            if not reason.startswith("timeout_s"):
                raise  # the server's own limit (llm.timeout_s), not the agent's budget
            step.fail(reason)
            return None
        calls.record(step, chat.messages(), reply.completion, started)
        chat.replied(reply.message, [c.id for c in reply.tool_calls])
        step.raw = json.dumps(reply.message, ensure_ascii=False)
        action: Action = native_action(reply)
        return action

    def answer_now(
        self,
        calls: ModelCalls,
        chat: Conversation,
        registry: ToolRegistry,
        step: AgentStep,
        ask: Message,
        tokens: int,
    ) -> Action:
        started = time.perf_counter()
        # The tools are offered again (APIs may reject tool results without them); a reply
        # that calls one instead of answering is not an answer.
        reply = self.llm.generate_with_tools(
            [*chat.wire, ask],
            registry.openai_schema(),
            max_tokens=tokens,
            timeout_s=calls.budget.seconds_left(),
        )
        calls.record(step, [*chat.messages(), ask], reply.completion, started)
        step.raw = reply.completion.text
        if reply.tool_calls:
            return ParseError("the reply called a tool instead of answering")
        return FinalAnswer(reply.completion.text.strip())


def choose_replies(llm: LLM, *, native_tools: bool, guided: bool) -> Replies:
    """The strategy for ``llm``: native tool calling when asked for and offered, else
    guided when asked for and the model continues prefills, else prefilled or plain text."""
    if native_tools and isinstance(llm, ToolCalling):
        return NativeReplies(llm)
    if not prefills(llm):
        return TextReplies()
    if guided:
        return GuidedReplies()
    return TextReplies(P.PREFILL, P.ANSWER_PREFILL)


def prefills(llm: LLM) -> bool:
    """Whether ``llm`` continues a reply the caller started (``Prefilling``)."""
    return isinstance(llm, Prefilling) and llm.continues_prefill()
