"""Reranking: a second, slower look at the best fused hits.

A ``Reranker`` re-scores a short list of hits for one query and returns the best ``k``.
Backends register by name (``register_reranker``) and are imported only when built, so
``import expertly`` never loads torch:

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
from dataclasses import replace
from typing import Protocol, runtime_checkable

from expertly.config import RetrievalSettings
from expertly.errors import ConfigError
from expertly.types import Hit


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
    from expertly.retrieve.rerank_models import CrossEncoderReranker

    return CrossEncoderReranker(settings.rerank_model)


def _maxsim(settings: RetrievalSettings) -> Reranker:
    from expertly.retrieve.rerank_models import MaxSimReranker

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


def rescored(hits: Sequence[Hit], scores: Sequence[float], k: int) -> list[Hit]:
    """``hits`` re-ordered by ``scores`` (best first, ties keep the incoming order), the top
    ``k`` kept, each carrying its reranker score and rank."""
    if len(scores) != len(hits):
        raise ValueError(f"{len(scores)} scores for {len(hits)} hits")
    order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), i))[: max(k, 0)]
    return [
        replace(
            hits[i],
            score=float(scores[i]),
            scores={**hits[i].scores, "rerank": float(scores[i])},
            ranks={**hits[i].ranks, "rerank": rank},
        )
        for rank, i in enumerate(order, start=1)
    ]


def passage_text(hit: Hit) -> str:
    """What a reranker reads for a hit: the document title, then the chunk's text."""
    return f"{hit.title}\n{hit.chunk.text}" if hit.title else hit.chunk.text
