"""Builds an Embedder from settings; backends by name, imported lazily."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from expertly.config import EmbedderSettings
from expertly.embed import Embedder
from expertly.errors import ConfigError
from expertly.plugins import EMBEDDERS, load_entry_point, valid_names

if TYPE_CHECKING:
    from expertly.embed.remote import OpenAICompatEmbedder

Factory = Callable[[EmbedderSettings], Embedder]


def _local(s: EmbedderSettings, models_dir: Path | None = None) -> Embedder:
    from expertly.embed.local import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        s.model,
        batch_size=s.batch_size,
        query_prefix=s.query_prefix,
        passage_prefix=s.passage_prefix,
        threads=s.threads,
        runtime=s.runtime,
        cache_dir=models_dir,
    )


def _openai(s: EmbedderSettings) -> Embedder:
    from expertly.embed.remote import OpenAICompatEmbedder

    return _served(OpenAICompatEmbedder, s)


def _tei(s: EmbedderSettings) -> Embedder:
    from expertly.embed.remote import TEIEmbedder

    return _served(TEIEmbedder, s)


def _served(cls: type[OpenAICompatEmbedder], s: EmbedderSettings) -> Embedder:
    """A served embedder (``openai`` or ``tei``) as the settings describe it."""
    from expertly.endpoints import RetryPolicy

    if not s.base_url or not s.model:
        raise ConfigError(
            f"embedder.backend = {s.backend!r} needs embedder.base_url and embedder.model "
            "(EXPERTLY_EMBEDDER__BASE_URL, EXPERTLY_EMBEDDER__MODEL)"
        )
    return cls(
        s.model,
        base_url=s.base_url,
        dim=s.dim,
        api_key=os.environ.get(s.api_key_env),
        batch_size=s.batch_size,
        timeout_s=s.timeout_s,
        query_prefix=s.query_prefix,
        passage_prefix=s.passage_prefix,
        encoding_format=s.encoding_format,
        retry=RetryPolicy(s.retries, s.retry_backoff_s, s.retry_max_wait_s),
    )


def _hashing(s: EmbedderSettings) -> Embedder:
    from expertly.embed.hashing import HashingEmbedder

    return HashingEmbedder(s.dim)


_BACKENDS: dict[str, Factory] = {
    "sentence-transformers": _local,
    "openai": _openai,
    "tei": _tei,
    "hashing": _hashing,
}


def register_embedder(name: str, factory: Factory) -> None:
    """Add an embedder backend (plugins and tests use the same path as the built-ins)."""
    _BACKENDS[name] = factory


def create_embedder(
    settings: EmbedderSettings,
    *,
    cache_path: Path | None = None,
    models_dir: Path | None = None,
) -> Embedder:
    """The embedder named by ``settings.backend``, wrapped in the vector cache when enabled.

    ``models_dir`` is where a local model's converted copy is kept (``llm.cache_dir``,
    default ``<workspace>/models``); without it a local model runs on torch only.

    A name no ``register_embedder`` call added is looked up among the ``expertly.embedders``
    entry points of installed packages (``expertly.plugins``)."""
    factory = _BACKENDS.get(settings.backend)
    if factory is None:
        factory = load_entry_point(EMBEDDERS, settings.backend)
        if factory is None:
            valid = valid_names(_BACKENDS, EMBEDDERS)
            raise ConfigError(f"embedder.backend = {settings.backend!r} is unknown; valid: {valid}")
        register_embedder(settings.backend, factory)
    embedder = _local(settings, models_dir) if factory is _local else factory(settings)
    if settings.cache and cache_path is not None:
        from expertly.embed.cache import CachedEmbedder, EmbeddingCache

        return CachedEmbedder(embedder, EmbeddingCache(cache_path))
    return embedder
