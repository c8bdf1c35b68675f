"""The ``sql`` tool's PostgreSQL database (psycopg, the ``[postgres]`` extra).

Read-only is enforced by the server: the session starts with
``default_transaction_read_only=on`` and ``statement_timeout``, each statement runs in a
transaction opened with ``SET TRANSACTION READ ONLY`` and rolled back, as one prepared
statement (several statements in one call are refused by the server), on a connection used
for that call only. A superuser connection is refused: superusers can reach the server's
files and programs even in a read-only transaction. Point ``agent.sql_url`` at a role that
has only SELECT rights.

A statement that returns rows runs as a subquery that cuts every value to ``CELL_CHARS``
(as text) and stops at ``agent.sql_max_rows``, so neither a huge value nor millions of rows
reach the expertly process (psycopg would otherwise hold the whole result).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any

from expertly.agents.tools.base import ToolError
from expertly.agents.tools.sql import CELL_CHARS, limit_name, quote_identifier
from expertly.errors import ConfigError, MissingDependencyError

# A statement that can be a subquery: SELECT, WITH, VALUES, TABLE, or one in parentheses.
_ROWS_QUERY = re.compile(
    r"^(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/)*(?:\(|(?:select|with|values|table)\b)", re.I | re.S
)


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
                f"the query ran longer than {limit_name(self.timeout_s, seconds)} and was "
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
        f"left(q.c{i}::text, {CELL_CHARS + 1}) AS {quote_identifier(name)}"
        for i, name in enumerate(names)
    )
    aliases = ", ".join(f"c{i}" for i in range(len(names)))
    return f"SELECT {cells} FROM (\n{_body(sql)}\n) AS q({aliases}) LIMIT {max_rows + 1}"
