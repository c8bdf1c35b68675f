"""The RAG route's retrieval step: one search, or rewriting and multi-hop rounds, traced.

``retrieve`` runs the question through the ``MultiHopRetriever`` the Workspace built from
the retrieval settings (query rewriting and follow-up rounds when ``retrieval.rewrite`` or
``retrieval.multihop`` ask for them) or, without one, a single search under the principal's
ACL filters, and records what it did as trace steps: each rewrite or hop, then the hits
with their fused and per-method scores, so an answer's trace shows why it read what it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from expertly.config import RetrievalSettings
from expertly.types import Filters, Hit, Principal, TraceStep

if TYPE_CHECKING:
    from expertly.retrieve import Retriever
    from expertly.retrieve.multihop import MultiHopRetriever


@dataclass
class Retrieved:
    """What retrieval found for one question, and how."""

    hits: list[Hit]
    timings: dict[str, float]
    trace: list[TraceStep]  # rewrites and hops, then the ``retrieve`` step
    rewrites: tuple[str, ...]  # the extra queries run (rewrites, follow-ups)


def retrieve(
    question: str,
    retriever: Retriever,
    settings: RetrievalSettings,
    *,
    k: int | None = None,
    principal: Principal | None = None,
    expander: MultiHopRetriever | None = None,
) -> Retrieved:
    """The top ``k`` (default ``settings.k``) chunks ``principal`` may read for
    ``question``, through ``expander`` when there is one."""
    filters = Filters.for_principal(principal)
    steps: list[TraceStep] = []
    rewrites: tuple[str, ...] = ()
    if expander is None:
        result = retriever.search(question, k=k, filters=filters)
        hits, timings = result.hits, dict(result.timings)
    else:
        expanded = expander.search(question, k=k, filters=filters)
        hits, timings, rewrites = expanded.hits, dict(expanded.timings), expanded.queries
        for step in expanded.steps:
            name = "multihop" if "hop" in step else "rewrite"
            steps.append(TraceStep(name, step))
        if expanded.llm_calls:
            steps.append(TraceStep("query_llm", {"calls": expanded.llm_calls}))
    found = TraceStep(
        "retrieve",
        {
            "k": k or settings.k,
            "mode": retriever.mode.value,
            "rewrite": settings.rewrite,
            "multihop": settings.multihop,
            "hits": [
                {
                    "chunk": h.chunk.id,
                    "score": round(h.score, 4),
                    **{m: round(v, 4) for m, v in h.scores.items()},
                }
                for h in hits
            ],
        },
        seconds=sum(timings.values()),
    )
    return Retrieved(list(hits), timings, [*steps, found], rewrites)
