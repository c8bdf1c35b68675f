"""Builds a store from settings; backends are looked up by name and imported lazily.

``store.backend`` names the backend. The built-in ``sqlite`` and ``postgres`` are
registered through the same ``register_store`` a plugin (or a test) uses. A backend's
factory receives the ``StoreSettings`` and a ``StoreTarget`` (where the workspace is, which
embedder the index must match) and returns a ``StoreBackend``; a backend that needs an
optional package calls ``require`` first, so that its absence names the extra to install::

    def _postgres(settings: StoreSettings, target: StoreTarget) -> StoreBackend:
        require("psycopg", extra="postgres", purpose="store.backend = 'postgres'")
        from expertly.store.postgres import PostgresStore
        ...

    register_store("postgres", _postgres)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from expertly.config import StoreSettings
from expertly.errors import ConfigError, MissingDependencyError
from expertly.plugins import STORES, load_entry_point, valid_names
from expertly.store import StoreBackend

__all__ = [
    "StoreFactory",
    "StoreTarget",
    "create_store",
    "register_store",
    "require",
    "store_names",
]


@dataclass(frozen=True)
class StoreTarget:
    """What the Workspace asks of a store besides its settings.

    Args:
        root: the workspace directory; a file-based backend resolves ``store.path`` in it.
        dim: vector size of the embedder; an existing index must have the same.
        embedder: name of the embedding model; an existing index must have been built
            with it (mixing models is silent garbage, so backends refuse a mismatch).
        read_only: open for searching only (a search server beside an ingest).
    """

    root: Path
    dim: int
    embedder: str
    read_only: bool = False


StoreFactory = Callable[[StoreSettings, StoreTarget], StoreBackend]


def require(package: str, *, extra: str, purpose: str) -> None:
    """Raise ``MissingDependencyError`` naming ``pip install 'expertly[extra]'`` when
    ``package`` is not installed; a backend's factory calls it before importing it."""
    if importlib.util.find_spec(package) is None:
        raise MissingDependencyError(package, extra=extra, purpose=purpose)


def _sqlite(settings: StoreSettings, target: StoreTarget) -> StoreBackend:
    from expertly.store.sqlite import SQLiteStore

    return SQLiteStore(
        target.root / settings.path,
        dim=target.dim,
        embedder=target.embedder,
        read_only=target.read_only,
        settings=settings,
    )


def _postgres(settings: StoreSettings, target: StoreTarget) -> StoreBackend:
    require("psycopg", extra="postgres", purpose="store.backend = 'postgres'")
    require("pgvector", extra="postgres", purpose="store.backend = 'postgres'")
    from expertly.store.postgres import PostgresStore

    if not settings.url.strip():
        raise ConfigError(
            "store.backend = 'postgres' needs store.url: set it to "
            "postgresql://user:password@host:5432/dbname (in expertly.toml or as "
            "EXPERTLY_STORE__URL)"
        )
    return PostgresStore(
        settings.url.strip(),
        dim=target.dim,
        embedder=target.embedder,
        read_only=target.read_only,
        settings=settings,
    )


_BACKENDS: dict[str, StoreFactory] = {"sqlite": _sqlite, "postgres": _postgres}


def register_store(name: str, factory: StoreFactory) -> None:
    """Make a backend selectable as ``store.backend = name`` (plugins and tests use the same
    path as the built-ins; a later registration replaces an earlier one)."""
    _BACKENDS[name] = factory


def store_names() -> list[str]:
    """Every registered backend name."""
    return list(_BACKENDS)


def create_store(
    settings: StoreSettings,
    *,
    root: Path | str,
    dim: int,
    embedder: str,
    read_only: bool = False,
) -> StoreBackend:
    """The store named by ``settings.backend``, opened for an embedder of ``dim`` and
    ``embedder``; ``root`` is the workspace directory.

    A name no ``register_store`` call added is looked up among the ``expertly.stores`` entry
    points of installed packages (``expertly.plugins``)."""
    factory = _BACKENDS.get(settings.backend)
    if factory is None:
        factory = load_entry_point(STORES, settings.backend)
        if factory is None:
            valid = valid_names(_BACKENDS, STORES)
            raise ConfigError(f"store.backend = {settings.backend!r} is unknown; valid: {valid}")
        register_store(settings.backend, factory)
    store = factory(settings, StoreTarget(Path(root), int(dim), embedder, read_only))
    if not isinstance(store, StoreBackend):  # a plugin's bug, caught before any use
        raise TypeError(
            f"store.backend = {settings.backend!r} built a {type(store).__name__}, which is "
            "not an expertly.store.StoreBackend; a backend needs every one of: "
            f"{', '.join(_backend_methods())}"
        )
    return store


def _backend_methods() -> list[str]:
    """The methods ``StoreBackend`` asks for, in declaration order of its protocols."""
    names: list[str] = []
    for protocol in reversed(StoreBackend.__mro__):
        for name, value in vars(protocol).items():
            if callable(value) and not name.startswith("_") and name not in names:
                names.append(name)
    return names
