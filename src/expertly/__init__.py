"""expertly: make a small language model an expert in one organisation's documents, by
retrieval (RAG), fine-tuning and agents, measured side by side.

The public Python API (see docs/python.md)::

    from expertly import Workspace, Settings

    with Workspace("./.expertly") as ws:
        ws.ingestor.ingest([Path("docs/")])
        print(ws.answerer("rag").answer("How many days of leave?").text)

``Workspace``, ``Parts``, ``Settings``, ``Answer``, ``Hit``, ``Document``, ``Citation``,
``ExpertlyError`` and ``__version__`` are importable from here. They are loaded on first
use, so ``import expertly`` stays light (no torch, no model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from expertly.config import Settings
    from expertly.errors import ExpertlyError
    from expertly.types import Answer, Citation, Document, Hit
    from expertly.workspace import Parts, Workspace

__all__ = [
    "Answer",
    "Citation",
    "Document",
    "ExpertlyError",
    "Hit",
    "Parts",
    "Settings",
    "Workspace",
    "__version__",
]

_HOMES = {
    "Workspace": "expertly.workspace",
    "Parts": "expertly.workspace",
    "Settings": "expertly.config",
    "Answer": "expertly.types",
    "Citation": "expertly.types",
    "Document": "expertly.types",
    "Hit": "expertly.types",
    "ExpertlyError": "expertly.errors",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is asked for."""
    import importlib

    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("expertly")
        except PackageNotFoundError:  # a source tree that was never installed
            value = "0+unknown"
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'expertly' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
