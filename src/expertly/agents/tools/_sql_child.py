"""The child process that runs one statement of the ``sql`` tool on a SQLite file.

Run as ``python -I _sql_child.py`` by ``sql_sqlite.SqliteDatabase.query``; it reads one
JSON request on stdin and writes one JSON reply on stdout. It imports only the standard
library, so it starts in milliseconds and nothing of expertly is reachable from it.

Why a process: some SQLite functions do quadratic work inside one call (``instr``,
``replace`` and ``ltrim`` over megabyte values take minutes), where neither the progress
handler nor ``sqlite3_interrupt`` can stop them. The parent kills this process at the
deadline instead, and its address space is capped (``RLIMIT_AS``), so no statement can hold
the expertly process's CPU or memory. Within the process the statement is bounded as well,
so that the common cases end with a clear error rather than a kill: the file is opened
read-only (``mode=ro``, ``query_only``), an authorizer allows only reads, no string or blob
may exceed ``MAX_VALUE_BYTES`` (``SQLITE_LIMIT_LENGTH``), the page cache is capped (sorts
and recursive queues spill to a file), ``printf``/``format`` refuse widths over
``MAX_PRINTF_WIDTH``, functions that serve no query (``fts3_tokenizer`` returns a raw memory
address) are denied, a progress handler stops a statement at its deadline, and every cell
is cut before it is sent back. The module is also imported by the parent, for ``connect``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from typing import Any

# SQLite's C values, fixed by SQLite: Python's sqlite3 names them from 3.11 on only.
_SQLITE_RECURSIVE = 33
_LIMIT_LENGTH, _LIMIT_SQL_LENGTH, _LIMIT_ATTACHED, _LIMIT_LIKE_PATTERN_LENGTH = 0, 1, 7, 8
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
}  # expression depth, compound selects and columns keep SQLite's defaults: views need them
# A printf conversion: flags, width (digits or *), precision (. digits or *), size, type.
_PRINTF_SPEC = re.compile(r"%([-+ 0#,!]*)(\*|\d+)?(?:\.(\*|\d*))?(?:ll|l)?(.)", re.DOTALL)


def connect(uri: str, refusals: list[str] | None = None) -> sqlite3.Connection:
    """A read-only, bounded connection to ``uri`` (a ``file:...?mode=ro`` URI); ``printf``
    refusals are appended to ``refusals``. Raises ``sqlite3.Error`` if it cannot be opened."""
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        conn.execute("PRAGMA temp_store=FILE")
        conn.execute("PRAGMA mmap_size=0")
        # Load the schema now, while reading sqlite_master is still unrestricted and before
        # the limits, which the file's own table and view definitions need not keep to.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        for limit, value in _SQLITE_LIMITS.items():
            conn.setlimit(limit, value)
    except sqlite3.Error:
        conn.close()
        raise
    printf = _BoundedPrintf(refusals if refusals is not None else [])
    for name in ("printf", "format"):
        conn.create_function(name, -1, printf, deterministic=True)
    conn.set_authorizer(_authorize)
    return conn


def run(request: dict[str, Any]) -> dict[str, Any]:
    """One statement: ``{"columns", "rows", "more"}``, or ``{"error": kind, "message"}``
    with kind "timeout", "too_big" or "refused"."""
    refusals: list[str] = []
    try:
        conn = connect(request["uri"], refusals)
    except sqlite3.Error as exc:
        return {"error": "refused", "message": f"cannot open the database: {exc}"}
    deadline = time.monotonic() + float(request["timeout_s"])
    conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    cell_chars, max_rows = int(request["cell_chars"]), int(request["max_rows"])
    try:
        cursor = conn.execute(request["sql"])
        rows = cursor.fetchmany(max_rows + 1)
        columns = [d[0] for d in cursor.description or ()]
    except sqlite3.Error as exc:
        if time.monotonic() > deadline and "interrupt" in str(exc):
            return {"error": "timeout", "message": str(exc)}
        if refusals:
            return {"error": "refused", "message": refusals[0]}
        kind = "too_big" if "too big" in str(exc) else "refused"
        return {"error": kind, "message": str(exc)}
    except (sqlite3.Warning, ValueError) as exc:  # several statements; NUL, surrogates
        return {"error": "refused", "message": str(exc)}
    finally:
        conn.close()
    return {
        "columns": columns,
        "rows": [[_cell(v, cell_chars) for v in row] for row in rows[:max_rows]],
        "more": len(rows) > max_rows,
    }


def _cell(value: Any, chars: int) -> Any:
    """A value as JSON, text and blobs cut to ``chars`` (a blob as ``{"blob": hex}``)."""
    if isinstance(value, bytes):
        return {"blob": value[:chars].hex()}
    if isinstance(value, str):
        return value[:chars]
    return value


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


def _limit_memory(megabytes: int, seconds: float) -> None:
    """Cap this process's address space and CPU time (where the OS has ``resource``)."""
    try:
        import resource
    except ImportError:  # Windows: the parent's kill at the deadline still applies
        return
    size = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
    cpu = int(seconds) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))


def main() -> None:
    request = json.loads(sys.stdin.read())
    _limit_memory(int(request["memory_mb"]), float(request["timeout_s"]))
    try:
        reply = run(request)
    except MemoryError:
        reply = {"error": "memory", "message": "out of memory"}
    sys.stdout.write(json.dumps(reply))


if __name__ == "__main__":
    main()
