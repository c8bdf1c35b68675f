"""Switching a new SQLite file to WAL while another handle holds its lock (databases.py):
what two workers of ``expertly serve --workers 2`` do when they start together."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import apsw
import pytest

from expertly.answer.cache import AnswerCache
from expertly.databases import switch_to_wal
from expertly.server.state import STATE_FILE, SharedState


def _held(path: Path, seconds: float, library: str = "sqlite3") -> threading.Thread:
    """A thread holding ``path``'s exclusive lock for ``seconds`` (taken before it returns),
    through ``library``: POSIX locks do not separate the handles of one process, so only
    a handle of the same SQLite library sees the other's lock (apsw bundles its own)."""
    taken = threading.Event()

    def hold() -> None:
        if library == "apsw":
            other: sqlite3.Connection | apsw.Connection = apsw.Connection(str(path))
        else:
            other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        taken.set()
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert taken.wait(5)
    return thread


@pytest.mark.parametrize("library", ["sqlite3", "apsw"])
def test_the_switch_waits_for_the_lock_instead_of_failing(tmp_path: Path, library: str) -> None:
    path = tmp_path / "new.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    conn = (
        sqlite3.connect(path, timeout=0.1) if library == "sqlite3" else apsw.Connection(str(path))
    )
    holder = _held(path, 0.3, library)
    with pytest.raises((sqlite3.OperationalError, apsw.BusyError), match="locked"):
        conn.execute("PRAGMA journal_mode=WAL")  # what failed a worker: no waiting at all
    switch_to_wal(conn, timeout_s=5)
    holder.join()
    assert [str(m).lower() for (m,) in conn.execute("PRAGMA journal_mode").fetchall()] == ["wal"]


def test_the_switch_gives_up_after_its_timeout(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    conn = sqlite3.connect(path, timeout=0.05)
    holder = _held(path, 1.0)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        switch_to_wal(conn, timeout_s=0.2)
    assert 0.2 <= time.monotonic() - started < 0.9
    holder.join()


def test_caches_and_server_state_open_while_another_process_holds_the_file(
    tmp_path: Path,
) -> None:
    for path, open_it in (
        (tmp_path / "answers.sqlite", lambda p: AnswerCache(p)),
        (tmp_path / STATE_FILE, lambda p: SharedState(p.parent)),
    ):
        sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
        holder = _held(path, 0.3)
        opened = open_it(path)
        holder.join()
        assert opened is not None
