"""The answer routes a Workspace offers: one answerer per route (rag, base, finetuned,
hybrid, agent), the router over them (auto), and the answer cache around them.

Every part comes from the workspace (its LLMs, retrievers, embedder), so these functions
assemble answerers and build nothing else; ``Workspace.answerer`` is their one caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from expertly.answer import Answerer
    from expertly.config import Settings
    from expertly.workspace import Workspace


def route_answerer(ws: Workspace, s: Settings, mode: str, model: str | None) -> Answerer:
    """The answerer of one route (``rag``, ``base``, ``finetuned``, ``hybrid``, ``agent``)."""
    from expertly.answer.closed_book import ClosedBookAnswerer
    from expertly.answer.rag import RagAnswerer

    llm = ws.finetuned_llm(model) if mode in ("hybrid", "finetuned") else ws.llm
    if mode in ("rag", "hybrid"):
        expander = ws.searcher_for(s.retrieval, llm)
        return RagAnswerer(
            expander.retriever,
            llm,
            retrieval=s.retrieval,
            settings=s.answer,
            max_new_tokens=s.llm.max_new_tokens,
            temperature=s.llm.temperature,
            route=mode,
            expander=expander,
        )
    if mode in ("base", "finetuned"):
        return ClosedBookAnswerer(
            llm,
            system_prompt=s.answer.closed_book_system,
            max_new_tokens=s.llm.max_new_tokens,
            temperature=s.llm.temperature,
            route=mode,
        )
    return agent(ws, s)


def agent(ws: Workspace, s: Settings, *, conversational: bool = False) -> Answerer:
    """The ReAct agent with the enabled tools (and a conversation memory for ``chat``)."""
    from expertly.agents.memory import ConversationMemory
    from expertly.agents.react import AgentAnswerer
    from expertly.agents.tools.base import ToolRegistry
    from expertly.agents.tools.factory import build_tools
    from expertly.types import Principal

    settings = s.agent
    needs_index = "search_docs" in settings.tools
    retriever = ws.retriever_for(s.retrieval) if needs_index else None
    build_tools(settings, retriever=retriever)  # fail now on a misconfigured tool

    def tools_for(principal: Principal | None) -> ToolRegistry:
        return build_tools(settings, retriever=retriever, principal=principal)

    memory = ConversationMemory(turns=settings.memory_turns, llm=ws.llm) if conversational else None
    from expertly.generate.registry import LOCAL_BACKENDS

    local = s.llm.backend in LOCAL_BACKENDS
    guided = settings.guided == "on" or (settings.guided == "auto" and local)
    return AgentAnswerer(ws.llm, tools_for, settings, memory=memory, guided=guided)


def router(ws: Workspace, s: Settings, model: str | None) -> Answerer:
    """The ``auto`` route: a classifier choosing among the routes ``router.routes`` names."""
    from expertly.answer.router import RouteClassifier, Router, load_examples

    r = s.router
    answerers: dict[str, Answerer] = {}
    for route in r.routes:
        if route == "finetuned" and not has_finetuned(ws, model or r.model):
            continue
        answerers[route] = route_answerer(ws, s, route, model or r.model or None)
    embedder, retriever = ws.embedder, ws.retriever_for(s.retrieval)

    def embed(texts: Sequence[str]) -> Any:
        return embedder.embed(texts, kind="query")

    def relevance(question: str) -> float:
        hits = retriever.search(question, k=1, mode="dense").hits
        return max((h.scores.get("dense", 0.0) for h in hits), default=0.0)

    classifier = RouteClassifier(
        load_examples(r.examples or None),
        embed,
        k=r.k,
        min_similarity=r.min_similarity,
        fallback=r.fallback,
        rules=r.rules,
        relevance=relevance if "base" in answerers and "rag" in answerers else None,
        min_relevance=s.retrieval.min_relevance,
    )
    return Router(answerers, classifier, fallback=r.fallback)


def has_finetuned(ws: Workspace, name: str | None) -> bool:
    """Whether a usable fine-tuned model (``name``, or any) exists in this workspace; on an
    endpoint (``llm.backend = 'openai'``), whether one is named (the server serves it)."""
    from expertly.finetune.registry import list_models

    if ws.settings.llm.backend == "openai":
        return bool(name)

    usable = [m for m in list_models(ws.root) if m.usable]
    return bool(usable) and (not name or any(m.name == name for m in usable))


def cached(ws: Workspace, s: Settings, inner: Answerer, mode: str, model: str | None) -> Answerer:
    """``inner`` behind the answer cache, unless its answers may change between calls."""
    from expertly.answer.cache import CachedAnswerer

    live_tools = {"http_get", "python"} & set(s.agent.tools)
    uses_agent = mode == "agent" or (mode == "auto" and "agent" in s.router.routes)
    if not s.cache.answers or s.llm.temperature > 0 or (uses_agent and live_tools):
        return inner
    tuned = ""
    name = model or s.router.model or None
    if s.llm.backend == "openai":
        tuned = (name or "") if mode in ("finetuned", "hybrid", "auto") else ""
    elif mode in ("finetuned", "hybrid", "auto") and has_finetuned(ws, name):
        from expertly.finetune.registry import resolve_model

        # the model actually used, so a newer run (the default) is never answered from
        # answers of the previous one
        tuned = resolve_model(ws.root, name).path
    return CachedAnswerer(
        inner,
        ws.answer_cache,
        route=mode,
        model=f"{s.llm.backend}:{s.llm.model}:{tuned}",
        fingerprint=lambda: ws.index_fingerprint(s),
    )
