"""``search_docs``: search the workspace's documents, as the RAG route does, for the agent.

The tool wraps the workspace ``Retriever`` with the asking principal's filters (tenant and
groups, applied inside the search), so an agent sees exactly the chunks its caller may read.
The observation lists numbered passages (title, location, text trimmed to
``PASSAGE_CHARS``); the hits themselves travel in ``ToolResult.hits`` so that the final
answer can cite them. When the best dense similarity is below ``retrieval.min_relevance``
the tool reports that nothing relevant was found and returns no hits, like the RAG route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from expertly.agents.tools.base import ToolError, ToolResult
from expertly.retrieve.relevance import irrelevant
from expertly.types import Filters, Hit, Principal

if TYPE_CHECKING:
    from expertly.retrieve import Retriever

PASSAGE_CHARS = 600
MAX_K = 20

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What to look for in the documents"},
        "k": {"type": "integer", "description": f"How many passages (1-{MAX_K})"},
    },
    "required": ["query"],
}


def format_passage(number: int, hit: Hit, limit: int = PASSAGE_CHARS) -> str:
    """``[n] title — location`` then the chunk text, trimmed to ``limit`` characters."""
    chunk = hit.chunk
    text = " ".join(chunk.text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return f"[{number}] {hit.title or chunk.doc_id} — {chunk.location}\n{text}"


class SearchDocs:
    """The ``search_docs`` tool."""

    name = "search_docs"
    parameters: Mapping[str, Any] = PARAMETERS

    def __init__(self, retriever: Retriever, *, principal: Principal | None = None) -> None:
        self.retriever = retriever
        self.principal = principal
        self.filters = Filters.for_principal(principal)
        self.description = (
            "Search the organisation's documents; returns numbered passages with their "
            "source. Use it for any question about policies, products, prices or procedures."
        )

    def run(self, **arguments: Any) -> ToolResult:
        query = str(arguments["query"]).strip()
        if not query:
            raise ToolError("the query is empty: say what to look for")
        k = int(arguments.get("k") or self.retriever.settings.k)
        if not 1 <= k <= MAX_K:
            raise ToolError(f"k must be between 1 and {MAX_K}, got {k}")
        result = self.retriever.search(query, k=k, filters=self.filters)
        reason = irrelevant(result.hits, self.retriever.settings.min_relevance)
        if reason:
            return ToolResult(
                f"No passage in the documents answers {query!r}: {reason}.",
                data={"query": query, "timings": result.timings},
            )
        passages = "\n\n".join(format_passage(i, h) for i, h in enumerate(result.hits, 1))
        return ToolResult(
            passages,
            data={"query": query, "timings": result.timings},
            hits=tuple(result.hits),
        )
