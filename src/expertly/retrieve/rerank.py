"""Reranking: a second, slower look at the best fused hits.

A ``Reranker`` re-scores a short list of hits for one query and returns the best ``k``.
Backends register by name (``register_reranker``); the model-backed ones live in
``expertly.embed.rerankers`` (model backends sit in the embed layer) and load torch only
when a model loads, so ``import expertly`` never does:

- ``cross-encoder``: a sentence-transformers CrossEncoder loaded from a local directory
  (``retrieval.rerank_model``); expertly downloads no model and ships none.
- ``maxsim``: late interaction, the sum over query tokens of the best cosine with any
  passage token, from the token embeddings of a sentence-transformers model (default: the
  packaged MiniLM).

The Retriever applies the configured one after fusion (``retrieval.rerank``,
``retrieval.rerank_candidates``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from expertly.config import RetrievalSettings
from expertly.embed.rerankers import passage_text, rescored
from expertly.errors import ConfigError
from expertly.types import Hit

__all__ = [
    "Reranker",
    "RerankerFactory",
    "create_reranker",
    "passage_text",
    "register_reranker",
    "reranker_names",
    "rescored",
]


@runtime_checkable
class Reranker(Protocol):
    """Re-scores hits for a query."""

    name: str

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        """The best ``k`` of ``hits`` for ``query``, best first, with ``score`` set to the
        reranker's score and ``scores["rerank"]`` / ``ranks["rerank"]`` recorded."""
        ...


RerankerFactory = Callable[[RetrievalSettings], Reranker]


def _cross_encoder(settings: RetrievalSettings) -> Reranker:
    from expertly.embed.rerankers import CrossEncoderReranker

    return CrossEncoderReranker(settings.rerank_model)


def _maxsim(settings: RetrievalSettings) -> Reranker:
    from expertly.embed.rerankers import MaxSimReranker

    return MaxSimReranker(settings.rerank_model)


_RERANKERS: dict[str, RerankerFactory] = {
    "cross-encoder": _cross_encoder,
    "maxsim": _maxsim,
}


def register_reranker(name: str, factory: RerankerFactory) -> None:
    """Make a reranker selectable as ``retrieval.rerank = name`` (plugins and tests use the
    same path as the built-ins; a later registration replaces an earlier one)."""
    _RERANKERS[name] = factory


def reranker_names() -> list[str]:
    """Every registered reranker name."""
    return list(_RERANKERS)


def create_reranker(settings: RetrievalSettings) -> Reranker | None:
    """The reranker named by ``retrieval.rerank``, or None when it is empty (off)."""
    if not settings.rerank:
        return None
    try:
        factory = _RERANKERS[settings.rerank]
    except KeyError:
        raise ConfigError(
            f"retrieval.rerank = {settings.rerank!r} is unknown; valid: '' (off), "
            f"{', '.join(_RERANKERS)}"
        ) from None
    return factory(settings)
