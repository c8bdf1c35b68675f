"""The one composition root: builds store, embedder, LLM, searchers and answerers from Settings.

Everything is built lazily on first use, so ``expertly status`` never loads a model and
``expertly search`` never loads the language model. A workspace is a directory
(default ``./.expertly``) holding ``expertly.toml``, the index, the embedding cache and
converted models.

Nothing else in expertly builds these parts: the CLI, the server, evaluation and
benchmarks ask a Workspace for them (``searcher``, ``answerer``, ``llm_with``, ``at``), and
tests hand it ready-made fakes through ``Parts`` instead of building their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.config import (
    CONFIG_FILE,
    ROUTES,
    RetrievalSettings,
    Settings,
    StoreSettings,
    default_config_text,
    resolve_workspace,
)

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


MODES = (*ROUTES, "hybrid", "auto")
"""Answer modes ``expertly ask --mode`` accepts: each route, the hybrid, and the router."""


@dataclass(frozen=True)
class Parts:
    """Ready-made parts a Workspace uses instead of building them from its settings.

    Tests hand it fakes (``Parts(llm=ScriptedLLM([...]))``); an application can share one
    loaded model between workspaces. A part given here belongs to the caller: the
    workspace uses it as it is (an embedder is not wrapped in the vector cache) and never
    closes it.
    """

    embedder: Embedder | None = None
    llm: LLM | None = None
    store: StoreBackend | None = None


class Workspace:
    """A directory of settings, index and caches, and the objects built from them."""

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
        self._built: list[object] = []  # models built here, for warmup() and close()

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def index_path(self) -> Path:
        return self.root / self.settings.store.path

    @property
    def has_index(self) -> bool:
        """Whether an index may exist to read, found without creating one: the index file
        of the file store; a database store (``store.backend = postgres``) is asked."""
        if self.settings.store.backend == "sqlite":
            return self.index_path.exists()
        return True

    @property
    def index_location(self) -> str:
        """Where the index is, for people: the file, or a database store's own description
        (``PostgresStore``'s names the server, password hidden, and the schema)."""
        if self.settings.store.backend == "sqlite":
            return str(self.index_path)
        return repr(self.store)

    @property
    def models_dir(self) -> Path:
        configured = self.settings.llm.cache_dir
        return Path(configured).expanduser() if configured else self.root / "models"

    @property
    def exists(self) -> bool:
        return self.root.is_dir()

    def init(self, *, overwrite: bool = False) -> Path:
        """Create the directory and a commented ``expertly.toml`` holding every default."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.config_path.exists() and not overwrite:
            return self.config_path
        self.config_path.write_text(default_config_text(), encoding="utf-8")
        return self.config_path

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

        model = create_embedder(self.settings.embedder, models_dir=self.models_dir)
        self._built.append(model)
        return model

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

        llm = create_llm(self.settings.llm, cache_dir=self.models_dir)
        self._built.append(llm)
        return llm

    def llm_with(self, **changes: Any) -> LLM:
        """A further LLM: the workspace's ``llm`` settings with ``changes`` (e.g. a teacher
        endpoint for ``expertly dataset build``: ``backend="openai", base_url=...``)."""
        from expertly.generate.registry import create_llm

        llm = create_llm(replace(self.settings.llm, **changes), cache_dir=self.models_dir)
        self._built.append(llm)
        return llm

    @cached_property
    def chunker(self) -> Chunker:
        from expertly.embed import LocalModel
        from expertly.errors import ModelNotFoundError
        from expertly.ingest.chunking import Chunker
        from expertly.ingest.tokens import HFTokenizer, WhitespaceTokenizer

        model = self._embedding_model
        path = Path(model.path) if isinstance(model, LocalModel) else None
        # Count with the embedder's own tokenizer; for remote embedders, MiniLM's WordPiece
        # (when installed) is a far closer estimate than counting words.
        counter: Any
        if path is not None and (path / "tokenizer.json").is_file():
            counter = HFTokenizer.from_dir(path)
        else:
            try:
                counter = HFTokenizer.default()
            except ModelNotFoundError:
                counter = WhitespaceTokenizer()
        return Chunker.from_settings(counter, self.settings.chunking)

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
        from expertly.embed import LocalModel
        from expertly.generate import Warmable

        started = time.perf_counter()
        for part in list(self._built):
            if isinstance(part, Warmable):
                part.warmup()
            elif isinstance(part, LocalModel):
                part.load()
        return time.perf_counter() - started

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
        from expertly.errors import ConfigError
        from expertly.finetune.registry import resolve_model
        from expertly.generate.registry import LOCAL_BACKENDS

        llm = self.settings.llm
        name = name or self.settings.router.model or None
        if llm.backend == "openai":
            return self._served_finetuned(name)
        if llm.backend not in LOCAL_BACKENDS:
            raise ConfigError(
                f"Fine-tuned models run locally (llm.backend = 'transformers') or on an "
                f"OpenAI-compatible endpoint (llm.backend = 'openai'), not with {llm.backend!r}."
            )
        key = name or ""
        if key not in self._finetuned:
            from expertly.generate.local import TransformersLLM

            self._finetuned[key] = TransformersLLM.from_ref(
                resolve_model(self.root, name),
                cache_dir=self.models_dir,
                device=llm.device,
                threads=llm.threads,
                context_window=llm.context_window,
            )
            self._built.append(self._finetuned[key])
        return self._finetuned[key]

    def _served_finetuned(self, name: str | None) -> LLM:
        """The endpoint's model ``name`` (a LoRA adapter vLLM serves, a merged export...)."""
        from expertly.errors import ConfigError
        from expertly.generate.registry import create_llm

        if not name:
            raise ConfigError(
                "The finetuned and hybrid routes on an endpoint (llm.backend = 'openai') need "
                "the model id it serves the fine-tuned model under: pass --model NAME or set "
                "router.model (EXPERTLY_ROUTER__MODEL), e.g. the NAME of vLLM's "
                "--lora-modules NAME=runs/RUN/adapter."
            )
        if name not in self._finetuned:
            llm = create_llm(replace(self.settings.llm, model=name), cache_dir=self.models_dir)
            self._finetuned[name] = llm
            self._built.append(llm)
        return self._finetuned[name]

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
        import dataclasses
        import hashlib
        import json

        digest = hashlib.sha256()
        for doc_id, content_hash in sorted(self.store.hashes().items()):
            digest.update(f"{doc_id}\0{content_hash}\n".encode())
        used = settings or self.settings
        digest.update(json.dumps(dataclasses.asdict(used), default=str).encode())
        digest.update(_code_version().encode())  # an upgrade may answer differently
        return digest.hexdigest()

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
        for suffix in ("", "-wal", "-shm", "-journal", ".hnsw", ".hnsw.meta"):
            Path(f"{self.index_path}{suffix}").unlink(missing_ok=True)

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
        from expertly.generate import Closeable

        self._close_index()
        answers = self.__dict__.pop("answer_cache", None)
        if answers is not None:
            answers.close()
        cache = self.__dict__.pop("_embedding_cache", None)
        if cache is not None:
            cache.close()
            self.__dict__.pop("embedder", None)
        for part in self._built:  # rebuilt on next use; answerers built before keep them
            if isinstance(part, Closeable):
                part.close()
        self._built.clear()
        for name in ("llm", "_finetuned", "_embedding_model", "chunker"):
            self.__dict__.pop(name, None)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@lru_cache(maxsize=1)
def _code_version() -> str:
    """The installed expertly version (read once per process: it scans package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("expertly")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "source"
