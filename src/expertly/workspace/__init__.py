"""The one composition root: builds store, embedder, LLM, searchers and answerers from Settings.

Everything is built lazily on first use, so ``expertly status`` never loads a model and
``expertly search`` never loads the language model. A workspace is a directory
(default ``./.expertly``) holding ``expertly.toml``, the index, the embedding cache and
converted models.

Nothing else in expertly builds these parts: the CLI, the server, evaluation and
benchmarks ask a Workspace for them (``searcher``, ``answerer``, ``llm_with``, ``at``), and
tests hand it ready-made fakes through ``Parts`` instead of building their own.

``Workspace`` lives here; its helpers are modules of their own: ``layout`` (where a
workspace keeps things), ``parts`` (the parts handed in, and the models built here),
``finetuned`` (opening a fine-tuned model, local or served) and ``fingerprint`` (what
the answer cache keys its entries by).
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.config import (
    ROUTES,
    RetrievalSettings,
    Settings,
    StoreSettings,
    default_config_text,
    resolve_workspace,
)
from expertly.workspace.finetuned import check_finetuned, open_finetuned
from expertly.workspace.fingerprint import fingerprint
from expertly.workspace.layout import Layout
from expertly.workspace.parts import BuiltModels, Parts, token_counter

if TYPE_CHECKING:
    from expertly.answer import Answerer
    from expertly.answer.cache import AnswerCache
    from expertly.embed import Embedder
    from expertly.embed.cache import EmbeddingCache
    from expertly.generate import LLM
    from expertly.ingest.chunking import Chunker
    from expertly.ingest.pipeline import Ingestor
    from expertly.retrieve import Retriever
    from expertly.retrieve.multihop import MultiHopRetriever
    from expertly.store import StoreBackend

__all__ = ["MODES", "Parts", "Workspace", "default_config_text"]

MODES = (*ROUTES, "hybrid", "auto")
"""Answer modes ``expertly ask --mode`` accepts: each route, the hybrid, and the router."""


class Workspace(Layout):
    """A directory of settings, index and caches (``Layout``), and the objects built from them."""

    def __init__(
        self,
        root: Path | str | None = None,
        settings: Settings | None = None,
        *,
        overrides: Parts | None = None,
    ) -> None:
        self.root = resolve_workspace(root)
        self.settings = settings or Settings.load(self.root)
        self.overrides = overrides or Parts()
        self._built = BuiltModels()  # models built here, for warmup() and close()

    @property
    def index_location(self) -> str:
        """Where the index is, for people: the file, or a database store's own description
        (``PostgresStore``'s names the server, password hidden, and the schema)."""
        if self.settings.store.backend == "sqlite":
            return str(self.index_path)
        return repr(self.store)

    def at(self, root: Path | str) -> Workspace:
        """A workspace at ``root`` with these settings and overrides (but its own store).

        Evaluation indexes a benchmark corpus this way: chunked, embedded and searched as
        the user's documents are, without touching the user's index. A database store is
        shared by every workspace that names it, so the copy keeps its index in a file of
        its own root instead (SQLite, default store settings).
        """
        settings = self.settings
        if settings.store.backend != "sqlite":
            settings = replace(settings, store=StoreSettings())
        return Workspace(root, settings, overrides=replace(self.overrides, store=None))

    # ------------------------------------------------------------------------- parts

    @cached_property
    def _embedding_model(self) -> Embedder:
        """The embedding model itself, without the vector cache."""
        if self.overrides.embedder is not None:
            return self.overrides.embedder
        from expertly.embed.registry import create_embedder

        return self._built.add(create_embedder(self.settings.embedder, models_dir=self.models_dir))

    @cached_property
    def _embedding_cache(self) -> EmbeddingCache:
        from expertly.embed.cache import EmbeddingCache

        self.root.mkdir(parents=True, exist_ok=True)
        return EmbeddingCache(self.root / "embeddings.sqlite")

    @cached_property
    def embedder(self) -> Embedder:
        """The embedding model, behind the on-disk vector cache when ``embedder.cache`` is on."""
        model = self._embedding_model
        if self.overrides.embedder is not None or not self.settings.embedder.cache:
            return model
        from expertly.embed.cache import CachedEmbedder

        return CachedEmbedder(model, self._embedding_cache)

    @cached_property
    def store(self) -> StoreBackend:
        if self.overrides.store is not None:
            return self.overrides.store
        from expertly.store.registry import create_store

        return create_store(
            self.settings.store,
            root=self.root,
            dim=self.embedder.dim,
            embedder=self.embedder.name,
        )

    @cached_property
    def llm(self) -> LLM:
        if self.overrides.llm is not None:
            return self.overrides.llm
        from expertly.generate.registry import create_llm

        return self._built.add(create_llm(self.settings.llm, cache_dir=self.models_dir))

    def llm_with(self, **changes: Any) -> LLM:
        """A further LLM: the workspace's ``llm`` settings with ``changes`` (e.g. a teacher
        endpoint for ``expertly dataset build``: ``backend="openai", base_url=...``)."""
        from expertly.generate.registry import create_llm

        llm = create_llm(replace(self.settings.llm, **changes), cache_dir=self.models_dir)
        return self._built.add(llm)

    @cached_property
    def chunker(self) -> Chunker:
        from expertly.ingest.chunking import Chunker

        return Chunker.from_settings(token_counter(self._embedding_model), self.settings.chunking)

    @cached_property
    def ingestor(self) -> Ingestor:
        from expertly.ingest.pipeline import Ingestor

        return Ingestor(
            self.store, self.embedder, self.chunker, self.settings.ingest, self.settings.chunking
        )

    @cached_property
    def retriever(self) -> Retriever:
        from expertly.retrieve import Retriever

        # The LLM is built only if an LLM-as-judge reranker asks for it.
        return Retriever(self.store, self.embedder, self.settings.retrieval, llm=lambda: self.llm)

    def retriever_for(self, settings: RetrievalSettings) -> Retriever:
        """``retriever`` itself for the workspace's settings, else one more on the same
        store and embedder (variants compared on one index)."""
        if settings == self.settings.retrieval:
            return self.retriever
        from expertly.retrieve import Retriever

        return Retriever(self.store, self.embedder, settings, llm=lambda: self.llm)

    def searcher(self, **changes: Any) -> MultiHopRetriever:
        """Retrieval as ``ask`` runs it, with ``changes`` to the ``retrieval`` settings.

        Query rewriting and multi-hop rounds run when ``retrieval.rewrite`` /
        ``retrieval.multihop`` say so; the LLM is built only when a setting needs it (an
        LLM rewrite or follow-up, or ``rerank = "llm"`` on first use). ``expertly search``
        and every evaluation configuration search through this, e.g.
        ``ws.searcher(mode="sparse").search("parental leave", k=5).hits``.
        """
        from expertly.retrieve.multihop import needs_llm

        settings = replace(self.settings.retrieval, **changes)
        return self.searcher_for(settings, self.llm if needs_llm(settings) else None)

    def searcher_for(self, settings: RetrievalSettings, llm: LLM | None) -> MultiHopRetriever:
        """A searcher with exactly ``settings``, whose rewrites and follow-up queries ``llm``
        writes (the RAG routes pass their own model: the fine-tuned one for ``hybrid``)."""
        from expertly.retrieve.multihop import MultiHopRetriever

        return MultiHopRetriever(self.retriever_for(settings), settings, llm=llm)

    def stats(self) -> dict[str, Any]:
        """What the index holds (``documents``, ``chunks``, ...), as ``expertly status`` says."""
        return dict(self.store.stats())

    def document_ids(self) -> set[str]:
        """The ids of every indexed document."""
        return set(self.store.hashes())

    def warmup(self) -> float:
        """Load every model built so far and pay its first-call costs; returns the seconds.

        Call it after ``answerer()`` or ``searcher()``: the first generation of a process is
        several times slower than the next, and timings reported afterwards are then the
        real ones. Parts handed in through ``Parts`` are the caller's to warm.
        """
        return self._built.warm_up()

    # ---------------------------------------------------------------------- answerers

    def answerer(
        self,
        mode: str = "rag",
        *,
        model: str | None = None,
        conversational: bool = False,
        k: int | None = None,
        cache: bool = True,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Answerer:
        """The answerer for ``mode``, wrapped in the answer cache when that is safe.

        Modes: ``rag`` (retrieve, then the base model answers with citations), ``base``
        (closed-book base model), ``finetuned`` (closed-book fine-tuned model), ``hybrid``
        (the fine-tuned model answering over retrieved context), ``agent`` (ReAct loop with
        the enabled tools) and ``auto`` (the router picks one per question). ``model`` names
        a fine-tuned model (``expertly models``); default ``router.model`` or the newest.
        ``conversational`` gives the agent a bounded memory of earlier turns (``chat``);
        such answers depend on the conversation, so they are not cached. ``k`` retrieves
        that many passages instead of ``retrieval.k``; ``cache=False`` answers afresh.
        ``max_new_tokens`` and ``temperature`` replace ``llm.max_new_tokens`` /
        ``llm.temperature`` for this answerer (a server request's ``max_tokens``).
        """
        from expertly import routes
        from expertly.errors import ConfigError

        if mode not in MODES:
            raise ConfigError(f"Unknown answer mode {mode!r}; valid: {', '.join(MODES)}")
        s = self.settings
        if k is not None:
            s = replace(s, retrieval=replace(s.retrieval, k=k))
        if max_new_tokens is not None:
            s = replace(s, llm=replace(s.llm, max_new_tokens=max_new_tokens))
        if temperature is not None:
            s = replace(s, llm=replace(s.llm, temperature=temperature))
        if mode == "agent" and conversational:
            return routes.agent(self, s, conversational=True)
        if mode == "auto":
            inner = routes.router(self, s, model)
        else:
            inner = routes.route_answerer(self, s, mode, model)
        return routes.cached(self, s, inner, mode, model) if cache else inner

    def finetuned_llm(self, name: str | None = None) -> LLM:
        """The fine-tuned model ``name`` (default: ``router.model``, else the newest), loaded
        with the workspace's device and thread settings.

        With ``llm.backend = 'openai'`` the model is served: ``name`` (or ``router.model``)
        is the model id the endpoint serves it under (vLLM: the adapter name of
        ``--lora-modules NAME=PATH``) and is sent as each request's ``model``."""
        llm = self.settings.llm
        name = name or self.settings.router.model or None
        check_finetuned(llm, name)
        key = name or ""
        if key not in self._finetuned:
            opened = open_finetuned(self.root, llm, name, models_dir=self.models_dir)
            self._finetuned[key] = self._built.add(opened)
        return self._finetuned[key]

    def forget_finetuned(self, name: str) -> None:
        """Let go of the loaded fine-tuned model ``name`` (``compare`` loads one retrained
        model per changed fact); its memory is freed once no answerer holds it."""
        llm = self._finetuned.pop(name, None)
        if llm is not None:
            self._built.remove(llm)

    @cached_property
    def _finetuned(self) -> dict[str, LLM]:
        return {}

    @cached_property
    def answer_cache(self) -> AnswerCache:
        from expertly.answer.cache import AnswerCache

        return AnswerCache(self.root / self.settings.cache.path)

    def index_fingerprint(self, settings: Settings | None = None) -> str:
        """Changes whenever a document is added, changed or removed, a setting changes
        (``settings``, default the workspace's), or expertly is upgraded."""
        return fingerprint(self.store.hashes(), settings or self.settings)

    # ------------------------------------------------------------------------ closing

    def reset_index(self) -> None:
        """Delete the index (used by ``ingest --reindex``): its files (the saved HNSW graph
        of ``store.vector_index = hnsw`` included), or its tables in
        PostgreSQL (``store.backend = postgres``); caches and models are kept."""
        self._close_index()
        if self.settings.store.backend == "postgres":
            from expertly.store.postgres import drop_index

            drop_index(self.settings.store)
            return
        from expertly.store.sqlite.files import remove_index

        remove_index(self.index_path)

    def _close_index(self) -> None:
        """Close the store (unless it was handed in) and drop what was built on it."""
        from expertly.generate import Closeable

        store = self.__dict__.pop("store", None)
        if isinstance(store, Closeable) and store is not self.overrides.store:
            store.close()
        for name in ("ingestor", "retriever"):
            self.__dict__.pop(name, None)

    def close(self) -> None:
        """Close the index, the caches and the connections of the models this workspace
        built (an endpoint's HTTP client); anything used again is rebuilt."""
        self._close_index()
        answers = self.__dict__.pop("answer_cache", None)
        if answers is not None:
            answers.close()
        cache = self.__dict__.pop("_embedding_cache", None)
        if cache is not None:
            cache.close()
            self.__dict__.pop("embedder", None)
        self._built.close()  # rebuilt on next use; answerers built before keep them
        for name in ("llm", "_finetuned", "_embedding_model", "chunker"):
            self.__dict__.pop(name, None)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
