"""``sql``: read-only questions over a SQLite file or a PostgreSQL database the user points to.

Read-only is enforced by the database, never by looking for keywords in the statement
(``SELECT 'DROP TABLE t'`` is an ordinary query):

* **SQLite** — the file is opened ``mode=ro`` (the OS-level open is read-only), then
  ``PRAGMA query_only=ON``; an authorizer allows only reads (SELECT, column reads, functions,
  recursive CTEs and a few schema pragmas) and denies everything else, ATTACH and DETACH
  included; ``SQLITE_LIMIT_ATTACHED`` is 0. A progress handler stops a statement at the
  deadline (``agent.sql_timeout_s``, or the agent's time left if that is shorter).
  Memory and time per value are bounded too, since the progress handler cannot stop one
  function call: no string or blob may exceed ``MAX_VALUE_BYTES`` (``SQLITE_LIMIT_LENGTH``:
  ``randomblob(1e9)``, ``zeroblob``, ``replace``/``group_concat``/recursive growth fail at
  once), the page cache and the statement, LIKE pattern, expression depth and compound
  sizes are capped, ``printf``/``format`` refuse widths and precisions over
  ``MAX_PRINTF_WIDTH`` (``printf('%.*c', 1e9, 'x')`` loops for seconds inside SQLite
  otherwise), and functions that serve no query (``fts3_tokenizer`` returns a raw memory
  address) are denied. SQLite's heap limit (``PRAGMA hard_heap_limit``) is not used: it is
  one setting for every ``sqlite3`` connection in the process, not this one.
* **PostgreSQL** (psycopg, the ``[postgres]`` extra) — the session starts with
  ``default_transaction_read_only=on`` and ``statement_timeout``, each statement runs in a
  transaction opened with ``SET TRANSACTION READ ONLY`` and rolled back, as one prepared
  statement (several statements in one call are refused by the server), on a connection
  used for that call only. A superuser connection is refused: superusers can reach the
  server's files and programs even in a read-only transaction. Point ``agent.sql_url`` at a
  role that has only SELECT rights. A statement that returns rows runs as a subquery that
  cuts every value to ``CELL_CHARS`` (as text) and stops at ``agent.sql_max_rows``, so
  neither a huge value nor millions of rows reach the expertly process.

Every call opens a fresh connection, so no statement can change what a later one sees.
At most ``agent.sql_max_rows`` rows are returned, as a compact text table.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from expertly.agents.tools.base import ToolError, ToolResult
from expertly.errors import ConfigError, MissingDependencyError

CELL_CHARS = 200
SCHEMA_CHARS = 3000

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
# A statement that can be a subquery: SELECT, WITH, VALUES, TABLE, or one in parentheses.
_ROWS_QUERY = re.compile(
    r"^(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/)*(?:\(|(?:select|with|values|table)\b)", re.I | re.S
)
# A printf conversion: flags, width (digits or *), precision (. digits or *), size, type.
_PRINTF_SPEC = re.compile(r"%([-+ 0#,!]*)(\*|\d+)?(?:\.(\*|\d*))?(?:ll|l)?(.)", re.DOTALL)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], more: bool) -> str:
    """Rows as ``a | b`` lines under a header, cells cut at ``CELL_CHARS``, NULL for None."""

    def cell(value: Any) -> str:
        text = "NULL" if value is None else str(value)
        text = " ".join(text.split()) if "\n" in text or "\r" in text else text
        return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"

    lines = [" | ".join(columns)] if columns else []
    lines += [" | ".join(cell(v) for v in row) for row in rows]
    n = len(rows)
    if more:
        lines.append(f"(more rows cut: showing the first {n})")
    else:
        lines.append(f"({n} row{'s' if n != 1 else ''})")
    return "\n".join(lines)


def format_schema(tables: dict[str, list[tuple[str, str]]]) -> str:
    """``table(column type, ...)`` lines, cut at ``SCHEMA_CHARS``."""
    lines = [
        f"{name}({', '.join(f'{c} {t}'.strip() for c, t in cols)})" for name, cols in tables.items()
    ]
    text = "\n".join(lines) or "(no tables)"
    return text if len(text) <= SCHEMA_CHARS else text[:SCHEMA_CHARS] + "\n(... schema cut)"


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
                    for _, col, typ, *_ in conn.execute(f"PRAGMA table_info({_quote(name)})")
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
                    f"the query ran longer than {_limit_name(self.timeout_s, seconds)} and was "
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


def _limit_name(sql_timeout_s: float, seconds: float) -> str:
    """Which limit stopped a query: the tool's own, or the agent's time left."""
    if seconds >= sql_timeout_s:
        return f"agent.sql_timeout_s ({sql_timeout_s:g} s)"
    return f"the agent's time left ({seconds:.1f} s of agent.timeout_s)"


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


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresDatabase:
    """A PostgreSQL database, one read-only transaction per call, rolled back."""

    kind = "PostgreSQL"

    def __init__(self, url: str, *, timeout_s: float) -> None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise MissingDependencyError(
                "psycopg", "postgres", "the sql tool on PostgreSQL"
            ) from None
        self.url = url
        self.timeout_s = timeout_s

    def connect(self) -> Any:
        import psycopg

        timeout_ms = max(1, int(self.timeout_s * 1000))
        options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
        try:
            conn = psycopg.connect(
                self.url, options=options, connect_timeout=max(2, int(self.timeout_s))
            )
        except psycopg.Error as exc:
            raise ConfigError(f"agent.sql_url: cannot connect to PostgreSQL: {exc}") from exc
        try:
            row = conn.execute(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            conn.rollback()
        except psycopg.Error:
            conn.close()
            raise
        if row and row[0]:
            conn.close()
            raise ConfigError(
                "agent.sql_url connects as a PostgreSQL superuser, which can reach the "
                "server's files and programs even in a read-only transaction. Create a role "
                "with SELECT rights only (CREATE ROLE reader LOGIN; GRANT SELECT ON ALL TABLES "
                "IN SCHEMA public TO reader) and put it in agent.sql_url."
            )
        return conn

    def schema(self) -> dict[str, list[tuple[str, str]]]:
        conn = self.connect()
        try:
            rows = conn.execute(
                "SELECT table_schema, table_name, column_name, data_type "
                "FROM information_schema.columns "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                "ORDER BY table_schema, table_name, ordinal_position"
            ).fetchall()
        finally:
            conn.close()
        tables: dict[str, list[tuple[str, str]]] = {}
        for schema, table, column, typ in rows:
            name = table if schema == "public" else f"{schema}.{table}"
            tables.setdefault(name, []).append((column, typ))
        return tables

    def query(
        self, sql: str, max_rows: int, *, timeout_s: float | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]], bool]:
        """Run ``sql``; cancelled by the server after ``agent.sql_timeout_s`` or
        ``timeout_s``, if shorter."""
        import psycopg

        conn = self.connect()
        seconds = self.timeout_s if timeout_s is None else min(self.timeout_s, timeout_s)
        try:
            names = _columns(conn, sql)  # before the transaction opens: a failure is harmless
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                if seconds < self.timeout_s:
                    ms = max(1, int(seconds * 1000))
                    cur.execute(f"SET LOCAL statement_timeout = {ms}")
                # Take the snapshot now: the transaction can no longer be made read-write.
                cur.execute("SELECT 1")
                statement = _bounded(sql, names, max_rows) if names else sql
                # prepare=True sends one prepared statement: the server refuses several.
                cur.execute(statement.encode("utf-8"), prepare=True)
                columns = names or [d.name for d in cur.description or ()]
                rows = cur.fetchmany(max_rows + 1) if cur.description else []
        except psycopg.errors.QueryCanceled:
            raise ToolError(
                f"the query ran longer than {_limit_name(self.timeout_s, seconds)} and was "
                "stopped; add a LIMIT or a narrower WHERE"
            ) from None
        except (psycopg.Error, ValueError) as exc:
            raise ToolError(f"PostgreSQL refused the query: {exc}") from None
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            conn.close()
        return columns, [tuple(r) for r in rows[:max_rows]], len(rows) > max_rows


def _columns(conn: Any, sql: str) -> list[str]:
    """The column names ``sql`` would return, from the server's description of the prepared
    statement (nothing is run); [] when it returns no rows or cannot be prepared (running
    it then reports why)."""
    from psycopg import pq

    if not _ROWS_QUERY.match(sql):  # SHOW, EXPLAIN: short answers that cannot be subqueries
        return []
    pgconn = conn.pgconn
    prepared = pgconn.prepare(b"expertly_probe", _body(sql).encode("utf-8"))
    if prepared.status != pq.ExecStatus.COMMAND_OK:
        return []
    described = pgconn.describe_prepared(b"expertly_probe")
    pgconn.close_prepared(b"expertly_probe")
    if described.status != pq.ExecStatus.COMMAND_OK:
        return []
    return [
        (described.fname(i) or b"?column?").decode("utf-8", "replace")
        for i in range(described.nfields)
    ]


def _body(sql: str) -> str:
    return sql.strip().rstrip(";").rstrip()


def _bounded(sql: str, names: Sequence[str], max_rows: int) -> str:
    """``sql`` as a subquery whose values the server cuts to ``CELL_CHARS + 1`` characters of
    text and whose rows it stops at ``max_rows + 1``: a huge value (``repeat('x', 1e8)``) or
    millions of rows never reach this process, which would otherwise hold them whole."""
    cells = ", ".join(
        f"left(q.c{i}::text, {CELL_CHARS + 1}) AS {_quote(name)}" for i, name in enumerate(names)
    )
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    return f"SELECT {cells} FROM (\n{_body(sql)}\n) AS q({aliases}) LIMIT {max_rows + 1}"


Database = SqliteDatabase | PostgresDatabase


def open_database(url: str, *, timeout_s: float) -> Database:
    """The database ``agent.sql_url`` names: a SQLite path (or sqlite:///path) or postgres URL."""
    url = url.strip()
    if not url:
        raise ConfigError(
            "agent.sql_url is empty: set it to a SQLite file or a postgresql://... URL "
            "to use the sql tool"
        )
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url, timeout_s=timeout_s)
    if url.startswith("sqlite:///"):
        return SqliteDatabase(Path(url[len("sqlite:///") - 1 :]), timeout_s=timeout_s)
    if "://" in url:
        raise ConfigError(
            f"agent.sql_url: unsupported database {url.split('://')[0]!r}; use a SQLite file "
            "path, sqlite:///path or postgresql://user@host/db"
        )
    return SqliteDatabase(Path(url).expanduser(), timeout_s=timeout_s)


PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "One read-only SQL statement"}},
    "required": ["query"],
}


class SqlTool:
    """The ``sql`` tool: one read-only statement, the rows back as a text table."""

    name = "sql"
    parameters: Mapping[str, Any] = PARAMETERS

    def __init__(self, database: Database, *, max_rows: int = 50) -> None:
        self.database = database
        self.max_rows = max_rows
        self.tables = database.schema()
        self.description = (
            f"Run one read-only SQL query on the {database.kind} database and get the rows "
            f"(at most {max_rows}). Tables:\n{format_schema(self.tables)}"
        )

    def run(self, **arguments: Any) -> ToolResult:
        """Run the query within ``agent.sql_timeout_s``."""
        return self._query(str(arguments["query"]), None)

    def run_within(self, timeout_s: float, **arguments: Any) -> ToolResult:
        """Run the query within ``timeout_s`` or ``agent.sql_timeout_s``, the shorter."""
        return self._query(str(arguments["query"]), timeout_s)

    def _query(self, text: str, timeout_s: float | None) -> ToolResult:
        sql = text.strip()
        if not sql:
            raise ToolError("the query is empty: write one SELECT statement")
        columns, rows, more = self.database.query(sql, self.max_rows, timeout_s=timeout_s)
        return ToolResult(
            format_table(columns, rows, more),
            data={"columns": columns, "rows": rows, "more": more},
        )
