"""``sql``: read-only questions over a SQLite file or a PostgreSQL database the user points to.

Read-only is enforced by the database, never by looking for keywords in the statement
(``SELECT 'DROP TABLE t'`` is an ordinary query), and every statement is bounded in time
(``agent.sql_timeout_s``, or the agent's time left if that is shorter) and in what it may
bring into this process. How each database does it: ``sql_sqlite.py`` (a file opened
read-only, an authorizer, SQLite's limits) and ``sql_postgres.py`` (read-only transactions,
``statement_timeout``, results cut by the server). A database is opened by
``open_database`` from ``agent.sql_url``; its module is imported only then.

Every call opens a fresh connection, so no statement can change what a later one sees.
At most ``agent.sql_max_rows`` rows are returned, as a compact text table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from expertly.agents.tools.base import ToolError, ToolResult
from expertly.errors import ConfigError

CELL_CHARS = 200
SCHEMA_CHARS = 3000


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


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (SQLite and PostgreSQL alike)."""
    return '"' + name.replace('"', '""') + '"'


def limit_name(sql_timeout_s: float, seconds: float) -> str:
    """Which limit stopped a query: the tool's own, or the agent's time left."""
    if seconds >= sql_timeout_s:
        return f"agent.sql_timeout_s ({sql_timeout_s:g} s)"
    return f"the agent's time left ({seconds:.1f} s of agent.timeout_s)"


class Database(Protocol):
    """A database the tool reads: its tables and one bounded, read-only query at a time."""

    kind: str

    def schema(self) -> dict[str, list[tuple[str, str]]]:
        """Columns (name, type) of every table and view, by table name."""
        ...

    def query(
        self, sql: str, max_rows: int, *, timeout_s: float | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]], bool]:
        """(columns, at most ``max_rows`` rows, whether there were more); ``ToolError``
        when the database refuses or stops the statement."""
        ...


def open_database(url: str, *, timeout_s: float) -> Database:
    """The database ``agent.sql_url`` names: a SQLite path (or sqlite:///path) or postgres URL."""
    url = url.strip()
    if not url:
        raise ConfigError(
            "agent.sql_url is empty: set it to a SQLite file or a postgresql://... URL "
            "to use the sql tool"
        )
    if url.startswith(("postgresql://", "postgres://")):
        from expertly.agents.tools.sql_postgres import PostgresDatabase

        return PostgresDatabase(url, timeout_s=timeout_s)
    from expertly.agents.tools.sql_sqlite import SqliteDatabase

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
