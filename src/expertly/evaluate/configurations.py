"""Retrieval *configurations*: named ways of searching that an evaluation compares.

A configuration turns a Workspace into a ``Searcher`` (question, number of chunks → hits).
``dense``, ``sparse`` and ``hybrid`` search as the workspace's settings say; the fusion and
reranking variants (``hybrid-rrf60``, ``hybrid-nofeedback``, ``hybrid-convex``,
``hybrid+rerank``, ``hybrid+maxsim``, ``hybrid+cross-encoder``, ``hybrid+llm``) change a few
retrieval settings on the same index. Query rewriting or another reranker is one more
``register_configuration`` call and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


def _searching(**changes: Any) -> Callable[[Workspace], Searcher]:
    """A Searcher running the workspace's retrieval (``Workspace.searcher``) with some
    retrieval settings changed, so variants are compared on one index in one run."""

    def build(ws: Workspace) -> Searcher:
        searcher = ws.searcher(**changes)

        def search(question: str, k: int) -> Sequence[Hit]:
            return searcher.search(question, k=k).hits

        return search

    return build


def _single_shot(mode: str, **changes: Any) -> Callable[[Workspace], Searcher]:
    """One search per question (no query rewriting, no follow-up rounds) in ``mode``."""
    return _searching(mode=mode, rewrite="none", multihop="off", **changes)


for _name, _description in (
    ("dense", "embedding similarity only (sqlite-vec, exact cosine)"),
    ("sparse", "BM25 only (SQLite FTS5, Porter stemming, stopwords dropped from the query)"),
    (
        "hybrid",
        "dense + BM25 as the workspace's retrieval.* say (by default convex fusion with "
        "pseudo-relevance feedback; the reranker if retrieval.rerank names one)",
    ),
):
    register_configuration(Configuration(_name, _description, _single_shot(_name)))


def _configured_rerank(ws: Workspace) -> Searcher:
    if not ws.settings.retrieval.rerank:
        raise ExpertlyError(
            "Configuration 'hybrid+rerank' uses the workspace's reranker, but retrieval.rerank "
            "is off: set it (e.g. EXPERTLY_RETRIEVAL__RERANK=maxsim) or choose hybrid+maxsim"
        )
    return _single_shot("hybrid")(ws)


for _config in (
    Configuration(
        "hybrid-rrf60",
        "dense + BM25, reciprocal rank fusion with k = 60 and equal weights (the former default), "
        "no reranker",
        _single_shot(
            "hybrid",
            fusion="rrf",
            rrf_k=60,
            dense_weight=1.0,
            sparse_weight=1.0,
            feedback=0.0,
            rerank="",
        ),
    ),
    Configuration(
        "hybrid-nofeedback",
        "dense + BM25, convex fusion of min-max normalised scores with equal weights, no "
        "feedback, no reranker (the default before pseudo-relevance feedback)",
        _single_shot(
            "hybrid",
            fusion="convex",
            normalization="minmax",
            dense_weight=1.0,
            sparse_weight=1.0,
            feedback=0.0,
            rerank="",
        ),
    ),
    Configuration(
        "hybrid-convex",
        "dense + BM25, convex fusion of min-max normalised scores, weights and feedback from "
        "retrieval.*, no reranker",
        _single_shot("hybrid", fusion="convex", normalization="minmax", rerank=""),
    ),
    Configuration(
        "hybrid+rerank",
        "hybrid, then the workspace's reranker (retrieval.rerank, retrieval.rerank_candidates)",
        _configured_rerank,
    ),
    Configuration(
        "hybrid+maxsim",
        "hybrid, then MaxSim late interaction over MiniLM token embeddings "
        "(top retrieval.rerank_candidates)",
        _single_shot("hybrid", rerank="maxsim"),
    ),
    Configuration(
        "hybrid+cross-encoder",
        "hybrid, then the local cross-encoder in retrieval.rerank_model "
        "(top retrieval.rerank_candidates)",
        _single_shot("hybrid", rerank="cross-encoder"),
    ),
    Configuration(
        "hybrid+llm",
        "hybrid, then the workspace's LLM judges whether each of the top "
        "retrieval.rerank_candidates passages answers the question (slow: one call each)",
        _single_shot("hybrid", rerank="llm"),
    ),
):
    register_configuration(_config)


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


# ------------------------------------------------------- query rewriting and multi-hop


for _name, _description, _changes in (
    ("rewrite-keywords", "the question, plus its content words as a second query (no LLM)",
     {"rewrite": "keywords"}),
    ("rewrite-multi", "the question plus LLM-written alternative queries, fused by RRF",
     {"rewrite": "multi"}),
    ("rewrite-hyde", "the question plus an LLM-written hypothetical answer passage, fused",
     {"rewrite": "hyde"}),
    ("multihop-iterate", "two rounds: names in the top passages become follow-up queries",
     {"multihop": "iterate", "multihop_llm": False}),
    ("multihop-decompose", "the question's own names searched first, then one follow-up round",
     {"multihop": "decompose", "multihop_llm": False, "multihop_hops": 3}),
    ("multihop-iterate-llm", "two rounds: the LLM reads the top passages, writes a follow-up",
     {"multihop": "iterate", "multihop_llm": True}),
    ("multihop-decompose-llm", "the LLM splits the question into sub-questions, searched too",
     {"multihop": "decompose", "multihop_llm": True}),
):  # fmt: skip
    register_configuration(Configuration(_name, _description, _searching(**_changes)))
