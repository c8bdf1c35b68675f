"""One SQLite transaction of a store handle, as a context manager.

``with Transaction(...) as conn``: take the handle's lock, BEGIN, COMMIT on success,
ROLLBACK on error. SQLite errors become ``StoreError`` (a write lock held by another
process for longer than the busy timeout, a full disk, a damaged file); everything else
propagates as is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import apsw

from expertly.errors import StoreError
from expertly.store.sqlite.schema import BUSY_TIMEOUT_MS


class Transaction:
    """A BEGIN ... COMMIT/ROLLBACK block on the connection that ``connection()`` returns.

    Args:
        lock: the handle's lock, held for the whole transaction.
        connection: returns the open connection or raises ``StoreError`` if closed.
        path: the index file, for error messages.
        begin: ``BEGIN IMMEDIATE`` (writes) or ``BEGIN DEFERRED`` (reads).
        on_commit: called after a successful COMMIT (e.g. to mark caches stale).
    """

    def __init__(
        self,
        lock: threading.RLock,
        connection: Callable[[], apsw.Connection],
        path: Path,
        begin: str,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._lock = lock
        self._connection = connection
        self._path = path
        self._begin = begin
        self._on_commit = on_commit

    def __enter__(self) -> apsw.Connection:
        self._lock.acquire()
        try:
            conn = self._connection()
            conn.execute(self._begin)
        except apsw.Error as exc:
            self._lock.release()
            raise self._store_error(exc) from exc
        except BaseException:
            self._lock.release()
            raise
        self._conn = conn
        return conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        try:
            if exc is None:
                try:
                    self._conn.execute("COMMIT")
                except apsw.Error as commit_error:
                    self._rollback()
                    raise self._store_error(commit_error) from commit_error
                if self._on_commit is not None:
                    self._on_commit()
                return
            self._rollback()
            if isinstance(exc, apsw.Error):
                raise self._store_error(exc) from exc
        finally:
            self._lock.release()

    def _rollback(self) -> None:
        if not self._conn.get_autocommit():
            self._conn.execute("ROLLBACK")

    def _store_error(self, exc: apsw.Error) -> StoreError:
        if isinstance(exc, apsw.BusyError):
            return StoreError(
                f"The index {self._path} stayed locked by another process for more than "
                f"{BUSY_TIMEOUT_MS // 1000} s (is an ingest running?). Try again later."
            )
        return StoreError(f"The index {self._path} failed: {type(exc).__name__}: {exc}")
