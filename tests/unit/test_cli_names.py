"""One word for one idea across the CLI: the new names work, the old ones still work for one
release with a one-line deprecation note on stderr and are hidden from --help, and every
command's help teaches with an example. Through the real typer app, on a workspace with the
hashing embedder and the scripted LLM."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner, Result

from expertly.cli.main import app
from tests.unit.helpers import write_corpus

CONFIG = '[embedder]\nbackend = "hashing"\ndim = 64\n[llm]\nbackend = "scripted"\n'
OLD_OPTIONS = ("--mode", "--reindex", "--force", "--config")
OLD_COMMANDS = ("finetune-embedder", "finetune-reranker", "models", "export")


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin, env={"COLUMNS": "200"})


def note(result: Result, old: str, new: str) -> bool:
    """Whether ``result`` printed the one-line deprecation note of ``old`` on stderr."""
    lines = [line for line in result.stderr.splitlines() if "deprecated" in line]
    return len(lines) == 1 and old in lines[0] and new in lines[0]


@pytest.fixture(scope="module")
def ws(module_tmp: Callable[[str], Path]) -> Path:
    root = module_tmp("cli-names")
    ws = root / "ws"
    ws.mkdir()
    (ws / "expertly.toml").write_text(CONFIG)
    result = invoke("-w", str(ws), "ingest", str(write_corpus(root / "docs")))
    assert result.exit_code == 0, result.output
    return ws


def all_commands() -> list[list[str]]:
    """Every visible command path: ``["ask"]``, ``["finetune", "run"]``, ..."""
    group = typer.main.get_command(app)
    found: list[list[str]] = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if command.hidden:
            continue
        subcommands = getattr(command, "commands", None)
        if subcommands:
            found += [[name, sub] for sub, c in subcommands.items() if not c.hidden]
        else:
            found.append([name])
    return found


def test_the_finetune_group_holds_every_training_command() -> None:
    finetune = [c[1] for c in all_commands() if c[0] == "finetune"]
    assert finetune == ["run", "embedder", "reranker", "export", "models"]
    top = invoke("--help").output
    for old in OLD_COMMANDS:
        assert f"\n  {old} " not in top, f"{old} should be hidden"


@pytest.mark.parametrize("command", all_commands(), ids=" ".join)
def test_every_command_teaches_with_an_example_and_keeps_json(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"expertly {' '.join(command)} --help shows no example"
    assert "--json" in result.output
    for old in OLD_OPTIONS:
        assert f"  {old} " not in result.output, f"{old} is visible in {command}"


def test_route_and_retrieval_are_the_new_names(ws: Path) -> None:
    asked = invoke("-w", str(ws), "ask", "parental leave?", "--route", "base", "--json")
    assert asked.exit_code == 0 and json.loads(asked.stdout)["route"] == "base", asked.output
    assert "deprecated" not in asked.stderr
    found = invoke("-w", str(ws), "search", "parental leave", "--retrieval", "sparse", "--json")
    assert found.exit_code == 0 and json.loads(found.stdout)["mode"] == "sparse", found.output


# ------------------------------------------------------------- one test per old spelling


def test_ask_mode_is_an_alias_of_route(ws: Path) -> None:
    result = invoke("-w", str(ws), "ask", "parental leave?", "--mode", "base", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["route"] == "base", result.output
    assert note(result, "--mode", "--route")


def test_chat_mode_is_an_alias_of_route(ws: Path) -> None:
    result = invoke("-w", str(ws), "chat", "-m", "base", "--json", stdin="Hello?\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["route"] == "base"
    assert note(result, "--mode", "--route")


def test_search_mode_is_an_alias_of_retrieval(ws: Path) -> None:
    result = invoke("-w", str(ws), "search", "parental leave", "--mode", "dense", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["mode"] == "dense", result.output
    assert note(result, "--mode", "--retrieval")


def test_ingest_reindex_is_an_alias_of_rebuild(ws: Path, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "docs")
    result = invoke("-w", str(ws), "ingest", str(corpus), "--reindex", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["added"] > 0 and summary["unchanged"] == 0  # everything indexed afresh
    assert note(result, "--reindex", "--rebuild")
    again = invoke("-w", str(ws), "ingest", str(corpus), "--rebuild", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["unchanged"] == 0, again.output
    assert "deprecated" not in again.stderr


def test_init_force_is_an_alias_of_overwrite(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert invoke("-w", str(ws), "init").exit_code == 0
    (ws / "expertly.toml").write_text("# mine\n")
    kept = invoke("-w", str(ws), "init")
    assert "--overwrite" in kept.output and (ws / "expertly.toml").read_text() == "# mine\n"
    as_json = invoke("-w", str(ws), "init", "--json")
    assert json.loads(as_json.stdout) == {"config": str(ws / "expertly.toml"), "written": False}
    result = invoke("-w", str(ws), "init", "--force")
    assert result.exit_code == 0 and note(result, "--force", "--overwrite")
    assert (ws / "expertly.toml").read_text() != "# mine\n"


def test_eval_config_is_an_alias_of_retrieval(ws: Path, tmp_path: Path) -> None:
    listed = invoke("-w", str(ws), "status", "--documents", "--json")
    doc_id = json.loads(listed.stdout)["document_list"][0]["id"]
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "leave", "relevant": [doc_id]}) + "\n")
    args = ["-w", str(ws), "eval", "retrieval", "--questions", str(questions), "--json"]
    result = invoke(*args, "--config", "sparse")
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["configurations"]) == ["sparse"]
    assert note(result, "--config", "--retrieval")
    new = invoke(*args, "--retrieval", "dense")
    assert list(json.loads(new.stdout)["configurations"]) == ["dense"], new.output


def test_finetune_embedder_old_name(tmp_path: Path) -> None:
    result = invoke("-w", str(tmp_path / "ws"), "finetune-embedder")
    assert result.exit_code == 2 and "exactly one of PAIRS" in result.output
    assert note(result, "finetune-embedder", "finetune embedder")


def test_finetune_reranker_old_name(tmp_path: Path) -> None:
    result = invoke("-w", str(tmp_path / "ws"), "finetune-reranker")
    assert result.exit_code == 2 and "exactly one of PAIRS" in result.output
    assert note(result, "finetune-reranker", "finetune reranker")


def test_models_old_name(tmp_path: Path) -> None:
    result = invoke("-w", str(tmp_path / "ws"), "models", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == [], result.output
    assert note(result, "`expertly models`", "`expertly finetune models`")


def test_export_old_name(tmp_path: Path) -> None:
    result = invoke("-w", str(tmp_path / "ws"), "export", "hr-v1")
    assert result.exit_code == 1 and "--merge" in result.output
    assert note(result, "`expertly export`", "`expertly finetune export`")


def test_finetune_data_is_short_for_finetune_run(tmp_path: Path) -> None:
    """The form before fine-tuning became a group, with the data first or after options."""
    data = tmp_path / "qa.jsonl"
    for args in (["finetune", str(data)], ["finetune", "--max-steps", "1", str(data)]):
        result = invoke("-w", str(tmp_path / "ws"), *args)
        assert result.exit_code == 2, result.output
        assert "expertly finetune run" in result.output and "does not exist" in result.output
    bare = invoke("finetune")
    assert "run" in bare.output and "embedder" in bare.output
