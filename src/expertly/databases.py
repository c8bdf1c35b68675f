"""The SQLite files several processes open together, and switching a new one to WAL.

The workers of ``expertly serve --workers N``, a CLI command beside a running server, or
two ingests open the same SQLite files at once: the index, the embedding and answer caches,
the server's state. Each file is switched to write-ahead logging when opened, and SQLite
reports that switch's lock conflict as "database is locked" at once, without waiting in
the busy handler, so two handles opening a new file together could fail: one worker of
two then never loaded its models and answered ``/readyz`` with 503 for good.
``switch_to_wal`` retries the switch until the lock is free or the timeout has passed.
"""

from __future__ import annotations

import sqlite3
import time

import apsw


def switch_to_wal(conn: sqlite3.Connection | apsw.Connection, timeout_s: float) -> None:
    """``PRAGMA journal_mode=WAL`` on ``conn`` (the standard library's or apsw's), retried
    every 10 ms while another handle holds the file's lock, for up to ``timeout_s``; then
    the lock error is raised."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except (apsw.BusyError, sqlite3.OperationalError) as exc:
            if not _locked(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _locked(exc: Exception) -> bool:
    """Whether ``exc`` is another handle's lock (not a missing file or a bad statement)."""
    return isinstance(exc, apsw.BusyError) or "locked" in str(exc)
