"""Build the registry of tools an agent may call, from ``[agent]`` settings.

Each tool is made by a factory registered by name with ``register_tool``; the built-in tools
are registered through the same call as a plugin's, so a plugin tool is built, capped and
described exactly like ``calculator``. ``build_tools`` creates exactly the tools named in
``agent.tools`` (nothing else exists for the agent) and wraps each so that output longer
than ``agent.output_chars`` is cut with a visible marker and ``truncated=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from expertly.agents.tools.base import TimeBounded, Tool, ToolRegistry, ToolResult, capped
from expertly.config import AgentSettings
from expertly.errors import ConfigError
from expertly.plugins import TOOLS, entry_point_names, load_entry_point
from expertly.types import Principal

if TYPE_CHECKING:
    from expertly.retrieve import Retriever


@dataclass(frozen=True)
class ToolContext:
    """What a tool factory may use: the settings, the workspace retriever, the caller."""

    settings: AgentSettings
    retriever: Retriever | None = None
    principal: Principal | None = None


ToolFactory = Callable[[ToolContext], Tool]
_FACTORIES: dict[str, ToolFactory] = {}


def register_tool(name: str, factory: ToolFactory, *, replace: bool = False) -> None:
    """Make tool ``name`` buildable: ``factory(context)`` returns the tool.

    Raises ``ValueError`` if ``name`` is taken, unless ``replace`` is true.
    """
    if not name or not name.replace("_", "").isalnum():
        raise ValueError(f"tool name {name!r}: use letters, digits and underscores")
    if name in _FACTORIES and not replace:
        raise ValueError(f"a tool named {name!r} is already registered")
    _FACTORIES[name] = factory


def unregister_tool(name: str) -> None:
    """Forget tool ``name`` (tests, plugins being unloaded). Unknown names are an error."""
    if name not in _FACTORIES:
        raise ValueError(f"no tool named {name!r} is registered")
    del _FACTORIES[name]


def registered_tools() -> list[str]:
    """Names of every tool that can be enabled: built-in, registered, and declared by an
    installed package in the ``expertly.tools`` entry-point group."""
    return sorted({*_FACTORIES, *entry_point_names(TOOLS)})


def _lookup(name: str) -> ToolFactory | None:
    """The factory of tool ``name``; an entry point of that name is loaded (and
    registered) the first time it is asked for."""
    factory = _FACTORIES.get(name)
    if factory is None:
        factory = load_entry_point(TOOLS, name)
        if factory is not None:
            register_tool(name, factory)
    return factory


class CappedTool:
    """A tool whose output is cut at ``limit`` characters (the rest never reaches the model)."""

    def __init__(self, tool: Tool, limit: int) -> None:
        self.tool = tool
        self.limit = limit
        self.name = tool.name
        self.description = tool.description
        self.parameters: Mapping[str, Any] = tool.parameters

    def run(self, **arguments: Any) -> ToolResult:
        return capped(self.tool.run(**arguments), self.limit)

    def run_within(self, timeout_s: float, **arguments: Any) -> ToolResult:
        """``run``, passing the time limit on when the wrapped tool can keep to one."""
        if isinstance(self.tool, TimeBounded):
            return capped(self.tool.run_within(timeout_s, **arguments), self.limit)
        return self.run(**arguments)


def build_tools(
    settings: AgentSettings,
    *,
    retriever: Retriever | None = None,
    principal: Principal | None = None,
) -> ToolRegistry:
    """The registry of the tools named in ``settings.tools``, each capped at ``output_chars``.

    Raises ``ConfigError`` for an unknown tool or a tool that lacks what it needs (``sql``
    without ``agent.sql_url``, ``search_docs`` without a retriever).
    """
    context = ToolContext(settings, retriever, principal)
    registry = ToolRegistry()
    for name in dict.fromkeys(settings.tools):
        factory = _lookup(name)
        if factory is None:
            raise ConfigError(
                f"agent.tools: unknown tool {name!r}; available: {', '.join(registered_tools())}"
            )
        tool = factory(context)
        if tool.name != name:
            raise ConfigError(f"the factory of tool {name!r} built a tool named {tool.name!r}")
        registry.add(CappedTool(tool, settings.output_chars))
    return registry


def _search_docs(context: ToolContext) -> Tool:
    from expertly.agents.tools.search import SearchDocs

    if context.retriever is None:
        raise ConfigError(
            "agent.tools has search_docs but there is no document index to search: "
            "ingest documents first, or remove search_docs from agent.tools"
        )
    return SearchDocs(context.retriever, principal=context.principal)


def _calculator(context: ToolContext) -> Tool:
    from expertly.agents.tools.calculator import Calculator

    return Calculator()


def _sql(context: ToolContext) -> Tool:
    from expertly.agents.tools.sql import SqlTool, open_database

    s = context.settings
    if not s.sql_url.strip():
        raise ConfigError(
            "agent.tools has sql but agent.sql_url is empty: set it to a SQLite file or a "
            "postgresql://... URL, or remove sql from agent.tools"
        )
    if s.sql_timeout_s <= 0 or s.sql_max_rows < 1:
        raise ConfigError("agent.sql_timeout_s must be > 0 and agent.sql_max_rows >= 1")
    return SqlTool(open_database(s.sql_url, timeout_s=s.sql_timeout_s), max_rows=s.sql_max_rows)


def _python(context: ToolContext) -> Tool:
    from expertly.agents.tools.sandbox import PythonSandbox

    s = context.settings
    return PythonSandbox(
        timeout_s=s.python_timeout_s, memory_mb=s.python_memory_mb, output_chars=s.output_chars
    )


def _http_get(context: ToolContext) -> Tool:
    from expertly.agents.tools.http import HttpGet

    s = context.settings
    if s.http_timeout_s <= 0 or s.http_max_bytes < 1:
        raise ConfigError("agent.http_timeout_s must be > 0 and agent.http_max_bytes >= 1")
    return HttpGet(s.http_allow, timeout_s=s.http_timeout_s, max_bytes=s.http_max_bytes)


for _name, _factory in {
    "search_docs": _search_docs,
    "calculator": _calculator,
    "sql": _sql,
    "python": _python,
    "http_get": _http_get,
}.items():
    register_tool(_name, _factory)
