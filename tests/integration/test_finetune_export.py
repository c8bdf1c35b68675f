# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
"""One LoRA run through the CLI, then everything built on a finished run (real SmolLM2-135M).

The run (6 steps, 1 thread) is trained once for the module with the forgetting check on;
the tests then check its summary and loss curve, merge it with
``expertly finetune export --merge`` and load the export with plain transformers, list it with
``expertly finetune models`` and serve it through the registry and ``TransformersLLM``: every
route must answer like base + adapter.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from tests.integration.test_finetune_lora import FACTS, SYSTEM, answers, base_dir, data  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STEPS = ["--max-steps", "6", "--eval-every", "3", "--batch-size", "8", "--max-seq-len", "64"]


@pytest.fixture(scope="module")
def trained(base_dir: Path, data: Path, module_tmp: Callable[[str], Path]) -> tuple[Path, Any]:
    """(workspace, CLI result) of one LoRA run named ``facts``."""
    ws = module_tmp("ws")
    args = ["-w", str(ws), "finetune", "run", str(data / "facts.jsonl")]
    args += ["--val", str(data / "val.jsonl")]
    args += ["--name", "facts", "--base-model", str(base_dir), "--lr", "3e-3", *STEPS]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200", "EXPERTLY_LLM__THREADS": "1"})
    assert result.exit_code == 0, result.output
    return ws, result


@pytest.fixture(scope="module")
def reference(base_dir: Path, trained: tuple[Path, Any]) -> list[str]:
    """Greedy answers of base + adapter, loaded with plain peft."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = trained[0] / "runs" / "facts" / "adapter"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), adapter)
    return answers(model.eval(), AutoTokenizer.from_pretrained(base_dir))


def test_run_summary_reports_forgetting_and_draws_the_loss_curve(
    trained: tuple[Path, Any],
) -> None:
    ws, result = trained
    assert "forgetting check: general perplexity" in result.output
    assert "loss curve:" in result.output
    metrics = json.loads((ws / "runs" / "facts" / "metrics.json").read_text())
    check = metrics["forgetting"]
    assert check["before"]["questions"] == 20 and check["before"]["correct"] >= 16
    assert check["before"]["perplexity"] > 1 and check["after"]["perplexity"] > 1
    change = check["after"]["perplexity"] / check["before"]["perplexity"] - 1
    assert check["perplexity_change"] == pytest.approx(change, abs=1e-3)
    assert isinstance(metrics["warnings"], list)
    print({"forgetting": check, "seconds_per_step": metrics["seconds_per_step"]})
    png = Path(metrics["loss_plot"])
    assert png.parent.name == "facts" and png.read_bytes()[:4] == b"\x89PNG"
    assert (ws / "runs" / ".forgetting-baseline.json").is_file()  # later runs reuse it


def test_merged_export_loads_with_plain_transformers_and_answers_alike(
    trained: tuple[Path, Any], reference: list[str]
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ws, _ = trained
    result = CliRunner().invoke(
        app, ["-w", str(ws), "finetune", "export", "facts", "--merge", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = Path(json.loads(result.stdout)["path"])
    assert out == ws / "exports" / "facts-merged"
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors"} <= names
    assert "tokenizer.json" in names and "adapter_config.json" not in names
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    assert answers(merged, AutoTokenizer.from_pretrained(out)) == reference


def test_registry_serves_the_run_and_the_export_like_the_trained_model(
    trained: tuple[Path, Any], reference: list[str]
) -> None:
    from expertly.finetune.registry import list_models, resolve_model
    from expertly.generate.local import TransformersLLM
    from expertly.types import Message

    ws, _ = trained
    listed = CliRunner().invoke(app, ["-w", str(ws), "finetune", "models", "--json"])
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["facts"]["status"] == "finished" and rows["facts"]["val_loss"] is not None
    names = [m.name for m in list_models(ws)]
    ref = resolve_model(ws, "facts")
    assert ref.kind == "adapter" and ref.adapter is not None
    llm = TransformersLLM.from_ref(ref, cache_dir=ws / "models", threads=1)
    replies = [
        llm.generate([Message("system", SYSTEM), Message("user", qs[0])], max_tokens=16).text
        for qs, _, _ in FACTS
    ]
    assert replies == reference
    if "facts-merged" in names:  # exported by the test above
        merged = TransformersLLM.from_ref(resolve_model(ws, "facts-merged"), cache_dir=ws)
        question = [Message("system", SYSTEM), Message("user", FACTS[0][0][0])]
        assert merged.generate(question, max_tokens=16).text == reference[0]


def test_ask_answers_closed_book_and_over_documents_with_the_fine_tuned_model(
    trained: tuple[Path, Any], tmp_path: Path
) -> None:
    """``ask --route finetuned`` recalls the trained fact; ``--route hybrid`` uses the same
    model as the generator of the RAG route; ``--route auto`` sends a writing request to it."""
    ws, _ = trained
    env = {
        "COLUMNS": "200",
        "EXPERTLY_LLM__THREADS": "1",
        "EXPERTLY_ANSWER__CLOSED_BOOK_SYSTEM": SYSTEM,
    }
    question, _, word = FACTS[0][0][0], FACTS[0][1], FACTS[0][2]
    runner = CliRunner()
    closed = runner.invoke(
        app,
        ["-w", str(ws), "ask", question, "--route", "finetuned", "--model", "facts", "--json"],
        env=env,
    )
    assert closed.exit_code == 0, closed.output
    out = json.loads(closed.stdout)
    assert out["route"] == "finetuned" and word.lower() in out["answer"].lower(), out["answer"]
    assert out["citations"] == [] and out["hits"] == []

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "dog.md").write_text("# Office\n\nThe Aurelwind office dog is called Pixel.\n")
    assert runner.invoke(app, ["-w", str(ws), "ingest", str(docs)], env=env).exit_code == 0
    hybrid = runner.invoke(
        app,
        ["-w", str(ws), "ask", question, "--route", "hybrid", "--model", "facts", "--json"],
        env=env,
    )
    assert hybrid.exit_code == 0, hybrid.output
    out = json.loads(hybrid.stdout)
    assert out["route"] == "hybrid" and out["hits"][0]["doc_id"] == "dog.md"
    assert "Sources:" in out["prompts"][0][1]["content"]

    auto = runner.invoke(
        app,
        ["-w", str(ws), "ask", "Write a note about the office dog", "--route", "auto", "--json"],
        env=env,
    )
    assert auto.exit_code == 0, auto.output
    out = json.loads(auto.stdout)
    assert out["route"] == "finetuned", out["reason"]
