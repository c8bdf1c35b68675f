"""Whether retrieved passages are worth reading at all: one judgement for every route.

The RAG route abstains without calling the model, and the agent's ``search_docs`` tool
reports that nothing was found, when retrieval returns no passage or when the best dense
similarity is below ``retrieval.min_relevance``: BM25 and fusion always rank something,
so only the dense score says whether the best of it is near the question.
"""

from __future__ import annotations

from collections.abc import Sequence

from expertly.types import Hit


def irrelevant(hits: Sequence[Hit], min_relevance: float) -> str:
    """Why ``hits`` hold nothing worth reading ('' when they do)."""
    if not hits:
        return "retrieval found no matching passage"
    dense = [h.scores["dense"] for h in hits if "dense" in h.scores]
    if dense and max(dense) < min_relevance:
        return (
            f"best dense similarity {max(dense):.2f} is below retrieval.min_relevance "
            f"{min_relevance}"
        )
    return ""
