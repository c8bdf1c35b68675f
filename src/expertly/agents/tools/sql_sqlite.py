"""The ``sql`` tool's SQLite database: a file opened read-only, every statement bounded.

Read-only is enforced by SQLite, never by looking for keywords: the file is opened
``mode=ro`` (the OS-level open is read-only), then ``PRAGMA query_only=ON``; an authorizer
allows only reads (SELECT, column reads, functions, recursive CTEs and a few schema pragmas)
and denies everything else, ATTACH and DETACH included; ``SQLITE_LIMIT_ATTACHED`` is 0.

A progress handler stops a statement at the deadline (``agent.sql_timeout_s``, or the
agent's time left if that is shorter). Memory and time per value are bounded too, since the
progress handler cannot stop one function call: no string or blob may exceed
``MAX_VALUE_BYTES`` (``SQLITE_LIMIT_LENGTH``: ``randomblob(1e9)``, ``zeroblob``,
``replace``/``group_concat``/recursive growth fail at once), the page cache and the
statement, LIKE pattern, expression depth and compound sizes are capped, ``printf``/``format``
refuse widths and precisions over ``MAX_PRINTF_WIDTH`` (``printf('%.*c', 1e9, 'x')`` loops
for seconds inside SQLite otherwise), and functions that serve no query (``fts3_tokenizer``
returns a raw memory address) are denied. SQLite's heap limit (``PRAGMA hard_heap_limit``)
is not used: it is one setting for every ``sqlite3`` connection in the process, not this one.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from expertly.agents.tools.base import ToolError
from expertly.agents.tools.sql import limit_name, quote_identifier
from expertly.errors import ConfigError

# SQLite's C values, fixed by SQLite: Python's sqlite3 names them from 3.11 on only.
_SQLITE_RECURSIVE = 33
_LIMIT_LENGTH, _LIMIT_SQL_LENGTH, _LIMIT_EXPR_DEPTH, _LIMIT_COMPOUND_SELECT = 0, 1, 3, 4
_LIMIT_FUNCTION_ARG, _LIMIT_ATTACHED, _LIMIT_LIKE_PATTERN_LENGTH = 6, 7, 8
# What the SQLite authorizer lets through; every other action (writes, DDL, ATTACH, DETACH,
# transactions, other pragmas) is denied and SQLite reports "not authorized".
_SQLITE_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    _SQLITE_RECURSIVE,
}
_SQLITE_READ_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info"}
# Functions no question needs: raw pointers (fts3_tokenizer, fts5) and extension loading.
_SQLITE_DENIED_FUNCTIONS = {"fts3_tokenizer", "fts5", "load_extension"}

MAX_VALUE_BYTES = 10_000_000  # longest string or blob a statement may build or read
MAX_SQL_CHARS = 100_000
MAX_PRINTF_WIDTH = 10_000
CACHE_KIB = 16_384  # page cache per connection; sorts and recursive queues spill to a file
_SQLITE_LIMITS = {
    _LIMIT_ATTACHED: 0,
    _LIMIT_LENGTH: MAX_VALUE_BYTES,
    _LIMIT_SQL_LENGTH: MAX_SQL_CHARS,
    _LIMIT_LIKE_PATTERN_LENGTH: 1_000,
    _LIMIT_EXPR_DEPTH: 200,
    _LIMIT_COMPOUND_SELECT: 100,
    _LIMIT_FUNCTION_ARG: 100,
}
# A printf conversion: flags, width (digits or *), precision (. digits or *), size, type.
_PRINTF_SPEC = re.compile(r"%([-+ 0#,!]*)(\*|\d+)?(?:\.(\*|\d*))?(?:ll|l)?(.)", re.DOTALL)


class SqliteDatabase:
    """A SQLite file opened read-only for every call."""

    kind = "SQLite"

    def __init__(self, path: Path, *, timeout_s: float) -> None:
        if not path.is_file():
            raise ConfigError(
                f"agent.sql_url: there is no SQLite file at {path}. Set agent.sql_url to an "
                "existing database file or a postgresql://... URL."
            )
        if sys.version_info < (3, 11):
            raise ConfigError(
                "the sql tool on SQLite needs Python 3.11 or later (it bounds each query with "
                "sqlite3's setlimit); upgrade Python or use a postgresql://... agent.sql_url"
            )
        self.path = path.resolve()
        self.timeout_s = timeout_s

    def connect(self, refusals: list[str] | None = None) -> sqlite3.Connection:
        """A read-only, bounded connection; ``printf`` refusals are appended to ``refusals``."""
        uri = self.path.as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            conn.execute("PRAGMA temp_store=FILE")
            conn.execute("PRAGMA mmap_size=0")
            for limit, value in _SQLITE_LIMITS.items():
                conn.setlimit(limit, value)
            # Load the schema now, while reading sqlite_master is still unrestricted.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise ConfigError(
                f"agent.sql_url: cannot open {self.path} as a SQLite database: {exc}"
            ) from exc
        printf = _BoundedPrintf(refusals if refusals is not None else [])
        for name in ("printf", "format"):
            conn.create_function(name, -1, printf, deterministic=True)
        conn.set_authorizer(_authorize)
        return conn

    def schema(self) -> dict[str, list[tuple[str, str]]]:
        conn = self.connect()
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
        finally:
            conn.close()

    def query(
        self, sql: str, max_rows: int, *, timeout_s: float | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]], bool]:
        """Run ``sql``; stopped after ``agent.sql_timeout_s`` or ``timeout_s``, if shorter."""
        refusals: list[str] = []
        conn = self.connect(refusals)
        seconds = self.timeout_s if timeout_s is None else min(self.timeout_s, timeout_s)
        deadline = time.monotonic() + seconds
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        try:
            cursor = conn.execute(sql)
            rows = cursor.fetchmany(max_rows + 1)
            columns = [d[0] for d in cursor.description or ()]
        except sqlite3.Error as exc:
            if time.monotonic() > deadline and "interrupt" in str(exc):
                raise ToolError(
                    f"the query ran longer than {limit_name(self.timeout_s, seconds)} and was "
                    "stopped; add a LIMIT or a narrower WHERE"
                ) from None
            if refusals:
                raise ToolError(f"SQLite refused the query: {refusals[0]}") from None
            if "too big" in str(exc):
                raise ToolError(
                    f"SQLite refused the query: {exc} (a value may hold at most "
                    f"{MAX_VALUE_BYTES:,} bytes); return shorter values, e.g. with substr()"
                ) from None
            raise ToolError(f"SQLite refused the query: {exc}") from None
        except (sqlite3.Warning, ValueError) as exc:  # several statements; NUL, surrogates
            raise ToolError(f"SQLite refused the query: {exc}") from None
        finally:
            conn.close()
        return columns, rows[:max_rows], len(rows) > max_rows


class _BoundedPrintf:
    """SQLite's own ``printf``/``format``, refusing widths and precisions over
    ``MAX_PRINTF_WIDTH`` first: ``%.*c`` with a precision of 1e9 loops inside one function
    call, which neither the progress handler nor the length limit can stop in time.
    The checked call runs the built-in function on a private in-memory connection."""

    def __init__(self, refusals: list[str]) -> None:
        self.refusals = refusals
        self.builtin: sqlite3.Connection | None = None

    def __call__(self, *args: Any) -> Any:
        if not args or args[0] is None:
            return None
        fmt = args[0]
        text = fmt.decode("utf-8", "replace") if isinstance(fmt, bytes) else str(fmt)
        used = 1
        for match in _PRINTF_SPEC.finditer(text):
            if match.group(4) == "%":
                continue
            for size in (match.group(2), match.group(3)):
                if size == "*":
                    value, used = _as_int(args[used] if used < len(args) else 0), used + 1
                else:
                    value = int(size) if size else 0
                if abs(value) > MAX_PRINTF_WIDTH:
                    self.refusals.append(
                        f"printf/format width or precision {value:,} is over the limit of "
                        f"{MAX_PRINTF_WIDTH:,}; use a smaller one"
                    )
                    raise ValueError(self.refusals[-1])
            used += 1
        if self.builtin is None:
            self.builtin = sqlite3.connect(":memory:", check_same_thread=False)
            self.builtin.setlimit(_LIMIT_LENGTH, MAX_VALUE_BYTES)
        marks = ", ".join("?" * len(args))
        return self.builtin.execute(f"SELECT printf({marks})", args).fetchone()[0]


def _as_int(value: Any) -> int:
    """The integer SQLite would read from a ``*`` argument (text and reals included)."""
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action in _SQLITE_ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in _SQLITE_READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY
