"""build_tools creates exactly the enabled tools; plugins register through the same path."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from expertly.agents.tools import (
    ToolContext,
    ToolResult,
    build_tools,
    register_tool,
    registered_tools,
    unregister_tool,
)
from expertly.agents.tools.base import capped, truncate
from expertly.config import AgentSettings
from expertly.errors import ConfigError
from tests.unit.helpers import fake_workspace


def test_only_enabled_tools_exist() -> None:
    registry = build_tools(AgentSettings(tools=["calculator"]))
    assert registry.names() == ["calculator"]
    result = registry.call("python", {"code": "print(1)"})
    assert not result.ok and "there is no tool 'python'" in result.output
    assert registry.call("calculator", {"expression": "6*7"}).output == "42"


def test_all_builtin_tools_build(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    sqlite3.connect(db).execute("CREATE TABLE t (a INTEGER)").connection.commit()
    ws = fake_workspace(tmp_path)
    settings = AgentSettings(
        tools=["search_docs", "sql", "calculator", "python", "http_get"],
        sql_url=str(db),
        http_allow=["docs.example.com"],
    )
    registry = build_tools(settings, retriever=ws.retriever)
    assert sorted(registry.names()) == sorted(settings.tools)
    assert "t(a INTEGER)" in registry.tools["sql"].description
    assert "docs.example.com" in registry.tools["http_get"].description
    schema = registry.openai_schema()
    assert {s["function"]["name"] for s in schema} == set(settings.tools)
    ws.close()


def test_missing_requirements_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agent\.sql_url is empty"):
        build_tools(AgentSettings(tools=["sql"]))
    with pytest.raises(ConfigError, match="no document index"):
        build_tools(AgentSettings(tools=["search_docs"]))
    with pytest.raises(ConfigError, match=r"agent\.sql_url: there is no SQLite file"):
        build_tools(AgentSettings(tools=["sql"], sql_url=str(tmp_path / "nope.db")))
    with pytest.raises(ConfigError, match=r"agent\.python_memory_mb"):
        build_tools(AgentSettings(tools=["python"], python_memory_mb=1))


class Echo:
    name = "echo"
    description = "Repeat the text."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    }

    def __init__(self, principal_id: str) -> None:
        self.principal_id = principal_id

    def run(self, **arguments: Any) -> ToolResult:
        return ToolResult(f"{self.principal_id}: {arguments['text']}")


@pytest.fixture
def echo_plugin() -> Iterator[None]:
    def factory(context: ToolContext) -> Echo:
        return Echo(context.principal.id if context.principal else "anonymous")

    register_tool("echo", factory)
    yield
    unregister_tool("echo")


def test_plugins_register_through_the_same_path(echo_plugin: None) -> None:
    from expertly.types import Principal

    assert "echo" in registered_tools()
    settings = AgentSettings(tools=["calculator"])
    settings.tools.append("echo")  # AgentSettings validates built-in names at construction
    registry = build_tools(settings, principal=Principal("ann"))
    assert registry.call("echo", {"text": "hi"}).output == "ann: hi"
    with pytest.raises(ValueError, match="already registered"):
        register_tool("echo", lambda c: Echo("x"))
    with pytest.raises(ValueError, match="letters, digits"):
        register_tool("bad name", lambda c: Echo("x"))


def test_unknown_tool_names_list_the_registered_ones() -> None:
    settings = AgentSettings(tools=[])
    settings.tools.append("teleport")
    with pytest.raises(ConfigError, match="unknown tool 'teleport'; available: calculator"):
        build_tools(settings)


def test_long_output_is_cut_with_a_marker(echo_plugin: None) -> None:
    settings = AgentSettings(tools=[], output_chars=50)
    settings.tools.append("echo")
    result = build_tools(settings).call("echo", {"text": "x" * 500})
    assert result.truncated
    assert result.output.startswith("anonymous: " + "x" * 39)
    assert result.output.endswith("[... output cut: 461 more characters]")
    short = build_tools(settings).call("echo", {"text": "ok"})
    assert not short.truncated and short.output == "anonymous: ok"


def test_truncate_helpers() -> None:
    assert truncate("abc", 10) == ("abc", False)
    text, cut = truncate("abcdef", 3)
    assert cut and text.startswith("abc\n[... output cut: 3 more")
    result = capped(ToolResult("a" * 20, data=1), 5)
    assert result.truncated and result.data == 1
