"""Plugins: backends and tools that other installed packages add through entry points.

A package makes an embedder, an LLM backend, a store or an agent tool available by naming
its factory in an entry-point group of its ``pyproject.toml``::

    [project.entry-points."expertly.embedders"]
    my-embedder = "my_package.embed:make_embedder"

After ``pip install my-package``, ``embedder.backend = "my-embedder"`` works: the first
lookup of a name that no ``register_*`` call has added loads the entry point of that name
and registers what it points at, so plugins are imported only when a setting asks for
them and ``import expertly`` stays light. The factory has the same signature as one given
to ``register_embedder`` / ``register_llm`` / ``register_store`` / ``register_tool``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from typing import Any

from expertly.errors import ConfigError

EMBEDDERS = "expertly.embedders"
LLMS = "expertly.llms"
STORES = "expertly.stores"
TOOLS = "expertly.tools"
GROUPS = (EMBEDDERS, LLMS, STORES, TOOLS)


def entry_point_names(group: str) -> list[str]:
    """Names the installed packages declare in ``group`` (for error messages)."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=group)})


def valid_names(registered: Iterable[str], group: str) -> str:
    """``registered`` names in their order, then the entry points of ``group`` not among
    them, comma-separated: what an "unknown name" error lists."""
    names = list(registered)
    return ", ".join([*names, *(n for n in entry_point_names(group) if n not in names)])


def load_entry_point(group: str, name: str) -> Any | None:
    """What the entry point ``name`` of ``group`` points at (its factory), or None when no
    installed package declares one.

    Raises ``ConfigError`` naming the package when the entry point cannot be imported, so
    a broken plugin is reported as such rather than as an unknown name.
    """
    for ep in importlib.metadata.entry_points(group=group):
        if ep.name != name:
            continue
        try:
            return ep.load()
        except (ImportError, AttributeError) as exc:
            package = ep.dist.name if ep.dist is not None else ep.value
            raise ConfigError(
                f"The plugin {name!r} ({group}, from {package}) failed to load: {exc}. "
                f"Reinstall or upgrade {package}, or choose another {group.split('.')[-1][:-1]}."
            ) from exc
    return None
