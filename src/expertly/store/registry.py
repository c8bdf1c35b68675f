"""Builds a Store from settings; backends by name (``store.backend``), imported lazily.

The built-in ``sqlite`` store is registered through the same path as a plugin's; a store
from another package is found through the ``expertly.stores`` entry-point group
(``expertly.plugins``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from expertly.config import StoreSettings
from expertly.errors import ConfigError
from expertly.plugins import STORES, load_entry_point, valid_names
from expertly.store import Store

Factory = Callable[[StoreSettings, Path, int, str], Store]
"""(settings, index path, vector dimension, embedder name) → the store."""


def _sqlite(s: StoreSettings, path: Path, dim: int, embedder: str) -> Store:
    from expertly.store.sqlite import SQLiteStore

    return SQLiteStore(path, dim=dim, embedder=embedder, settings=s)


_BACKENDS: dict[str, Factory] = {"sqlite": _sqlite}


def register_store(name: str, factory: Factory) -> None:
    """Add a store backend (plugins and tests use the same path as the built-in one)."""
    _BACKENDS[name] = factory


def create_store(settings: StoreSettings, *, path: Path, dim: int, embedder: str) -> Store:
    """The store named by ``settings.backend`` at ``path``, for ``dim``-d vectors of
    ``embedder``."""
    factory = _BACKENDS.get(settings.backend)
    if factory is None:
        factory = load_entry_point(STORES, settings.backend)
        if factory is None:
            valid = valid_names(_BACKENDS, STORES)
            raise ConfigError(f"store.backend = {settings.backend!r} is unknown; valid: {valid}")
        register_store(settings.backend, factory)
    return factory(settings, Path(path), dim, embedder)
