"""``expertly finetune export RUN --merge``: fold a run's adapter into its base model.

A LoRA, QLoRA or AdaLoRA adapter is a low-rank update ``B @ A`` of some weight matrices, so
it can be added into those matrices once (PEFT ``merge_and_unload``); the result is an
ordinary Hugging Face model directory (weights, config, generation config, tokenizer) that
plain ``transformers.AutoModelForCausalLM.from_pretrained`` loads and any server can run,
with no adapter overhead at inference. A QLoRA adapter is merged into the full-precision
base (the 4-bit copy was only a way to train with less memory). Prefix tuning cannot be
merged: its virtual tokens are extra attention inputs, not a change of any weight.

The export is written into a temporary directory and renamed into place; it is recorded in
the run's ``exports.json`` and marked by ``expertly-export.json`` so ``expertly finetune models``
lists it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError, MissingDependencyError
from expertly.finetune.config import MERGEABLE
from expertly.finetune.rundir import read_json, write_dir_atomically, write_json
from expertly.generate import models

MARKER = "expertly-export.json"


@dataclass(frozen=True)
class ExportResult:
    """What ``export_merged`` wrote."""

    run: str
    method: str
    base_model: str
    path: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_config(run_dir: Path) -> dict[str, Any]:
    """The run's config.json, or an error saying how to find a run."""
    config = read_json(run_dir / "config.json")
    if config is None:
        raise ExpertlyError(
            f"{run_dir} is not a fine-tuning run (no readable config.json); "
            "`expertly finetune models` lists the runs"
        )
    return config


def base_folder(base_model: str, models_dir: Path) -> Path:
    """The base model's HF directory (a GGUF base is converted once into ``models_dir``)."""
    source = models.resolve_model(base_model)
    return models.hf_dir(source, models_dir)


def export_merged(run_dir: Path, out: Path, *, models_dir: Path) -> ExportResult:
    """Merge ``run_dir``'s adapter into its base and write an HF model dir at ``out``."""
    config = run_config(run_dir)
    method = str(config.get("settings", {}).get("method", ""))
    if method == "full":
        raise ExpertlyError(
            f"Run {run_dir.name} is a full fine-tune: {run_dir / 'model'} is already a "
            "standalone model directory; use it as it is"
        )
    if method not in MERGEABLE:
        raise ExpertlyError(
            f"Run {run_dir.name} used method {method!r}, which cannot be merged into the "
            "weights (prefix tuning adds virtual tokens, not a weight update); serve it as "
            "base model + adapter instead: expertly ask --model " + run_dir.name
        )
    adapter = run_dir / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise ExpertlyError(
            f"Run {run_dir.name} has no finished adapter at {adapter}; finish it first "
            f"(expertly finetune ... --name {run_dir.name} --resume)"
        )
    try:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "peft", "finetune", "merging adapters") from exc
    started = time.perf_counter()
    base_model = str(config.get("base_model", ""))
    folder = base_folder(base_model, models_dir)
    base = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
    tok = AutoTokenizer.from_pretrained(adapter, local_files_only=True)
    marker = {
        "run": run_dir.name,
        "run_dir": str(run_dir.resolve()),
        "method": method,
        "base_model": base_model,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

    def fill(tmp: Path) -> None:
        merged.save_pretrained(tmp)  # config.json, generation_config.json, safetensors
        tok.save_pretrained(tmp)
        write_json(tmp / MARKER, marker)

    write_dir_atomically(out, fill)
    recorded = read_json(run_dir / "exports.json") or {}
    paths = [p for p in recorded.get("paths", []) if p != str(out.resolve())]
    write_json(run_dir / "exports.json", {"paths": [*paths, str(out.resolve())]})
    return ExportResult(
        run=run_dir.name,
        method=method,
        base_model=base_model,
        path=str(out),
        seconds=round(time.perf_counter() - started, 2),
    )
