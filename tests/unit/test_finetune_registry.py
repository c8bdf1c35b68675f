"""The model registry (runs and exports by name), export's refusals and
`expertly finetune models`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.errors import ExpertlyError, ModelNotFoundError
from expertly.finetune.export import MARKER, export_merged
from expertly.finetune.registry import ModelRef, list_models, resolve_model
from expertly.generate.local import TransformersLLM


def make_run(
    root: Path,
    name: str,
    method: str = "lora",
    *,
    created: str,
    status: str = "finished",
    output: bool = True,
    base: str = "/models/base",
    val: list[Any] | None = None,
) -> Path:
    run = root / "runs" / name
    run.mkdir(parents=True)
    config = {"name": name, "created": created, "settings": {"method": method}, "base_model": base}
    (run / "config.json").write_text(json.dumps(config))
    metrics = {"status": status, "val_loss": val if val is not None else [[0, 2.5], [4, 1.25]]}
    (run / "metrics.json").write_text(json.dumps(metrics))
    if output:
        folder = run / ("model" if method == "full" else "adapter")
        folder.mkdir()
        marker = "config.json" if method == "full" else "adapter_config.json"
        (folder / marker).write_text("{}")
    return run


def make_export(folder: Path, run: str, created: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    marker = {"run": run, "method": "lora", "base_model": "", "created": created}
    (folder / MARKER).write_text(json.dumps(marker))
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    make_run(root, "hr-v1", created="2026-01-01T10:00:00")
    make_run(root, "hr-full", "full", created="2026-01-02T10:00:00", base="")
    make_run(root, "broken", created="2026-01-03T10:00:00", status="running", output=False)
    make_export(root / "exports" / "hr-v1-merged", "hr-v1", "2026-01-04T10:00:00")
    run = make_run(root, "prefix-1", "prefix", created="2025-12-31T10:00:00", val=[])
    outside = make_export(tmp_path / "elsewhere" / "served", "prefix-1", "2025-12-31T11:00:00")
    (run / "exports.json").write_text(json.dumps({"paths": [str(outside), "/gone/old-export"]}))
    return root


def test_list_models_reads_runs_and_exports(root: Path) -> None:
    rows = {r.name: r for r in list_models(root)}
    assert [r.name for r in list_models(root)][:2] == ["old-export", "prefix-1"]  # by created
    assert set(rows) == {"hr-v1", "hr-full", "broken", "hr-v1-merged", "prefix-1", "served"} | {
        "old-export"
    }
    assert rows["hr-v1"].val_loss == 1.25 and rows["hr-v1"].status == "finished"
    assert rows["hr-v1"].base == "base" and rows["hr-full"].base.startswith("SmolLM2")
    assert rows["prefix-1"].val_loss is None  # no validation data
    assert rows["broken"].status == "incomplete" and not rows["broken"].usable
    assert rows["hr-v1-merged"].kind == "merged" and rows["hr-v1-merged"].status == "ready"
    assert rows["served"].run == "prefix-1" and rows["old-export"].status == "missing"
    assert list_models(root.parent / "empty") == []


def test_resolve_model_by_name_or_newest(root: Path) -> None:
    ref = resolve_model(root, "hr-v1")
    assert ref == ModelRef(
        "hr-v1", "adapter", "lora", "/models/base", str(root / "runs/hr-v1/adapter")
    )
    assert ref.model == "/models/base" and ref.adapter == ref.path
    full = resolve_model(root, "hr-full")
    assert full.kind == "model" and full.model == full.path and full.adapter is None
    newest = resolve_model(root)  # the export of 2026-01-04; "broken" is skipped
    assert newest.name == "hr-v1-merged" and newest.kind == "merged" and newest.adapter is None
    with pytest.raises(ExpertlyError, match=r"No fine-tuned model named 'nope'.*known: .*hr-v1"):
        resolve_model(root, "nope")
    with pytest.raises(ExpertlyError, match="'broken' is incomplete"):
        resolve_model(root, "broken")
    with pytest.raises(ExpertlyError, match="train one with `expertly finetune"):
        resolve_model(root.parent / "empty")


def test_models_command_lists_as_table_and_json(root: Path) -> None:
    result = CliRunner().invoke(app, ["-w", str(root), "finetune", "models", "--json"])
    assert result.exit_code == 0, result.output
    listed = {row["name"]: row for row in json.loads(result.stdout)}
    assert listed["hr-v1"]["method"] == "lora" and listed["hr-v1"]["val_loss"] == 1.25
    table = CliRunner().invoke(app, ["-w", str(root), "finetune", "models"], env={"COLUMNS": "200"})
    assert (
        table.exit_code == 0 and "hr-v1-merged" in table.output and "lora (merged)" in table.output
    )
    empty = CliRunner().invoke(app, ["-w", str(root.parent / "new"), "finetune", "models"])
    assert empty.exit_code == 0 and "No fine-tuned models yet" in empty.output


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ("prefix-1", "cannot be merged.*expertly ask --model prefix-1"),
        ("hr-full", "already a standalone model"),
        ("broken", "no finished adapter"),
        ("absent", "not a fine-tuning run"),
    ],
)
def test_export_refuses_what_cannot_be_merged(root: Path, run: str, message: str) -> None:
    out = root / "exports" / "x"
    with pytest.raises(ExpertlyError, match=message):
        export_merged(root / "runs" / run, out, models_dir=root / "models")
    assert not out.exists()


def test_export_needs_merge_flag(root: Path) -> None:
    result = CliRunner().invoke(app, ["-w", str(root), "finetune", "export", "hr-v1"])
    assert result.exit_code == 1 and "--merge" in result.output


def test_transformers_llm_takes_an_adapter_or_a_ref(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    adapter = tmp_path / "runs" / "hr" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    ref = ModelRef("hr", "adapter", "lora", str(base), str(adapter))
    llm = TransformersLLM.from_ref(ref, cache_dir=tmp_path)  # nothing is loaded yet
    assert llm.adapter == adapter.resolve() and llm.name == "base+hr"
    with pytest.raises(ModelNotFoundError, match="not a PEFT adapter directory"):
        TransformersLLM(str(base), cache_dir=tmp_path, adapter=tmp_path)


def test_a_resumed_run_keeps_its_creation_time(tmp_path: Path) -> None:
    from expertly.finetune.rundir import prepare_run_dir

    run = tmp_path / "runs" / "r"
    config = {"name": "r", "created": "2026-01-01T10:00:00", "train": {"sha256": "a"}}
    prepare_run_dir(run, config, resume=False)
    prepare_run_dir(run, {**config, "created": "2026-02-02T10:00:00"}, resume=True)
    assert json.loads((run / "config.json").read_text())["created"] == "2026-01-01T10:00:00"


def test_training_documents_come_from_the_runs_training_data(tmp_path: Path) -> None:
    from expertly.finetune.registry import training_documents

    root = tmp_path / "ws"
    run = make_run(root, "docs-1", created="2026-01-01T10:00:00")
    train = tmp_path / "train.jsonl"
    pairs = [
        {"messages": [], "metadata": {"doc_id": "handbook/leave.md"}},
        {"messages": [], "metadata": {"doc_id": "sales/prices.csv"}},
        {"messages": [], "metadata": {"doc_id": "handbook/leave.md"}},
        {"messages": []},
    ]
    train.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "train": {"path": str(train)}}))
    docs, where = training_documents(root, "docs-1")
    assert docs == ["handbook/leave.md", "sales/prices.csv"] and str(train) in where
    train.write_text(json.dumps({"prompt": "q", "completion": "a"}) + "\n")
    assert training_documents(root, "docs-1") == (
        [],
        f"the training data of docs-1 ({train}) names no documents",
    )
    train.unlink()
    docs, where = training_documents(root, "docs-1")
    assert docs == [] and "not there any more" in where
