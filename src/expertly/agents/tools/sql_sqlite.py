"""The ``sql`` tool's SQLite database: a file opened read-only, each statement in a child
process that is killed at the deadline.

Read-only is enforced by SQLite, never by looking for keywords: the file is opened
``mode=ro`` (the OS-level open is read-only), then ``PRAGMA query_only=ON``; an authorizer
allows only reads (SELECT, column reads, functions, recursive CTEs and a few schema pragmas)
and denies everything else, ATTACH and DETACH included; ``SQLITE_LIMIT_ATTACHED`` is 0.

Each statement runs in ``_sql_child.py`` (standard library only, started with ``python
-I``), which bounds it from inside (value length, page cache, ``printf`` widths, denied
functions, a progress handler at the deadline: clear errors for the common cases) and is
capped at ``MEMORY_MB`` of address space. The deadline is ``agent.sql_timeout_s``, or the
agent's time left if that is shorter; a statement still running ``KILL_GRACE_S`` after it
(a function doing quadratic work inside one call, which no SQLite mechanism interrupts)
is killed with its process. SQLite's own heap limit (``PRAGMA hard_heap_limit``) is not
used: it is one setting for every ``sqlite3`` connection in a process.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from expertly.agents.tools import _sql_child
from expertly.agents.tools.base import ToolError
from expertly.agents.tools.sql import CELL_CHARS, limit_name, quote_identifier
from expertly.errors import ConfigError

MEMORY_MB = 512  # address space of the statement's process
KILL_GRACE_S = 0.25  # after the deadline, before the process is killed


class SqliteDatabase:
    """A SQLite file opened read-only for every call."""

    kind = "SQLite"

    def __init__(self, path: Path, *, timeout_s: float) -> None:
        if not path.is_file():
            raise ConfigError(
                f"agent.sql_url: there is no SQLite file at {path}. Set agent.sql_url to an "
                "existing database file or a postgresql://... URL."
            )
        self.path = path.resolve()
        self.uri = self.path.as_uri() + "?mode=ro"
        self.timeout_s = timeout_s

    def schema(self) -> dict[str, list[tuple[str, str]]]:
        """Every table's and view's columns, read in this process (our own statements)."""
        try:
            conn = _sql_child.connect(self.uri)
        except sqlite3.Error as exc:
            raise ConfigError(
                f"agent.sql_url: cannot open {self.path} as a SQLite database: {exc}"
            ) from exc
        try:
            names = conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
            return {
                name: [
                    (col, typ)
                    for _, col, typ, *_ in conn.execute(
                        f"PRAGMA table_info({quote_identifier(name)})"
                    )
                ]
                for (name,) in names
            }
        except sqlite3.Error as exc:  # e.g. a view over a table that no longer exists
            raise ConfigError(
                f"agent.sql_url: cannot read the tables of {self.path}: {exc}; fix or drop the "
                "object it names, or point agent.sql_url at another database"
            ) from exc
        finally:
            conn.close()

    def query(
        self, sql: str, max_rows: int, *, timeout_s: float | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]], bool]:
        """Run ``sql`` in a child process; stopped after ``agent.sql_timeout_s`` or
        ``timeout_s``, if shorter. Text and blob values come back cut to ``CELL_CHARS + 1``."""
        seconds = self.timeout_s if timeout_s is None else min(self.timeout_s, timeout_s)
        request = {
            "uri": self.uri,
            "sql": sql,
            "max_rows": max_rows,
            "timeout_s": seconds,
            "cell_chars": CELL_CHARS + 1,
            "memory_mb": MEMORY_MB,
        }
        stopped = ToolError(
            f"the query ran longer than {limit_name(self.timeout_s, seconds)} and was "
            "stopped; add a LIMIT or a narrower WHERE"
        )
        with subprocess.Popen(
            [sys.executable, "-I", _sql_child.__file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as child:
            try:
                out, err = child.communicate(json.dumps(request).encode(), seconds + KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
                raise stopped from None
        if child.returncode != 0 or not out:
            # Killed by its CPU or memory limit, or a bug: say so, with the child's last words.
            tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            raise ToolError(
                f"SQLite could not run the query within its limits ({MEMORY_MB} MB, "
                f"{seconds:g} s): {tail[0]}; ask for less data"
            )
        reply = json.loads(out)
        error = reply.get("error")
        if error == "timeout":
            raise stopped
        if error == "too_big":
            raise ToolError(
                f"SQLite refused the query: {reply['message']} (a value may hold at most "
                f"{_sql_child.MAX_VALUE_BYTES:,} bytes); return shorter values, e.g. with substr()"
            )
        if error:
            raise ToolError(f"SQLite refused the query: {reply['message']}")
        rows = [tuple(_value(v) for v in row) for row in reply["rows"]]
        return list(reply["columns"]), rows, bool(reply["more"])


def _value(cell: Any) -> Any:
    """A value from the child's JSON (a blob comes as ``{"blob": hex}``)."""
    return bytes.fromhex(cell["blob"]) if isinstance(cell, dict) else cell
