"""Plugins found through entry points: an unknown backend or tool name loads the entry
point of that name from its group the first time it is looked up."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from expertly.agents.tools import factory as tools
from expertly.agents.tools.base import ToolResult
from expertly.config import AgentSettings, EmbedderSettings, LLMSettings, Settings, StoreSettings
from expertly.embed import registry as embedders
from expertly.embed.hashing import HashingEmbedder
from expertly.errors import ConfigError
from expertly.generate import registry as llms
from expertly.generate.scripted import ScriptedLLM
from expertly.store import registry as stores
from expertly.workspace import Workspace


def make_llm(settings: LLMSettings, cache_dir: Path) -> ScriptedLLM:
    return ScriptedLLM(["from the plugin"], name="plugged-llm")


def make_embedder(settings: EmbedderSettings) -> HashingEmbedder:
    return HashingEmbedder(24)


class Shout:
    name = "shout"
    description = "Repeat the text in capitals."
    parameters: Mapping[str, Any] = {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    }

    def run(self, **arguments: Any) -> ToolResult:
        return ToolResult(str(arguments["text"]).upper())


def make_tool(context: tools.ToolContext) -> Shout:
    return Shout()


def make_store(settings: StoreSettings, target: stores.StoreTarget) -> Any:
    """A plugin store: here the built-in SQLite backend under another name."""
    return stores._BACKENDS["sqlite"](settings, target)


PLUGINS = {
    "expertly.llms": [("plugged-llm", f"{__name__}:make_llm"), ("broken", "no_such_pkg:x")],
    "expertly.embedders": [("plugged-embedder", f"{__name__}:make_embedder")],
    "expertly.tools": [("shout", f"{__name__}:make_tool")],
    "expertly.stores": [("plugged-store", f"{__name__}:make_store")],
}


@pytest.fixture(autouse=True)
def installed_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Entry points as if a package declaring ``PLUGINS`` were installed; the registries
    are restored afterwards."""
    real = importlib.metadata.entry_points

    def entry_points(**selection: Any) -> Any:
        group = selection.get("group")
        if group in PLUGINS:
            return importlib.metadata.EntryPoints(
                importlib.metadata.EntryPoint(name, value, group) for name, value in PLUGINS[group]
            )
        return real(**selection)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    for module in (llms, embedders, stores):
        monkeypatch.setattr(module, "_BACKENDS", dict(module._BACKENDS))
    monkeypatch.setattr(tools, "_FACTORIES", dict(tools._FACTORIES))
    yield


def test_backends_named_by_entry_points_are_loaded_on_first_lookup(tmp_path: Path) -> None:
    settings = Settings(
        embedder=EmbedderSettings(backend="plugged-embedder", cache=False),
        llm=LLMSettings(backend="plugged-llm"),
        store=StoreSettings(backend="plugged-store"),
    )
    with Workspace(tmp_path / "ws", settings) as ws:
        assert "plugged-llm" not in llms._BACKENDS  # nothing is imported before it is asked for
        assert ws.llm.name == "plugged-llm"
        assert ws.embedder.dim == 24
        assert ws.stats()["documents"] == 0
    assert "plugged-llm" in llms._BACKENDS  # registered: the next lookup is a dict hit
    assert "plugged-store" in stores._BACKENDS
    assert (tmp_path / "ws" / "index.sqlite").is_file()  # the plugin's store was opened


def test_tools_named_by_entry_points_are_built_like_builtins() -> None:
    assert "shout" in tools.registered_tools()
    registry = tools.build_tools(AgentSettings(tools=["calculator", "shout"]))
    assert registry.call("shout", {"text": "hi"}).output == "HI"


def test_unknown_and_broken_plugins_say_what_to_do() -> None:
    with pytest.raises(ConfigError, match=r"llm.backend = 'nope' is unknown; valid: .*plugged-llm"):
        llms.create_llm(LLMSettings(backend="nope"), cache_dir=Path("."))
    with pytest.raises(ConfigError, match=r"plugin 'broken' .* failed to load: .*Reinstall"):
        llms.create_llm(LLMSettings(backend="broken"), cache_dir=Path("."))
    with pytest.raises(
        ConfigError, match=r"store.backend = 'nope' is unknown; valid: sqlite, postgres, plug"
    ):
        stores.create_store(StoreSettings(backend="nope"), root=Path("."), dim=4, embedder="e")
