"""``expertly dataset build`` through the CLI, on a workspace with the hashing embedder."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.finetune import datasets
from tests.unit.helpers import write_corpus


def _workspace(tmp_path: Path, llm: str = "") -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    config = '[embedder]\nbackend = "hashing"\ndim = 64\n' + llm
    (ws / "expertly.toml").write_text(config)
    result = CliRunner().invoke(app, ["-w", str(ws), "ingest", str(write_corpus(tmp_path / "d"))])
    assert result.exit_code == 0, result.output
    return ws


def test_build_json_summary_and_files(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    evals = tmp_path / "eval.jsonl"
    evals.write_text(
        json.dumps({"id": "e", "question": "What does the Leave policy say about vacation?"}) + "\n"
    )
    out = tmp_path / "data"
    args = ["-w", str(ws), "dataset", "build", "--out", str(out), "--json", "--eval", str(evals)]
    result = CliRunner().invoke(app, [*args, "--val-fraction", "0.3", "--seed", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["leaked_removed"] == 1 and summary["leaked"][0]["eval_id"] == "e"
    assert summary["generated"] == 4 and summary["train"] + summary["val"] == 3
    assert len(datasets.load_jsonl(out / "train.jsonl")) == summary["train"]
    assert json.loads((out / "report.json").read_text())["generated"] == 4


def test_build_style_from_a_file_and_human_summary(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    template = tmp_path / "style.txt"
    template.write_text("Answer: {answer}\nSource: {source}\n")
    out = tmp_path / "style"
    args = ["-w", str(ws), "dataset", "build", "--out", str(out), "--style", str(template)]
    result = CliRunner().invoke(app, [*args, "--val-fraction", "0", "--max-pairs", "3"])
    assert result.exit_code == 0, result.output
    assert "3 train and 0 validation pairs" in result.output
    assert "1 left out by --max-pairs" in result.output
    answers = [e.messages[-1]["content"] for e in datasets.load_jsonl(out / "train.jsonl")]
    assert len(answers) == 3
    assert all(a.startswith("Answer: ") and "\nSource: " in a for a in answers), answers


def test_inline_style_with_an_escaped_newline(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    out = tmp_path / "o"
    style = "Answer: {answer}\\nSource: {source}"
    args = ["-w", str(ws), "dataset", "build", "--out", str(out), "--style", style]
    result = CliRunner().invoke(app, [*args, "--val-fraction", "0"])
    assert result.exit_code == 0, result.output
    first = datasets.load_jsonl(out / "train.jsonl")[0].messages[-1]["content"]
    assert "\nSource: " in first


def test_bad_options_exit_1_with_one_line(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    base = ["-w", str(ws), "dataset", "build", "--out", str(tmp_path / "o")]
    runner = CliRunner()
    cases = [
        (["--teacher", "gpt"], "choose one of: local, openai"),
        (["--teacher-url", "http://x"], "need --teacher openai"),
        (["--teacher", "openai"], "llm.base_url"),
        (["--style", "{answer} {who}"], "unknown field"),
        (["--split", "topic"], "doc, question"),
        (["--max-pairs", "-1"], "--max-pairs"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 1, (extra, result.output)
        assert message in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_a_teacher_that_never_answers_in_json_leaves_nothing_to_write(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, '[llm]\nbackend = "scripted"\n')
    args = ["-w", str(ws), "dataset", "build", "--out", str(tmp_path / "o"), "--teacher", "local"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "No question/answer pairs were left" in result.output
