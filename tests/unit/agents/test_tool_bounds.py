"""Hostile inputs to the calculator and the SQLite sql tool end fast, with a clear error,
and without growing the process: each is run in a fresh subprocess that reports its time
per input and its peak memory (``ru_maxrss``) before and after."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

SQL_TIMEOUT_S = 2.0
MAX_GROWTH_MB = 64  # peak RSS growth allowed over all inputs of one run

CALCULATOR_INPUTS = [
    "round(5, -10**9)",
    "round(10**308, -10**8)",
    "round(1.5, 10**9)",
    "10**10**10",
    "9**9**9",
    "(10**300)**(10**300)",
    "2**1e308",
    "0.5**-(10**300)",
    "exp(10**308)",
    "factorial(100000)",
    "pow(2, 10**9, 7)",
    "'x' * 10**9",
    "10**308 * 10**308",
    "-" * 400 + "1",
]

SQL_INPUTS = [
    "SELECT randomblob(1e9)",
    "SELECT zeroblob(1000000000)",
    "SELECT printf('%.*c', 1000000000, 'x')",
    "SELECT format('%.*c', 1000000000, 'x')",
    "SELECT printf('%!.1000000000c', 'x')",
    "SELECT printf('%.*c', '1e9', 'x')",
    "SELECT length(replace(hex(zeroblob(4000000)), '0', '00000000'))",
    "SELECT length(substr(hex(zeroblob(9000000)), 1))",
    "WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM r) SELECT length(s) FROM r",
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
    "SELECT length(group_concat(i)) FROM r",
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
    "SELECT i, randomblob(1000) FROM r ORDER BY random() LIMIT 1",
    # 720 MB in one row, each value under the length limit: the child's memory cap refuses it
    "SELECT " + ", ".join(["zeroblob(9000000)"] * 80),
    # Quadratic work inside one function call, which no SQLite mechanism interrupts:
    "SELECT instr(hex(zeroblob(4000000)), hex(zeroblob(1000000)) || '1')",
    "SELECT length(ltrim(hex(zeroblob(100000)), replace(hex(zeroblob(10000)), '0', 'x') || '0'))",
    "SELECT fts3_tokenizer('simple')",
]

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from expertly.agents.tools.base import ToolRegistry
kind, inputs, db, timeout = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], float(sys.argv[4])
if kind == "sql":
    from expertly.agents.tools.sql import SqlTool, open_database
    tool = SqlTool(open_database(db, timeout_s=timeout))
    key = "query"
else:
    from expertly.agents.tools.calculator import Calculator
    tool, key = Calculator(), "expression"
registry = ToolRegistry.of([tool])
assert registry.call(tool.name, {key: "SELECT 1" if kind == "sql" else "1+1"}).ok
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = []
for text in inputs:
    started = time.monotonic()
    result = registry.call(tool.name, {key: text})
    out.append([text, result.ok, result.output, time.monotonic() - started])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"results": out, "growth_mb": (after - before) / 1024}))
"""


Outcome = tuple[str, bool, str, float]  # input, ok, output, seconds


def _run(kind: str, inputs: list[str], db: Path) -> tuple[list[Outcome], float]:
    """Each input's outcome, and the peak memory growth (MB) over all of them."""
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, json.dumps(inputs), str(db), str(SQL_TIMEOUT_S)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    return [tuple(r) for r in report["results"]], float(report["growth_mb"])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x INTEGER)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    return path


def test_calculator_bounds_every_operation(db: Path) -> None:
    results, growth_mb = _run("calculator", CALCULATOR_INPUTS, db)
    for text, ok, output, seconds in results:
        assert not ok, (text, output)
        assert output.startswith("Error: ") and len(output) < 400, (text, output)
        assert seconds < 1.0, (text, seconds)
    assert growth_mb < MAX_GROWTH_MB


def test_sql_bounds_values_time_and_memory(db: Path) -> None:
    results, growth_mb = _run("sql", SQL_INPUTS, db)
    for text, ok, output, seconds in results:
        assert not ok, (text, output)
        assert output.startswith("Error: SQLite refused the query") or "was stopped" in output
        assert seconds < SQL_TIMEOUT_S + 1, (text, seconds, output)
    assert growth_mb < MAX_GROWTH_MB


def test_sql_error_messages_say_what_to_do(db: Path) -> None:
    results, _ = _run("sql", SQL_INPUTS[:3] + SQL_INPUTS[-3:-2] + SQL_INPUTS[-1:], db)
    outputs = [output for _, _, output, _ in results]
    assert "at most 10,000,000 bytes" in outputs[0] and "substr" in outputs[0]
    assert "width or precision 1,000,000,000 is over the limit" in outputs[2]
    assert "ran longer than agent.sql_timeout_s (2 s) and was stopped" in outputs[3]
    assert "not authorized" in outputs[4]


def test_printf_within_bounds_still_works(db: Path) -> None:
    from expertly.agents.tools.base import ToolRegistry
    from expertly.agents.tools.sql import SqlTool, open_database

    registry = ToolRegistry.of([SqlTool(open_database(str(db), timeout_s=2))])
    query = "SELECT printf('%.2f|%5d|%-3s|%%|%.*c', 3.14159, 42, 'ab', 3, 'x') AS v"
    result = registry.call("sql", {"query": query})
    assert result.ok and result.output.splitlines()[1] == "3.14|   42|ab |%|xxx"
    result = registry.call("sql", {"query": "SELECT format('%s-%s', x, x + 1) FROM t"})
    assert result.ok and result.output.splitlines()[1] == "1-2"
