"""The sql tool on SQLite: answers reads, and the database itself refuses every write."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from expertly.agents.tools.base import ToolError, ToolRegistry
from expertly.agents.tools.sql import SqlTool, format_table, open_database
from expertly.errors import ConfigError


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT, price REAL)")
    conn.execute("CREATE INDEX by_name ON products(name)")
    conn.executemany(
        "INSERT INTO products VALUES (?, ?, ?)",
        [("HX-100", "Humidity sensor", 149.0), ("TX-200", "Temperature logger", 89.0)]
        + [(f"P-{i}", f"Part {i}", float(i)) for i in range(100)],
    )
    conn.commit()
    conn.close()
    return path


def _rows(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM products ORDER BY sku").fetchall()
    finally:
        conn.close()


def _call(path: Path, query: str, **kw: float) -> tuple[bool, str]:
    tool = SqlTool(open_database(str(path), timeout_s=kw.get("timeout_s", 2.0)), max_rows=5)
    result = ToolRegistry.of([tool]).call("sql", {"query": query})
    return result.ok, result.output


def test_reads_are_answered_as_a_text_table(db: Path) -> None:
    ok, out = _call(db, "SELECT sku, price FROM products WHERE sku LIKE '%X-%' ORDER BY sku")
    assert ok
    assert out.splitlines() == ["sku | price", "HX-100 | 149.0", "TX-200 | 89.0", "(2 rows)"]


def test_schema_is_in_the_description(db: Path) -> None:
    tool = SqlTool(open_database(str(db), timeout_s=1.0))
    assert "products(sku TEXT, name TEXT, price REAL)" in tool.description
    assert tool.tables == {"products": [("sku", "TEXT"), ("name", "TEXT"), ("price", "REAL")]}


def test_rows_are_capped(db: Path) -> None:
    ok, out = _call(db, "SELECT sku FROM products ORDER BY sku")
    lines = out.splitlines()
    assert ok and len(lines) == 1 + 5 + 1
    assert lines[-1] == "(more rows cut: showing the first 5)"


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE products",
        "UPDATE products SET price = 0",
        "INSERT INTO products VALUES ('X', 'x', 1)",
        "DELETE FROM products",
        "REPLACE INTO products VALUES ('HX-100', 'x', 1)",
        "CREATE TABLE evil (x)",
        "CREATE TEMP TABLE evil (x)",
        "ALTER TABLE products ADD COLUMN x",
        "ATTACH DATABASE ':memory:' AS other",
        "DETACH DATABASE main",
        "WITH cheap AS (SELECT 1) UPDATE products SET price = 0",
        "WITH x AS (SELECT 'Y', 'y', 2) INSERT INTO products SELECT * FROM x",
        "PRAGMA writable_schema = ON",
        "PRAGMA query_only = OFF",
        "PRAGMA journal_mode = DELETE",
        "VACUUM",
        "REINDEX by_name",
        "BEGIN",
        "SELECT 1; DROP TABLE products",
    ],
)
def test_writes_are_refused_by_sqlite_itself(db: Path, statement: str) -> None:
    before = _rows(db)
    ok, out = _call(db, statement)
    assert not ok
    # The refusal is SQLite's own error message, not a keyword filter of ours.
    assert out.startswith("Error: SQLite refused the query: ")
    reason = out.removeprefix("Error: SQLite refused the query: ")
    assert reason in (
        "not authorized",
        "authorization denied",
        "attempt to write a readonly database",
        "You can only execute one statement at a time.",
    )
    assert _rows(db) == before


def test_attach_of_another_file_is_refused_and_creates_nothing(db: Path, tmp_path: Path) -> None:
    ok, out = _call(db, f"ATTACH DATABASE '{tmp_path / 'new.db'}' AS other")
    assert not ok and "not authorized" in out
    assert not (tmp_path / "new.db").exists()


def test_there_is_no_keyword_filter(db: Path) -> None:
    ok, out = _call(db, "SELECT 'DROP TABLE products; DELETE FROM products' AS text")
    assert ok and "DROP TABLE products; DELETE FROM products" in out


def test_the_file_is_opened_read_only(db: Path) -> None:
    conn = open_database(str(db), timeout_s=1.0).connect()
    try:
        conn.set_authorizer(None)  # even without the authorizer, SQLite refuses writes
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
            conn.execute("DELETE FROM products")
    finally:
        conn.close()
    assert len(_rows(db)) == 102


def test_runaway_recursive_query_stops_at_the_timeout(db: Path) -> None:
    start = time.perf_counter()
    ok, out = _call(
        db,
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        timeout_s=0.5,
    )
    elapsed = time.perf_counter() - start
    assert not ok and "agent.sql_timeout_s (0.5 s)" in out
    assert elapsed < 2.0


def test_sql_errors_come_back_as_observations(db: Path) -> None:
    ok, out = _call(db, "SELECT nope FROM products")
    assert not ok and "no such column: nope" in out


def test_bad_urls_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agent\.sql_url: there is no SQLite file"):
        open_database(str(tmp_path / "missing.db"), timeout_s=1)
    with pytest.raises(ConfigError, match=r"agent\.sql_url is empty"):
        open_database("  ", timeout_s=1)
    with pytest.raises(ConfigError, match="unsupported database 'mysql'"):
        open_database("mysql://localhost/db", timeout_s=1)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"cannot open .* as a SQLite database"):
        SqlTool(open_database(str(junk), timeout_s=1))


def test_sqlite_url_form(db: Path) -> None:
    tool = SqlTool(open_database(f"sqlite:///{db}", timeout_s=1))
    assert "products(" in tool.description


def test_table_formatting() -> None:
    text = format_table(["a", "b"], [(None, "x\ny"), (1, "z" * 300)], more=False)
    lines = text.splitlines()
    assert lines[1] == "NULL | x y"
    assert lines[2].endswith("…") and len(lines[2]) < 220
    assert lines[-1] == "(2 rows)"


def test_empty_query_is_refused(db: Path) -> None:
    tool = SqlTool(open_database(str(db), timeout_s=1))
    with pytest.raises(ToolError, match="empty"):
        tool.run(query="   ")


@pytest.mark.parametrize("query", ["SELECT 'a\x00b'", "SELECT '\ud800'"])
def test_hostile_text_is_refused_cleanly(db: Path, query: str) -> None:
    ok, out = _call(db, query)
    assert not ok and out.startswith("Error: SQLite refused the query: ")
