"""Native tool calling in the OpenAI form: the calls a reply asks for, and the reply itself.

``OpenAICompatLLM.generate_with_tools`` (the ``ToolCalling`` capability) sends the tools and
reads the reply with these: ``tool_calls`` parses a reply message's calls as the servers
send them (arguments as a JSON string, or as an object), and ``assistant_message`` writes
the reply back as the API expects it in the next request's history. Kept apart from the
backend's plain chat, which never needs them; the agent imports the types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from expertly.types import Completion


@dataclass(frozen=True)
class ToolCallRequest:
    """One tool call the model asked for. ``arguments`` is None when the model's argument
    text is not a JSON object (``raw_arguments`` keeps it, so the caller can say why)."""

    id: str
    name: str
    arguments: dict[str, Any] | None
    raw_arguments: str


@dataclass(frozen=True)
class ToolCompletion:
    """A reply that may call tools: the text part, the calls, and the assistant message as
    the API expects it back in the next request's history."""

    completion: Completion
    tool_calls: tuple[ToolCallRequest, ...]
    message: dict[str, Any]


def tool_calls(message: Mapping[str, Any]) -> tuple[ToolCallRequest, ...]:
    """The calls of a reply's ``message`` (none when it has no ``tool_calls``); a call that
    is not shaped as the API has it raises ``KeyError``, ``TypeError`` or the like."""
    return tuple(_tool_call(c, i) for i, c in enumerate(message.get("tool_calls") or []))


def assistant_message(text: str, calls: Sequence[ToolCallRequest]) -> dict[str, Any]:
    """The assistant message that carries ``text`` and ``calls`` in a later request."""
    echo: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        echo["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.raw_arguments},
            }
            for c in calls
        ]
    return echo


def _tool_call(raw: Mapping[str, Any], index: int) -> ToolCallRequest:
    """One entry of ``tool_calls``; arguments arrive as a JSON string (OpenAI, vLLM) or
    as an object (Ollama)."""
    function = raw["function"]
    args = function.get("arguments")
    if isinstance(args, Mapping):
        return ToolCallRequest(
            str(raw.get("id") or f"call_{index}"), function["name"], dict(args), json.dumps(args)
        )
    text = args if isinstance(args, str) else ""
    try:
        parsed = json.loads(text) if text.strip() else {}
    except ValueError:
        parsed = None
    return ToolCallRequest(
        str(raw.get("id") or f"call_{index}"),
        str(function["name"]),
        parsed if isinstance(parsed, dict) else None,
        text,
    )
