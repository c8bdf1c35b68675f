"""The one PostgreSQL connection of a store handle, shared by the handle's threads.

A ``PostgresStore`` talks to the server through one psycopg connection behind a lock
(``HandleConnection``): ``transaction`` runs one transaction under that lock and turns
psycopg's errors into ``StoreError`` naming the index (the password hidden); a connection
that a server restart broke is opened again on the next call; after ``close`` every call
raises ``StoreError``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from expertly.errors import StoreError
from expertly.store.postgres.schema import connect, redact


def register_vector(conn: Any) -> None:
    """numpy arrays ↔ pgvector's ``vector`` on ``conn`` (the pgvector package's adapter)."""
    from pgvector.psycopg import register_vector

    register_vector(conn)


class HandleConnection:
    """The connection to ``url`` with ``schema`` on its search path, opened on demand.

    Args:
        url: the database (``postgresql://...`` or a libpq ``key=value`` string).
        schema: the index's schema (checked by the caller).
    """

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema
        self.lock = threading.RLock()
        """Serialises the handle's use of the connection; ``transaction`` holds it."""
        self._closed = False
        self._conn: Any = None

    def where(self) -> str:
        """The index, for messages: server (password hidden) and schema."""
        return f"the PostgreSQL index at {redact(self.url)} (schema {self.schema})"

    def get(self, *, register: bool = True) -> Any:
        """The open connection, opened again if a server restart broke it. ``register``:
        teach it pgvector's type (which exists once the schema does)."""
        if self._closed:
            raise StoreError(f"The handle on {self.where()} is closed.")
        if self._conn is None or self._conn.broken or self._conn.closed:
            self._conn = connect(self.url, self.schema)
            if register:
                register_vector(self._conn)
        return self._conn

    @contextmanager
    def transaction(self, mode: str) -> Iterator[Any]:
        """One transaction under the handle's lock; psycopg errors become ``StoreError``
        (a chunk id clash is the caller's ``ValueError`` and passes through)."""
        import psycopg

        with self.lock:
            try:
                conn = self.get()
                with conn.transaction():
                    if mode != "READ WRITE":
                        conn.execute(f"SET TRANSACTION ISOLATION LEVEL {mode}")
                    yield conn
            except psycopg.Error as exc:
                raise StoreError(f"{self.where()} failed: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Close the connection (idempotent); every later call raises ``StoreError``."""
        with self.lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
