"""The one composition root: builds store, embedder, LLM and answerers from Settings.

Everything is built lazily on first use, so ``expertly status`` never loads a model and
``expertly search`` never loads the language model. A workspace is a directory
(default ``./.expertly``) holding ``expertly.toml``, the index, the embedding cache and
converted models.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.config import CONFIG_FILE, ROUTES, Settings, describe, resolve_workspace

if TYPE_CHECKING:
    from collections.abc import Sequence

    from expertly.answer import Answerer
    from expertly.answer.cache import AnswerCache
    from expertly.embed import Embedder
    from expertly.generate import LLM
    from expertly.ingest.chunking import Chunker
    from expertly.ingest.pipeline import Ingestor
    from expertly.retrieve import Retriever
    from expertly.store.sqlite import SQLiteStore


MODES = (*ROUTES, "hybrid", "auto")
"""Answer modes ``expertly ask --mode`` accepts: each route, the hybrid, and the router."""


class Workspace:
    """A directory of settings, index and caches, and the objects built from them."""

    def __init__(self, root: Path | str | None = None, settings: Settings | None = None) -> None:
        self.root = resolve_workspace(root)
        self.settings = settings or Settings.load(self.root)

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def index_path(self) -> Path:
        return self.root / self.settings.store.path

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

    @cached_property
    def embedder(self) -> Embedder:
        from expertly.embed.registry import create_embedder

        self.root.mkdir(parents=True, exist_ok=True)
        return create_embedder(self.settings.embedder, cache_path=self.root / "embeddings.sqlite")

    @cached_property
    def store(self) -> SQLiteStore:
        from expertly.store.sqlite import SQLiteStore

        return SQLiteStore(
            self.index_path,
            dim=self.embedder.dim,
            embedder=self.embedder.name,
            settings=self.settings.store,
        )

    @cached_property
    def llm(self) -> LLM:
        from expertly.generate.registry import create_llm

        return create_llm(self.settings.llm, cache_dir=self.models_dir)

    @cached_property
    def chunker(self) -> Chunker:
        from expertly.errors import ModelNotFoundError
        from expertly.ingest.chunking import Chunker
        from expertly.ingest.tokens import HFTokenizer, WhitespaceTokenizer

        path = getattr(self.embedder, "path", None) or getattr(
            getattr(self.embedder, "inner", None), "path", None
        )
        # Count with the embedder's own tokenizer; for remote embedders, MiniLM's WordPiece
        # (when installed) is a far closer estimate than counting words.
        counter: Any
        if path is not None and (Path(path) / "tokenizer.json").is_file():
            counter = HFTokenizer.from_dir(Path(path))
        else:
            try:
                counter = HFTokenizer.default()
            except ModelNotFoundError:
                counter = WhitespaceTokenizer()
        c = self.settings.chunking
        return Chunker(
            counter,
            max_tokens=c.max_tokens,
            overlap_tokens=c.overlap_tokens,
            min_tokens=c.min_tokens,
            rows_per_chunk=c.rows_per_chunk,
        )

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

    def answerer(
        self, mode: str = "rag", *, model: str | None = None, conversational: bool = False
    ) -> Answerer:
        """The answerer for ``mode``, wrapped in the answer cache when that is safe.

        Modes: ``rag`` (retrieve, then the base model answers with citations), ``base``
        (closed-book base model), ``finetuned`` (closed-book fine-tuned model), ``hybrid``
        (the fine-tuned model answering over retrieved context), ``agent`` (ReAct loop with
        the enabled tools) and ``auto`` (the router picks one per question). ``model`` names
        a fine-tuned model (``expertly models``); default ``router.model`` or the newest.
        ``conversational`` gives the agent a bounded memory of earlier turns (``chat``);
        such answers depend on the conversation, so they are not cached.
        """
        from expertly.errors import ConfigError

        if mode not in MODES:
            raise ConfigError(f"Unknown answer mode {mode!r}; valid: {', '.join(MODES)}")
        if mode == "agent" and conversational:
            return self._agent(conversational=True)
        inner = self._router(model) if mode == "auto" else self._route_answerer(mode, model)
        return self._cached(inner, mode, model)

    def _route_answerer(self, mode: str, model: str | None) -> Answerer:
        from expertly.answer.closed_book import ClosedBookAnswerer
        from expertly.answer.rag import RagAnswerer

        llm = self.settings.llm
        if mode in ("rag", "hybrid"):
            return RagAnswerer(
                self.retriever,
                self.finetuned_llm(model) if mode == "hybrid" else self.llm,
                retrieval=self.settings.retrieval,
                settings=self.settings.answer,
                max_new_tokens=llm.max_new_tokens,
                temperature=llm.temperature,
                route=mode,
            )
        if mode in ("base", "finetuned"):
            return ClosedBookAnswerer(
                self.finetuned_llm(model) if mode == "finetuned" else self.llm,
                system_prompt=self.settings.answer.closed_book_system,
                max_new_tokens=llm.max_new_tokens,
                temperature=llm.temperature,
                route=mode,
            )
        return self._agent()

    def _agent(self, *, conversational: bool = False) -> Answerer:
        from expertly.agents.memory import ConversationMemory
        from expertly.agents.react import AgentAnswerer
        from expertly.agents.tools.base import ToolRegistry
        from expertly.agents.tools.factory import build_tools
        from expertly.types import Principal

        settings = self.settings.agent
        needs_index = "search_docs" in settings.tools
        retriever = self.retriever if needs_index else None
        build_tools(settings, retriever=retriever)  # fail now on a misconfigured tool

        def tools_for(principal: Principal | None) -> ToolRegistry:
            return build_tools(settings, retriever=retriever, principal=principal)

        memory = (
            ConversationMemory(turns=settings.memory_turns, llm=self.llm)
            if conversational
            else None
        )
        local = self.settings.llm.backend == "transformers"
        guided = settings.guided == "on" or (settings.guided == "auto" and local)
        return AgentAnswerer(self.llm, tools_for, settings, memory=memory, guided=guided)

    def _router(self, model: str | None) -> Answerer:
        from expertly.answer.router import RouteClassifier, Router, load_examples

        r = self.settings.router
        answerers: dict[str, Answerer] = {}
        for route in r.routes:
            if route == "finetuned" and not self._has_finetuned(model or r.model):
                continue
            answerers[route] = self._route_answerer(route, model or r.model or None)
        embedder, retriever = self.embedder, self.retriever

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
            min_relevance=self.settings.retrieval.min_relevance,
        )
        return Router(answerers, classifier, fallback=r.fallback)

    def _has_finetuned(self, name: str | None) -> bool:
        """Whether a usable fine-tuned model (``name``, or any) exists in this workspace."""
        from expertly.finetune.registry import list_models

        usable = [m for m in list_models(self.root) if m.usable]
        return bool(usable) and (not name or any(m.name == name for m in usable))

    def finetuned_llm(self, name: str | None = None) -> LLM:
        """The fine-tuned model ``name`` (default: ``router.model``, else the newest), loaded
        with the workspace's device and thread settings."""
        from expertly.errors import ConfigError
        from expertly.finetune.registry import resolve_model

        llm = self.settings.llm
        if llm.backend != "transformers":
            raise ConfigError(
                f"Fine-tuned models run locally (llm.backend = 'transformers'), not with "
                f"{llm.backend!r}. To use one with an endpoint, serve its merged export "
                "(`expertly export RUN --merge`) there and set llm.model."
            )
        name = name or self.settings.router.model or None
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
        return self._finetuned[key]

    @cached_property
    def _finetuned(self) -> dict[str, LLM]:
        return {}

    @cached_property
    def answer_cache(self) -> AnswerCache:
        from expertly.answer.cache import AnswerCache

        return AnswerCache(self.root / self.settings.cache.path)

    def index_fingerprint(self) -> str:
        """Changes whenever a document is added, changed or removed, a setting changes, or
        expertly is upgraded."""
        import dataclasses
        import hashlib
        import json

        digest = hashlib.sha256()
        for doc_id, content_hash in sorted(self.store.hashes().items()):
            digest.update(f"{doc_id}\0{content_hash}\n".encode())
        digest.update(json.dumps(dataclasses.asdict(self.settings), default=str).encode())
        digest.update(_code_version().encode())  # an upgrade may answer differently
        return digest.hexdigest()

    def _cached(self, inner: Answerer, mode: str, model: str | None) -> Answerer:
        from expertly.answer.cache import CachedAnswerer

        live_tools = {"http_get", "python"} & set(self.settings.agent.tools)
        uses_agent = mode == "agent" or (mode == "auto" and "agent" in self.settings.router.routes)
        if (
            not self.settings.cache.answers
            or self.settings.llm.temperature > 0
            or (uses_agent and live_tools)
        ):
            return inner
        tuned = ""
        name = model or self.settings.router.model or None
        if mode in ("finetuned", "hybrid", "auto") and self._has_finetuned(name):
            from expertly.finetune.registry import resolve_model

            # the model actually used, so a newer run (the default) is never answered from
            # answers of the previous one
            tuned = resolve_model(self.root, name).path
        return CachedAnswerer(
            inner,
            self.answer_cache,
            route=mode,
            model=f"{self.settings.llm.backend}:{self.settings.llm.model}:{tuned}",
            fingerprint=self.index_fingerprint,
        )

    def reset_index(self) -> None:
        """Delete the index files (used by ``ingest --reindex``); caches and models are kept."""
        self._close_index()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.index_path}{suffix}").unlink(missing_ok=True)

    def _close_index(self) -> None:
        """Close the store and drop what was built on it (rebuilt on next use)."""
        store = self.__dict__.pop("store", None)
        if store is not None:
            store.close()
        for name in ("ingestor", "retriever"):
            self.__dict__.pop(name, None)

    def close(self) -> None:
        """Close the index and the embedding cache; anything used again is rebuilt."""
        self._close_index()
        answers = self.__dict__.pop("answer_cache", None)
        if answers is not None:
            answers.close()
        cache = getattr(self.__dict__.get("embedder"), "cache", None)
        if cache is not None:
            cache.close()
            self.__dict__.pop("embedder")

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


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def default_config_text() -> str:
    """``expertly.toml`` with every setting commented out at its default, with its help."""
    lines = [
        "# expertly workspace settings. Uncomment a line to change it.",
        "# Environment variables override this file: EXPERTLY_<SECTION>__<FIELD>=value",
        "",
    ]
    section = None
    for key, _typ, default, help_text in describe():
        sec, name = key.split(".", 1)
        if sec != section:
            if section is not None:
                lines.append("")
            lines.append(f"[{sec}]")
            section = sec
        lines.append(f"# {help_text}")
        lines.append(f"# {name} = {_toml_value(default)}")
    return "\n".join(lines) + "\n"
