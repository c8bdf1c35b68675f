"""What every worker process of one server shares: one small SQLite file in the workspace,
``server.sqlite``, beside the index (not inside it: the index may be PostgreSQL).

Tables::

    jobs     one row per ingest job (uploads, re-indexing): its status and results, so
             that whichever worker answers ``GET /v1/jobs/{id}`` finds it, also after a
             restart
    buckets  one token bucket per API key, used when several workers serve one port so
             that a key's rate limit is one limit, not one per worker

WAL journaling lets readers run beside the one writer; every write is a short
transaction, and a busy timeout makes a worker wait for another's commit, not fail.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from expertly.databases import switch_to_wal

STATE_FILE = "server.sqlite"
BUSY_TIMEOUT_S = 10.0
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,              -- upload | reindex
        owner TEXT NOT NULL,             -- the key id (or "anonymous") that started it
        tenant TEXT,
        items TEXT NOT NULL,             -- JSON list: file names or document ids
        status TEXT NOT NULL,            -- queued | running | done | failed
        created REAL NOT NULL,
        finished REAL,
        results TEXT NOT NULL,           -- JSON list of per-item results
        error TEXT NOT NULL,
        pid INTEGER NOT NULL             -- the worker process that runs it
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created)",
    """CREATE TABLE IF NOT EXISTS buckets (
        who TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        last REAL NOT NULL               -- Unix time of the last refill
    ) WITHOUT ROWID""",
)


class SharedState:
    """A connection to ``<workspace>/server.sqlite`` that threads of one process share."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / STATE_FILE
        self._conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        with self._lock:
            switch_to_wal(self._conn, BUSY_TIMEOUT_S)
            # A lost last commit (power cut) loses a job status or a token, nothing more.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                self._conn.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``: taken at once, other workers wait),
        committed at the end or rolled back on an exception."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for one read statement (each sees the last commit of any worker)."""
        with self._lock:
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()
