"""Retrieval *configurations*: named ways of searching that an evaluation compares.

A configuration turns a Workspace into a ``Searcher`` (question, number of chunks → hits).
``dense``, ``sparse`` and ``hybrid`` are built in; a reranker or query rewriting is one more
``register_configuration`` call and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from expertly.errors import ExpertlyError

if TYPE_CHECKING:
    from expertly.types import Hit
    from expertly.workspace import Workspace

Searcher = Callable[[str, int], Sequence["Hit"]]
"""(question, chunks wanted) → hits, best first."""


@dataclass(frozen=True)
class Configuration:
    """A named retrieval strategy: ``build`` makes its Searcher from a workspace."""

    name: str
    description: str
    build: Callable[[Workspace], Searcher]


CONFIGURATIONS: dict[str, Configuration] = {}
"""Every configuration ``--config`` accepts, by name."""


def register_configuration(config: Configuration) -> None:
    """Make ``config`` selectable by its name (a later registration replaces an earlier)."""
    CONFIGURATIONS[config.name] = config


def _retriever_mode(mode: str) -> Callable[[Workspace], Searcher]:
    def build(ws: Workspace) -> Searcher:
        retriever = ws.retriever

        def search(question: str, k: int) -> Sequence[Hit]:
            return retriever.search(question, k=k, mode=mode).hits

        return search

    return build


for _name, _description in (
    ("dense", "embedding similarity only (sqlite-vec, exact cosine)"),
    ("sparse", "BM25 only (SQLite FTS5, Porter stemming, stopwords dropped from the query)"),
    ("hybrid", "dense + BM25 fused by weighted reciprocal rank (the workspace's retrieval.*)"),
):
    register_configuration(Configuration(_name, _description, _retriever_mode(_name)))


def parse_configurations(text: str) -> list[str]:
    """``"dense,sparse"`` → ``["dense", "sparse"]``, checked against the registry."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in CONFIGURATIONS]
    if unknown or not names:
        raise ExpertlyError(
            f"Unknown configuration(s) {', '.join(unknown) or '(none given)'}; "
            f"valid: {', '.join(CONFIGURATIONS)}"
        )
    return names
