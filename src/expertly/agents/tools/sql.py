"""``sql``: read-only questions over a SQLite file or a PostgreSQL database the user points to.

Read-only is enforced by the database, never by looking for keywords in the statement
(``SELECT 'DROP TABLE t'`` is an ordinary query):

* **SQLite** — the file is opened ``mode=ro`` (the OS-level open is read-only), then
  ``PRAGMA query_only=ON``; an authorizer allows only reads (SELECT, column reads, functions,
  recursive CTEs and a few schema pragmas) and denies everything else, ATTACH and DETACH
  included; ``SQLITE_LIMIT_ATTACHED`` is 0. A progress handler stops a statement at the
  deadline (``agent.sql_timeout_s``).
* **PostgreSQL** (psycopg, the ``[postgres]`` extra) — the session starts with
  ``default_transaction_read_only=on`` and ``statement_timeout``, each statement runs in a
  transaction opened with ``SET TRANSACTION READ ONLY`` and rolled back, as one prepared
  statement (several statements in one call are refused by the server), on a connection
  used for that call only. A superuser connection is refused: superusers can reach the
  server's files and programs even in a read-only transaction. Point ``agent.sql_url`` at a
  role that has only SELECT rights.

Every call opens a fresh connection, so no statement can change what a later one sees.
At most ``agent.sql_max_rows`` rows are returned, as a compact text table.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from expertly.agents.tools.base import ToolError, ToolResult
from expertly.errors import ConfigError, MissingDependencyError

CELL_CHARS = 200
SCHEMA_CHARS = 3000

# What the SQLite authorizer lets through; every other action (writes, DDL, ATTACH, DETACH,
# transactions, other pragmas) is denied and SQLite reports "not authorized".
_SQLITE_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_SQLITE_RECURSIVE = getattr(sqlite3, "SQLITE_RECURSIVE", 33)
_SQLITE_READ_PRAGMAS = {"table_info", "table_xinfo", "index_list", "index_info"}


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
        self.path = path.resolve()
        self.timeout_s = timeout_s

    def connect(self) -> sqlite3.Connection:
        uri = self.path.as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            # Load the schema now, while reading sqlite_master is still unrestricted.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise ConfigError(
                f"agent.sql_url: cannot open {self.path} as a SQLite database: {exc}"
            ) from exc
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

    def query(self, sql: str, max_rows: int) -> tuple[list[str], list[tuple[Any, ...]], bool]:
        conn = self.connect()
        deadline = time.monotonic() + self.timeout_s
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        try:
            cursor = conn.execute(sql)
            rows = cursor.fetchmany(max_rows + 1)
            columns = [d[0] for d in cursor.description or ()]
        except sqlite3.Error as exc:
            if time.monotonic() > deadline and "interrupt" in str(exc):
                raise ToolError(
                    f"the query ran longer than agent.sql_timeout_s ({self.timeout_s:g} s) "
                    "and was stopped; add a LIMIT or a narrower WHERE"
                ) from None
            raise ToolError(f"SQLite refused the query: {exc}") from None
        except (sqlite3.Warning, ValueError) as exc:  # several statements; NUL, surrogates
            raise ToolError(f"SQLite refused the query: {exc}") from None
        finally:
            conn.close()
        return columns, rows[:max_rows], len(rows) > max_rows


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    if action in _SQLITE_ALLOWED or action == _SQLITE_RECURSIVE:
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

    def query(self, sql: str, max_rows: int) -> tuple[list[str], list[tuple[Any, ...]], bool]:
        import psycopg

        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION READ ONLY")
                # Take the snapshot now: the transaction can no longer be made read-write.
                cur.execute("SELECT 1")
                # prepare=True sends one prepared statement: the server refuses several.
                cur.execute(sql.encode("utf-8"), prepare=True)
                columns = [d.name for d in cur.description or ()]
                rows = cur.fetchmany(max_rows + 1) if cur.description else []
        except psycopg.errors.QueryCanceled:
            raise ToolError(
                f"the query ran longer than agent.sql_timeout_s ({self.timeout_s:g} s) "
                "and was stopped; add a LIMIT or a narrower WHERE"
            ) from None
        except (psycopg.Error, ValueError) as exc:
            raise ToolError(f"PostgreSQL refused the query: {exc}") from None
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            conn.close()
        return columns, [tuple(r) for r in rows[:max_rows]], len(rows) > max_rows


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
        sql = str(arguments["query"]).strip()
        if not sql:
            raise ToolError("the query is empty: write one SELECT statement")
        columns, rows, more = self.database.query(sql, self.max_rows)
        return ToolResult(
            format_table(columns, rows, more),
            data={"columns": columns, "rows": rows, "more": more},
        )
