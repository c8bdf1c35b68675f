"""The message history the agent's model sees, in text form or the API's native form.

In text mode every turn is a ``Message``: the model's reply (re-written as the canonical
JSON call, which shows a small model the format by its own example) and then the
observation as a user message. With native tool calling the history must be in the API's
own shape: the assistant message that carried ``tool_calls`` and one ``role: tool`` result
per call id. ``messages()`` renders either as ``Message``s for ``Answer.prompts``.

When the history outgrows the model's window, the oldest observations are replaced by a
short note (``fit``) rather than the conversation failing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from expertly.agents.parsing import Action, FinalAnswer, ParseError, ToolCall
from expertly.types import Message

if TYPE_CHECKING:
    from expertly.agents.tools.base import ToolRegistry
    from expertly.generate import LLM
    from expertly.generate.openai_compat import ToolCompletion

Wire = Message | dict[str, Any]
OMITTED = "[observation omitted to fit the context window: {n} characters]"
NOT_RUN = "Not run: one tool call per step. Call it again if you still need it."


class Conversation:
    """The history of one question; ``native`` selects the API's tool-calling form."""

    def __init__(self, messages: list[Message], *, native: bool = False) -> None:
        self.wire: list[Wire] = list(messages)
        self.native = native
        self.echo: dict[str, Any] = {}
        self.call_ids: list[str] = []

    def messages(self) -> list[Message]:
        return [as_message(m) for m in self.wire]

    def replied(self, echo: dict[str, Any], call_ids: list[str]) -> None:
        """Native mode: the assistant message just received and the ids of its calls."""
        self.echo, self.call_ids = echo, call_ids

    def add(self, said: str, observation: str) -> None:
        """The model's turn (``said``, text mode) and what it got back."""
        if not self.native:
            self.wire += [Message("assistant", said), Message("user", observation)]
            return
        self.wire.append(self.echo)
        if not self.call_ids:
            self.wire.append(Message("user", observation))
            return
        first, *others = self.call_ids
        self.wire.append({"role": "tool", "tool_call_id": first, "content": observation})
        # The API wants a result for every call it made; only the first one is run.
        self.wire += [{"role": "tool", "tool_call_id": i, "content": NOT_RUN} for i in others]

    def fit(self, llm: LLM, max_new: int) -> bool:
        """Shorten the oldest observations until the prompt leaves ``max_new`` tokens free.

        False when even that is not enough (the agent then stops with a "context" reason).
        """
        limit = llm.context_window - max_new
        for index, message in enumerate(self.wire):
            if llm.count_tokens(self.messages()) <= limit:
                return True
            content = as_message(message).content
            if _is_observation(message) and not content.startswith(OMITTED[:22]):
                short = OMITTED.format(n=len(content))
                self.wire[index] = (
                    Message("user", short)
                    if isinstance(message, Message)
                    else {**message, "content": short}
                )
        return llm.count_tokens(self.messages()) <= limit


def _is_observation(message: Wire) -> bool:
    if isinstance(message, Message):
        return message.role == "user" and message.content.startswith("Observation")
    return message.get("role") == "tool"


def as_message(message: Wire) -> Message:
    """A wire message as a ``Message`` (tool calls written as their JSON)."""
    if isinstance(message, Message):
        return message
    content = message.get("content") or ""
    if message.get("tool_calls"):
        content = (content + "\n" if content else "") + json.dumps(message["tool_calls"])
    role = message.get("role", "user")
    return Message(role if role in ("system", "user", "assistant", "tool") else "user", content)


def bind_input(arguments: Mapping[str, Any], registry: ToolRegistry, name: str) -> dict[str, Any]:
    """``{"input": x}`` (from ``Action: tool[x]``) bound to the tool's only parameter."""
    tool = registry.tools.get(name)
    if tool is None or set(arguments) != {"input"}:
        return dict(arguments)
    params = list(tool.parameters.get("properties", {}))
    if len(params) == 1 and params[0] != "input":
        return {params[0]: arguments["input"]}
    return dict(arguments)


def native_action(reply: ToolCompletion) -> Action:
    """The action in a native tool-calling reply: its first tool call, else its text."""
    if not reply.tool_calls:
        text = reply.completion.text.strip()
        return FinalAnswer(text) if text else ParseError("Your reply was empty.")
    first = reply.tool_calls[0]
    if first.arguments is None:
        return ParseError(
            f"The arguments of your call to {first.name} are not a JSON object: "
            f"{first.raw_arguments[:200]!r}."
        )
    return ToolCall(first.name, first.arguments, reply.completion.text.strip())
