"""Bad command input gets one clear error and a non-zero exit, never a traceback or a silent
default: through the real typer app, on a workspace with the hashing embedder and the
scripted LLM (no model is loaded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import expertly
from expertly.cli.main import app
from tests.unit.helpers import write_corpus

CONFIG = (
    '[embedder]\nbackend = "hashing"\ndim = 64\n'
    '[llm]\nbackend = "scripted"\n'
    "[retrieval]\nmin_relevance = 0.0\n"
)
AT_LEAST_1 = "greater than or equal to 1"
NOT_UTF8 = b"\xff\xfe\xc3( station".decode("utf-8", "surrogateescape")
"""What Python makes of undecodable command-line bytes (``search $'\\xff\\xfe\\xc3( station'``)."""


def invoke(*args: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin)


@pytest.fixture(scope="module")
def ws(module_tmp: Callable[[str], Path]) -> Path:
    """An ingested workspace."""
    root = module_tmp("cli-input")
    ws = root / "ws"
    ws.mkdir()
    (ws / "expertly.toml").write_text(CONFIG)
    result = invoke("-w", str(ws), "ingest", str(write_corpus(root / "docs")))
    assert result.exit_code == 0, result.output
    return ws


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "is empty"),
        ("   \t ", "is empty"),
        ("leave\x00policy", "NUL byte"),
        (NOT_UTF8, "not valid UTF-8"),
    ],
    ids=["empty", "whitespace", "nul", "not-utf8"],
)
@pytest.mark.parametrize("command", ["search", "ask"])
def test_a_query_that_cannot_be_one_is_a_usage_error(
    ws: Path, command: str, query: str, message: str
) -> None:
    result = invoke("-w", str(ws), command, query)
    assert result.exit_code == 2, result.output
    assert message in result.output and "QUESTION" in result.output.upper()
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("k", ["0", "-1"])
@pytest.mark.parametrize("command", ["search", "ask"])
def test_k_below_one_is_refused_not_replaced_by_the_default(ws: Path, command: str, k: str) -> None:
    result = invoke("-w", str(ws), command, "parental leave", "-k", k)
    assert result.exit_code == 2 and AT_LEAST_1 in result.output, result.output


@pytest.mark.parametrize("k", ["0", "-3"])
def test_chat_refuses_k_below_one(ws: Path, k: str) -> None:
    result = invoke("-w", str(ws), "chat", "-k", k, stdin="hello\n")
    assert result.exit_code == 2 and AT_LEAST_1 in result.output, result.output


def test_search_k_one_returns_one_hit(ws: Path) -> None:
    result = invoke("-w", str(ws), "search", "parental leave", "-k", "1", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["hits"]) == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [(b"leave\x00policy\n", "NUL byte"), (b"\xff\xfe\xc3( station\n", "not valid UTF-8")],
    ids=["nul", "not-utf8"],
)
def test_chat_stops_a_piped_session_at_a_line_that_cannot_be_a_question(
    ws: Path, line: bytes, message: str
) -> None:
    result = invoke("-w", str(ws), "chat", "--json", stdin=b"How long is parental leave?\n" + line)
    assert result.exit_code == 1, result.output
    answers = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert [a["question"] for a in answers] == ["How long is parental leave?"]
    assert message in result.output


def test_chat_takes_tenant_and_group_like_ask(ws: Path) -> None:
    result = invoke(
        "-w", str(ws), "chat", "--tenant", "acme", "--group", "hr", "--json",
        stdin="How long is parental leave?\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["question"] == "How long is parental leave?"


@pytest.mark.parametrize("command", ["ask", "chat"])
def test_an_unknown_route_lists_the_valid_ones(ws: Path, command: str) -> None:
    args = ["ask", "hello"] if command == "ask" else ["chat"]
    result = invoke("-w", str(ws), *args, "--route", "magic", stdin="hello\n")
    assert result.exit_code == 2, result.output
    assert "rag, finetuned, agent, base, hybrid, auto" in result.output, result.output


def test_an_unknown_retrieval_mode_lists_the_valid_ones(ws: Path) -> None:
    result = invoke("-w", str(ws), "search", "leave", "--retrieval", "magic")
    assert result.exit_code == 2 and "hybrid, dense, sparse" in result.output, result.output


# ------------------------------------------------------------------ workspace paths

COMMANDS = [
    ["status"],
    ["search", "leave"],
    ["ask", "leave"],
    ["chat"],
    ["ingest", "."],
    ["remove", "x"],
    ["init"],
    ["config"],
    ["finetune", "models"],
    ["dataset", "build", "--out", "out"],
    ["eval", "retrieval", "--questions", "q.jsonl"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: "-".join(a[:2]))
def test_a_workspace_that_is_a_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.jsonl").write_text('{"question": "q", "relevant": ["d"]}\n')
    afile = tmp_path / "a-file"
    afile.write_text("not a directory")
    result = invoke("-w", str(afile), *args, stdin="hello\n")
    assert result.exit_code == 1, result.output
    assert "is a file, not a directory" in result.output
    below = invoke("-w", str(afile / "ws"), *args, stdin="hello\n")
    assert below.exit_code == 1 and f"{afile} is a file" in below.output, below.output


@pytest.mark.parametrize("args", [["ingest", "."], ["init"], ["ask", "leave"]])
def test_a_workspace_that_cannot_be_written_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("-w", "/proc/expertly-ws", *args)
    assert result.exit_code == 1, result.output
    assert "Cannot write in the workspace /proc/expertly-ws" in result.output
    proc = invoke("-w", "/proc", *args)
    assert proc.exit_code == 1 and "Cannot write in the workspace /proc" in proc.output


def test_status_of_a_missing_workspace_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    for extra in ([], ["--json"]):
        result = invoke("-w", str(missing), "status", *extra)
        assert result.exit_code == 1, result.output
        assert "There is no workspace at" in result.output and "expertly init" in result.output
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    for root in (empty, Path("/proc")):
        result = invoke("-w", str(root), "status")
        assert result.exit_code == 1 and "is not an expertly workspace" in result.output
    (empty / "expertly.toml").write_text("")
    initialised = invoke("-w", str(empty), "status", "--json")
    assert initialised.exit_code == 0, initialised.output
    assert json.loads(initialised.stdout)["documents"] == 0


def test_status_of_an_existing_workspace_still_reports(ws: Path) -> None:
    result = invoke("-w", str(ws), "status", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["documents"] > 0


def test_search_on_a_workspace_with_nothing_indexed_says_what_to_do(tmp_path: Path) -> None:
    for root in (tmp_path / "fresh", Path("/proc")):
        result = invoke("-w", str(root), "search", "leave")
        assert result.exit_code == 1 and "expertly ingest" in result.output, result.output
    assert not (tmp_path / "fresh").exists()  # a search creates nothing


# ------------------------------------------------------------------ paths and limits


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["finetune", "run", "missing.jsonl"], "does not exist"),
        (["finetune", "missing.jsonl"], "does not exist"),
        (["finetune", "run", "."], "is a directory"),
        (["finetune", "embedder", "missing.jsonl"], "does not exist"),
        (["finetune", "reranker", "--beir", "missing"], "does not exist"),
        (["finetune", "run", "q.jsonl", "--max-steps", "0"], AT_LEAST_1),
        (["finetune", "run", "q.jsonl", "--prefix-tokens", "0"], AT_LEAST_1),
        (["finetune", "q.jsonl", "--eval-every", "-2"], AT_LEAST_1),
        (["finetune", "embedder", "q.jsonl", "--batch-size", "1"], "greater than or equal to 2"),
        (["finetune", "reranker", "q.jsonl", "--depth", "0"], AT_LEAST_1),
        (["eval", "retrieval", "missing"], "does not exist"),
        (["eval", "retrieval", "--questions", "missing.jsonl"], "does not exist"),
        (["eval", "retrieval", "--questions", "q.jsonl", "--limit", "0"], AT_LEAST_1),
        (["eval", "retrieval", "--questions", "q.jsonl", "--chunks", "-1"], AT_LEAST_1),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, list) else v,
)
def test_missing_paths_and_limits_below_one_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.jsonl").write_text('{"question": "q", "relevant": ["d"]}\n')
    result = invoke("-w", str(tmp_path / "ws"), *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_dataset_build_refuses_a_negative_limit_and_a_missing_eval_file(
    ws: Path, tmp_path: Path
) -> None:
    args = ["-w", str(ws), "dataset", "build", "--out", str(tmp_path)]
    result = invoke(*args, "--max-pairs", "-1")
    assert result.exit_code == 1 and "--max-pairs must be >= 0" in result.output, result.output
    missing = invoke(*args, "--eval", str(tmp_path / "missing.jsonl"))
    assert missing.exit_code == 1 and "no such evaluation file" in missing.output, missing.output


@pytest.mark.parametrize("command", [b"search", b"ask"])
def test_undecodable_command_line_bytes_through_a_real_process(ws: Path, command: bytes) -> None:
    """The bytes a shell passes for ``$'\\xff\\xfe\\xc3( station'``, not a str made in Python."""
    argv = [sys.executable.encode(), b"-m", b"expertly", b"-w", bytes(ws), command]
    result = subprocess.run(
        [*argv, b"\xff\xfe\xc3( station"],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(expertly.__file__).parents[1])},
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2 and "not valid UTF-8" in stderr, stderr
    assert "Traceback" not in stderr
