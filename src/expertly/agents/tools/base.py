"""The ``Tool`` protocol, the result every tool returns, and the registry of enabled tools.

A tool's failure (bad arguments, timeout, refused statement) is an *observation* for the
agent, not a crash: ``ToolRegistry.call`` turns a ``ToolError`` or an argument error into a
``ToolResult`` with ``ok=False`` and a message the model can act on. Bugs in expertly itself
(any other exception) propagate.

A call may be given ``timeout_s`` (the agent passes the time its budget has left). The tool
then runs in a worker thread and the caller waits at most that long: past it, the call
returns a result with ``timed_out=True``. A ``TimeBounded`` tool (``sql``, ``python``) is
also told the time, so it stops itself at the deadline with its own error (it gets
``STOP_GRACE_S`` more to say so); any other tool's thread is left to finish on its own,
unseen, which is why every built-in tool bounds its own work (the calculator's operations,
the HTTP client's timeout).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from expertly.types import Citation, Hit


class ToolError(Exception):
    """A tool could not do what was asked; the message is shown to the agent as is."""


@dataclass(frozen=True)
class ToolResult:
    """What a tool call returns: text for the model, and structured data for the Answer.

    ``hits`` carries retrieved chunks (``search_docs``) so the final answer can cite them.
    """

    output: str
    ok: bool = True
    data: Any = None
    hits: tuple[Hit, ...] = ()
    citations: tuple[Citation, ...] = ()
    seconds: float = 0.0
    truncated: bool = False
    timed_out: bool = False


@runtime_checkable
class Tool(Protocol):
    """A named capability with a JSON-schema for its arguments."""

    name: str
    description: str

    @property
    def parameters(self) -> Mapping[str, Any]:
        """JSON schema of an object: ``{"type": "object", ...}`` (read-only: a class
        attribute or a property both satisfy it)."""
        ...

    def run(self, **arguments: Any) -> ToolResult: ...


@runtime_checkable
class TimeBounded(Protocol):
    """A tool that can stop its own work within ``timeout_s`` seconds (e.g. a database
    statement stopped by the server or a progress handler)."""

    def run_within(self, timeout_s: float, **arguments: Any) -> ToolResult: ...


def check_arguments(tool: Tool, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``arguments`` against the tool's schema (required keys, known keys, types).

    Raises ``ToolError`` naming what is wrong, so the model can correct its call.
    """
    schema = tool.parameters
    props: Mapping[str, Any] = schema.get("properties", {})
    required: Sequence[str] = schema.get("required", ())
    if not isinstance(arguments, Mapping):
        raise ToolError(f"{tool.name}: arguments must be a JSON object, got {arguments!r}")
    missing = [k for k in required if k not in arguments]
    if missing:
        raise ToolError(f"{tool.name}: missing argument(s) {', '.join(missing)}")
    unknown = [k for k in arguments if k not in props]
    if unknown:
        raise ToolError(
            f"{tool.name}: unknown argument(s) {', '.join(unknown)}; "
            f"valid: {', '.join(props) or 'none'}"
        )
    types: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "object": dict,
        "array": list,
    }
    out: dict[str, Any] = {}
    for key, value in arguments.items():
        expected = props[key].get("type")
        py = types.get(expected) if isinstance(expected, str) else None
        if py is not None and (
            not isinstance(value, py)
            or (expected in ("integer", "number") and isinstance(value, bool))
        ):
            if expected in ("integer", "number") and isinstance(value, str):
                try:
                    value = int(value) if expected == "integer" else float(value)
                except ValueError:
                    raise ToolError(
                        f"{tool.name}: {key} must be {expected}, got {value!r}"
                    ) from None
            elif expected == "string" and isinstance(value, (int, float)):
                value = str(value)
            else:
                raise ToolError(f"{tool.name}: {key} must be {expected}, got {value!r}")
        out[key] = value
    return out


@dataclass
class ToolRegistry:
    """The tools one agent may call, by name. Calling anything else is an error observation."""

    tools: dict[str, Tool] = field(default_factory=dict)

    @classmethod
    def of(cls, tools: Iterable[Tool]) -> ToolRegistry:
        registry = cls()
        for tool in tools:
            registry.add(tool)
        return registry

    def add(self, tool: Tool) -> None:
        if tool.name in self.tools:
            raise ValueError(f"tool {tool.name!r} registered twice")
        self.tools[tool.name] = tool

    def names(self) -> list[str]:
        return list(self.tools)

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    def __len__(self) -> int:
        return len(self.tools)

    def call(
        self, name: str, arguments: Mapping[str, Any], *, timeout_s: float | None = None
    ) -> ToolResult:
        """Run tool ``name``; unknown tools, bad arguments and ``ToolError`` become results.

        With ``timeout_s`` the call returns within that time (see the module docstring):
        a tool still running then gives a ``timed_out`` result.
        """
        start = time.perf_counter()
        tool = self.tools.get(name)
        if tool is None:
            return ToolResult(
                f"Error: there is no tool {name!r}. Available tools: "
                f"{', '.join(self.tools) or 'none'}.",
                ok=False,
                seconds=time.perf_counter() - start,
            )
        if timeout_s is not None and timeout_s <= 0:
            return ToolResult(
                f"Error: {name} was not run: the agent's time (agent.timeout_s) had run out",
                ok=False,
                timed_out=True,
            )
        try:
            checked = check_arguments(tool, arguments)
            if timeout_s is None:
                result = tool.run(**checked)
            else:
                result = _run_within(tool, checked, timeout_s)
        except ToolError as exc:
            return ToolResult(f"Error: {exc}", ok=False, seconds=time.perf_counter() - start)
        except _ToolTimeout:
            return ToolResult(
                f"Error: {name} was still running when the agent's time ran out "
                f"({timeout_s:.1f} s left of agent.timeout_s) and was stopped",
                ok=False,
                seconds=time.perf_counter() - start,
                timed_out=True,
            )
        if not result.seconds:
            result = dataclasses.replace(result, seconds=time.perf_counter() - start)
        return result

    def describe(self) -> str:
        """The tool list as the model sees it in a text prompt."""
        import json

        lines = []
        for tool in self.tools.values():
            lines.append(
                f"- {tool.name}: {tool.description}\n  arguments: "
                f"{json.dumps(tool.parameters.get('properties', {}))}"
            )
        return "\n".join(lines)

    def openai_schema(self) -> list[dict[str, Any]]:
        """The tools in the OpenAI ``tools=[...]`` form, for native tool calling."""
        return [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in self.tools.values()
        ]


STOP_GRACE_S = 0.5  # extra wait for a TimeBounded tool to report its own timeout


class _ToolTimeout(Exception):
    """A tool call outlived the time it was given (turned into a ``timed_out`` result)."""


def _run_within(tool: Tool, arguments: dict[str, Any], timeout_s: float) -> ToolResult:
    """``tool``'s result if it arrives within ``timeout_s``; else ``_ToolTimeout``.

    The tool runs in a daemon thread, so a runaway cannot keep the process alive; whatever
    it raises is raised here, in the caller's thread.
    """
    work: Callable[[], ToolResult] = functools.partial(tool.run, **arguments)
    wait = timeout_s
    if isinstance(tool, TimeBounded):
        work = functools.partial(tool.run_within, timeout_s, **arguments)
        wait += STOP_GRACE_S
    outcome: list[ToolResult] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the caller's thread, which re-raises it
            failure.append(exc)

    thread = threading.Thread(target=target, name=f"tool-{tool.name}", daemon=True)
    thread.start()
    thread.join(wait)
    if failure:
        raise failure[0]
    if not outcome:
        raise _ToolTimeout
    return outcome[0]


def truncate(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters with a visible marker; and whether it was cut."""
    if limit <= 0 or len(text) <= limit:
        return text, False
    marker = f"\n[... output cut: {len(text) - limit:,} more characters]"
    return text[:limit] + marker, True


def capped(result: ToolResult, limit: int) -> ToolResult:
    """``result`` with its output cut to ``limit`` characters (``truncated`` set if cut)."""
    text, cut = truncate(result.output, limit)
    if not cut:
        return result
    return dataclasses.replace(result, output=text, truncated=True)
