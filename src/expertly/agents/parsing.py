"""Reading a tool call or a final answer out of a model's reply, forgivingly.

The agent asks for one JSON object per reply::

    {"thought": "...", "tool": "calculator", "arguments": {"expression": "2*21"}}
    {"thought": "...", "answer": "42 [1]"}

Models, small ones above all, wrap it in code fences, use single quotes, leave trailing
commas, write text around it, or fall back to the classic ReAct text forms
(``Action: calculator[2*21]``, ``Action: calculator`` + ``Action Input: {...}``,
``Final Answer: ...``). All of those are accepted. Anything else becomes a ``ParseError``
whose ``message`` tells the model the expected format: the loop shows it as an observation
and goes on, it never raises.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

FORMAT_HINT = (
    'Reply with one JSON object: {"thought": "...", "tool": "<tool name>", '
    '"arguments": {...}} to call a tool, or {"thought": "...", "answer": "..."} '
    "when you can answer."
)


@dataclass(frozen=True)
class ToolCall:
    """The model asks to run ``tool`` with ``arguments``."""

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    thought: str = ""


@dataclass(frozen=True)
class FinalAnswer:
    """The model's answer to the question."""

    text: str
    thought: str = ""


@dataclass(frozen=True)
class ParseError:
    """The reply is neither a tool call nor an answer; ``message`` says what to send."""

    message: str
    thought: str = ""


Action = ToolCall | FinalAnswer | ParseError

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_ACTION = re.compile(r"^\s*Action\s*:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)
_ACTION_INPUT = re.compile(r"Action\s+Input\s*:\s*(.+)", re.IGNORECASE | re.DOTALL)
_FINAL = re.compile(r"Final\s+Answer\s*:\s*(.+)", re.IGNORECASE | re.DOTALL)
_THOUGHT = re.compile(r"Thought\s*:\s*(.+?)(?:\n|$)", re.IGNORECASE)
_BRACKET_CALL = re.compile(r"^([A-Za-z_][\w.-]*)\s*[\[(](.*)[\])]\s*$", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")
_NEXT_LABEL = re.compile(r"\n\s*(?:Thought|Action|Action Input|Observation)\s*:", re.IGNORECASE)

_TOOL_KEYS = ("tool", "action", "name", "tool_name", "function")
_ARG_KEYS = ("arguments", "args", "action_input", "input", "parameters", "tool_input")
_ANSWER_KEYS = ("answer", "final_answer", "final")


def parse_reply(text: str, *, prefill: str = "") -> Action:
    """The action in ``prefill + text`` (``prefill`` is the reply opening the agent wrote).

    Tries, in order: a JSON object (repaired if needed), then the ReAct text forms. A model
    that ignored the prefill and started its own object is read from ``text`` alone.
    """
    action = _parse((prefill + text).strip())
    if prefill and isinstance(action, ParseError) and text.strip():
        alone = _parse(text.strip())
        if not isinstance(alone, ParseError):
            return alone
    return action


def _parse(reply: str) -> Action:
    if not reply:
        return ParseError(f"Your reply was empty. {FORMAT_HINT}")
    obj = find_json_object(reply)
    if isinstance(obj, dict):
        action = _from_object(obj)
        if action is not None:
            return action
    react = _from_react_text(reply)
    if react is not None:
        return react
    if isinstance(obj, dict):
        return ParseError(
            f'Your JSON object has neither a "tool" nor an "answer" key. {FORMAT_HINT}',
            thought=_text(obj.get("thought")),
        )
    return ParseError(f"I could not read a tool call or an answer in your reply. {FORMAT_HINT}")


def find_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (inside code fences or not), repaired if needed."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        for start in (i for i, ch in enumerate(candidate) if ch == "{"):
            end, closers = _scan(candidate[start:])
            chunk = candidate[start : start + end] if end else candidate[start:] + closers
            obj = _load_object(chunk)
            if obj is not None:
                return obj
    return None


def _scan(text: str) -> tuple[int, str]:
    """One pass over ``text``, which opens with a brace, skipping quoted strings: the index
    after the brace that closes it (0 when none does), and what a reply cut off by the token
    limit lacks to close (a quote, then brackets and braces)."""
    depth, quote, escaped, stack = 0, "", False, []
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
            depth += ch == "{"
        elif ch in "}]":
            if stack:
                stack.pop()
            if ch == "}":
                depth -= 1
                if depth == 0:
                    return i + 1, ""
    return 0, quote + "".join(reversed(stack))


def _load_object(chunk: str) -> dict[str, Any] | None:
    """``chunk`` as a dict: strict JSON, then without trailing commas, then Python literal."""
    fixed = _TRAILING_COMMA.sub(r"\1", chunk)
    for attempt in (chunk, fixed):
        try:
            value = json.loads(attempt)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    pythonic = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", fixed))
    pythonic = re.sub(r"\bnull\b", "None", pythonic)
    try:
        value = ast.literal_eval(pythonic)  # single quotes; literals only, never code
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    # Python literals JSON lacks (sets, tuples, bytes, non-string keys) become JSON values.
    normal: dict[str, Any] = json.loads(json.dumps(value, default=_jsonable))
    return normal


def _jsonable(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _from_object(obj: dict[str, Any]) -> Action | None:
    lowered = {str(k).lower(): v for k, v in obj.items()}
    thought = _text(lowered.get("thought"))
    for key in _ANSWER_KEYS:
        if key in lowered and lowered[key] not in (None, ""):
            return FinalAnswer(_text(lowered[key]).strip(), thought)
    tool = next((lowered[k] for k in _TOOL_KEYS if k in lowered), None)
    if isinstance(tool, dict):  # {"function": {"name": ..., "arguments": ...}}
        return _from_object({"thought": thought, **tool})
    if tool is None:
        return None
    name = _text(tool).strip()
    if name.lower() in ("final_answer", "final answer", "answer"):
        args = next((lowered[k] for k in _ARG_KEYS if k in lowered), "")
        if isinstance(args, dict):
            args = next(iter(args.values()), "") if len(args) == 1 else json.dumps(args)
        return FinalAnswer(_text(args).strip(), thought)
    raw_args: Any = next((lowered[k] for k in _ARG_KEYS if k in lowered), {})
    arguments = _arguments(raw_args)
    if arguments is None:
        return ParseError(
            f'The "arguments" of your call to {name} must be a JSON object, got '
            f"{_text(raw_args)[:200]!r}. {FORMAT_HINT}",
            thought,
        )
    if not name or not _NAME.match(name):
        return ParseError(f"{name[:80]!r} is not a tool name. {FORMAT_HINT}", thought)
    return ToolCall(name, arguments, thought)


def _arguments(raw: Any) -> dict[str, Any] | None:
    """Arguments as a dict: a dict, a JSON string of one, or empty."""
    if isinstance(raw, dict):
        return raw
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        obj = find_json_object(raw)
        return obj if obj is not None else None
    return None


def _from_react_text(reply: str) -> Action | None:
    thought_match = _THOUGHT.search(reply)
    thought = thought_match.group(1).strip() if thought_match else ""
    action = _ACTION.search(reply)
    final = _FINAL.search(reply)
    if final:
        answer = _NEXT_LABEL.split(final.group(1), maxsplit=1)[0].strip()
        bogus = action is not None and not _valid_spec(action.group(1))
        if answer and (action is None or final.start() < action.start() or bogus):
            return FinalAnswer(answer, thought)
    if not action:
        return None
    spec = action.group(1).strip().strip("`")
    bracket = _BRACKET_CALL.match(spec)
    if bracket:
        name, inner = bracket.group(1), bracket.group(2).strip()
        obj = find_json_object(inner) if inner.startswith("{") else None
        return ToolCall(name, obj if obj is not None else {"input": inner.strip("\"'")}, thought)
    if not _NAME.match(spec):
        return ParseError(f"{spec[:80]!r} is not a tool name. {FORMAT_HINT}", thought)
    given = _ACTION_INPUT.search(reply[action.end() :])
    if given is None:
        return ToolCall(spec, {}, thought)
    raw = given.group(1).strip()
    obj = find_json_object(raw)
    if obj is not None:
        return ToolCall(spec, obj, thought)
    first_line = raw.splitlines()[0].strip().strip("\"'") if raw else ""
    return ToolCall(spec, {"input": first_line} if first_line else {}, thought)


def _valid_spec(spec: str) -> bool:
    """Whether ``Action: <spec>`` names a tool (``name`` or ``name[args]``)."""
    spec = spec.strip().strip("`")
    return bool(_NAME.match(spec) or _BRACKET_CALL.match(spec))
