"""The one composition root: builds store, embedder, LLM and answerers from Settings.

Everything is built lazily on first use, so ``expertly status`` never loads a model and
``expertly search`` never loads the language model. A workspace is a directory
(default ``./.expertly``) holding ``expertly.toml``, the index, the embedding cache and
converted models.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.config import CONFIG_FILE, Settings, describe, resolve_workspace

if TYPE_CHECKING:
    from expertly.answer.rag import RagAnswerer
    from expertly.embed import Embedder
    from expertly.generate import LLM
    from expertly.ingest.chunking import Chunker
    from expertly.ingest.pipeline import Ingestor
    from expertly.retrieve import Retriever
    from expertly.store.sqlite import SQLiteStore


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

        return SQLiteStore(self.index_path, dim=self.embedder.dim, embedder=self.embedder.name)

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

        return Retriever(self.store, self.embedder, self.settings.retrieval)

    def answerer(self, mode: str = "rag") -> RagAnswerer:
        """The answerer for ``mode``. Only ``rag`` exists so far."""
        from expertly.answer.rag import RagAnswerer
        from expertly.errors import ConfigError

        if mode != "rag":
            raise ConfigError(f"Unknown answer mode {mode!r}; valid: rag")
        return RagAnswerer(
            self.retriever,
            self.llm,
            retrieval=self.settings.retrieval,
            settings=self.settings.answer,
            max_new_tokens=self.settings.llm.max_new_tokens,
            temperature=self.settings.llm.temperature,
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
        cache = getattr(self.__dict__.get("embedder"), "cache", None)
        if cache is not None:
            cache.close()
            self.__dict__.pop("embedder")

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
