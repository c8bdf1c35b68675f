"""One fine-tuning run: validated data → transformers ``Trainer`` (+ PEFT LoRA) → a run dir.

A run lives in ``<runs_dir>/<name>/``::

    config.json      settings, data files and their hashes, base model
    metrics.json     status, train / validation loss history, steps, tokens/s, seconds
    checkpoints/     transformers checkpoints (``--resume`` continues from the last one)
    adapter/         the LoRA adapter in standard PEFT format (method lora), or
    model/           the whole trained model (method full)

The final output is written into a temporary directory and renamed into place, and
``metrics.json`` is replaced atomically, so a run that dies never leaves a half-written
output where a finished one is expected. Data is validated before any model is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError, MissingDependencyError
from expertly.finetune import datasets
from expertly.finetune.callbacks import ProgressFn, progress_callback, time_limit_callback
from expertly.finetune.config import FinetuneSettings
from expertly.generate import models

OUTPUT_NAMES = {"lora": "adapter", "full": "model"}


@dataclass
class RunResult:
    """What a finished (or cleanly stopped) run produced; also the content of metrics.json."""

    name: str
    run_dir: str
    output_dir: str
    method: str
    status: str  # finished | early_stopping | max_minutes
    steps: int
    train_examples: int
    val_examples: int
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    val_loss: list[tuple[int, float]] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    tokens_per_s: float = 0.0
    seconds_per_step: float = 0.0
    truncated_examples: int = 0
    resumed_from_step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def default_run_name(method: str) -> str:
    return f"{method}-{time.strftime('%Y%m%d-%H%M%S')}"


def latest_run(runs_dir: Path) -> str:
    """The most recently modified run under ``runs_dir`` (for ``--resume`` without --name)."""
    runs = (
        [p for p in runs_dir.glob("*") if (p / "config.json").is_file()]
        if runs_dir.is_dir()
        else []
    )
    if not runs:
        raise ExpertlyError(f"No run to resume in {runs_dir}; start one without --resume")
    return max(runs, key=lambda p: p.stat().st_mtime).name


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint: the Trainer writes ``trainer_state.json`` last."""
    found = []
    for ckpt in (run_dir / "checkpoints").glob("checkpoint-*"):
        state = ckpt / "trainer_state.json"
        try:
            json.loads(state.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # died while saving: an older checkpoint is used instead
        found.append((int(ckpt.name.rsplit("-", 1)[1]), ckpt))
    return max(found)[1] if found else None


def run_finetune(
    train_path: Path,
    *,
    settings: FinetuneSettings,
    runs_dir: Path,
    models_dir: Path,
    base_model: str = "",
    val_path: Path | None = None,
    name: str | None = None,
    resume: bool = False,
    threads: int = 0,
    on_progress: ProgressFn | None = None,
) -> RunResult:
    """Train, write the run directory, and return its metrics (see the module docstring).

    ``threads`` > 0 sets torch's CPU threads (process-wide). On a machine shared with other
    work, fewer threads than cores avoids the oversubscription that slows torch ~10x.
    """
    examples = datasets.load_jsonl(train_path)
    if val_path is not None:
        train, val = examples, datasets.load_jsonl(val_path)
    else:
        train, val = datasets.split(examples, settings.val_fraction, settings.seed)
    if name is None:
        name = latest_run(runs_dir) if resume else default_run_name(settings.method)
    run_dir = runs_dir / name
    config = {
        "name": name,
        "settings": settings.to_dict(),
        "base_model": base_model,
        "train": {"path": str(train_path), "sha256": datasets.file_digest(train_path)},
        "val": None
        if val_path is None
        else {"path": str(val_path), "sha256": datasets.file_digest(val_path)},
    }
    source = models.resolve_model(base_model)
    folder = models.ready_dir(source, models_dir) or models.convert_gguf(source, models_dir)
    tok = _tokenizer(folder)
    # every example is encoded before the run directory exists: bad data writes nothing
    train_enc, truncated = datasets.encode_all(tok, train, settings.max_seq_len)
    val_enc, _ = datasets.encode_all(tok, val, settings.max_seq_len)
    checkpoint = _prepare_run_dir(run_dir, config, resume)
    model = _model(folder, settings, threads)

    stopped: list[str] = []
    trainer = _trainer(model, tok, run_dir, settings, train_enc, val_enc, stopped, on_progress)
    initial: list[tuple[int, float]] = []
    if val_enc and checkpoint is None:
        initial = [(0, float(trainer.evaluate()["eval_loss"]))]
        _write_json(run_dir / "metrics.json", {"status": "running", "val_loss": initial})
    elif checkpoint is not None:
        initial = _read_initial(run_dir)
    seen_before = _tokens_seen(checkpoint)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - started

    output = run_dir / OUTPUT_NAMES[settings.method]
    _save_atomically(trainer.model, tok, output)
    state = trainer.state
    tokens = int(state.num_input_tokens_seen) - seen_before
    steps_done = state.global_step - (_step_of(checkpoint) or 0)
    watched = bool(val_enc) and settings.early_stopping_patience > 0
    early = watched and state.global_step < state.max_steps
    result = RunResult(
        name=name,
        run_dir=str(run_dir),
        output_dir=str(output),
        method=settings.method,
        status=stopped[0] if stopped else "early_stopping" if early else "finished",
        steps=state.global_step,
        train_examples=len(train_enc),
        val_examples=len(val_enc),
        train_loss=[(h["step"], h["loss"]) for h in state.log_history if "loss" in h],
        val_loss=initial
        + [(h["step"], h["eval_loss"]) for h in state.log_history if "eval_loss" in h],
        tokens=tokens,
        seconds=round(seconds, 2),
        tokens_per_s=round(tokens / seconds, 1) if seconds > 0 else 0.0,
        seconds_per_step=round(seconds / steps_done, 3) if steps_done > 0 else 0.0,
        truncated_examples=truncated,
        resumed_from_step=_step_of(checkpoint),
    )
    _write_json(run_dir / "metrics.json", result.to_dict())
    return result


def _prepare_run_dir(run_dir: Path, config: dict[str, Any], resume: bool) -> Path | None:
    """Create a new run dir, or check a resumed one; return the checkpoint to resume from."""
    if not resume:
        if run_dir.exists():
            raise ExpertlyError(
                f"The run {run_dir} already exists: add --resume to continue it, or choose "
                "another --name"
            )
        run_dir.mkdir(parents=True)
        _write_json(run_dir / "config.json", config)
        return None
    saved_path = run_dir / "config.json"
    if not saved_path.is_file():
        raise ExpertlyError(f"No run to resume at {run_dir}; start it without --resume")
    saved = json.loads(saved_path.read_text(encoding="utf-8"))
    for key in ("train", "val"):
        if (saved.get(key) or {}).get("sha256") != (config.get(key) or {}).get("sha256"):
            raise datasets.DatasetError(
                f"The {key} data differs from the data run {run_dir.name} started with; "
                "resume with the same files or start a new run"
            )
    _write_json(saved_path, config)  # the settings this continuation uses
    return last_checkpoint(run_dir)


def _tokenizer(folder: Path) -> Any:
    """The base model's tokenizer, with a pad token (EOS) when it has none."""
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError("transformers", purpose="fine-tuning") from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _model(folder: Path, settings: FinetuneSettings, threads: int) -> Any:
    """The base model in fp32: fully trainable, or frozen under a fresh LoRA adapter."""
    import torch
    from transformers import AutoModelForCausalLM

    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(settings.seed)
    model: Any = AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, local_files_only=True
    )
    if settings.method == "lora":
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError as exc:
            raise MissingDependencyError("peft", "finetune", "LoRA fine-tuning") from exc
        targets: Any = settings.target_modules
        if targets == ["all-linear"]:
            targets = "all-linear"
        lora = LoraConfig(
            task_type="CAUSAL_LM",
            r=settings.lora_r,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules=targets,
        )
        model = get_peft_model(model, lora)
    return model


def _trainer(
    model: Any,
    tok: Any,
    run_dir: Path,
    s: FinetuneSettings,
    train: list[datasets.Encoded],
    val: list[datasets.Encoded],
    stopped: list[str],
    on_progress: ProgressFn | None,
) -> Any:
    """A transformers ``Trainer`` configured from the settings, with our callbacks."""
    import dataclasses

    try:
        from transformers import (
            EarlyStoppingCallback,
            PrinterCallback,
            Trainer,
            TrainingArguments,
        )
    except ImportError as exc:  # Trainer needs accelerate
        raise MissingDependencyError("accelerate", "finetune", "the training loop") from exc
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    warmup: dict[str, Any] = {
        "warmup_ratio" if "warmup_ratio" in names else "warmup_steps": s.warmup_ratio
    }
    has_val = bool(val)
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum,
        learning_rate=s.learning_rate,
        num_train_epochs=s.epochs,
        max_steps=s.max_steps if s.max_steps > 0 else -1,
        lr_scheduler_type=s.scheduler,
        weight_decay=s.weight_decay,
        logging_steps=1,
        eval_strategy="steps" if has_val else "no",
        eval_steps=s.eval_every,
        save_strategy="steps",
        save_steps=s.eval_every,
        save_total_limit=2,
        load_best_model_at_end=has_val,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        seed=s.seed,
        data_seed=s.seed,
        report_to="none",
        disable_tqdm=True,
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        dataloader_pin_memory=_has_cuda(),
        **warmup,
    )
    callbacks = [time_limit_callback(s.max_minutes, stopped)] if s.max_minutes > 0 else []
    if has_val and s.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=s.early_stopping_patience))
    if on_progress is not None:
        callbacks.append(progress_callback(on_progress))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=_rows(train),
        eval_dataset=_rows(val) if has_val else None,
        data_collator=_collator(tok.pad_token_id),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; we report progress
    return trainer


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _rows(encoded: list[datasets.Encoded]) -> list[dict[str, list[int]]]:
    return [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]


def _collator(pad_id: int) -> Any:
    """Right-pads a batch: pad tokens get attention 0 and label -100."""

    def collate(rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)

        def pad(key: str, fill: int) -> Any:
            return torch.tensor([r[key] + [fill] * (width - len(r[key])) for r in rows])

        mask = [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows]
        return {
            "input_ids": pad("input_ids", pad_id),
            "labels": pad("labels", datasets.IGNORE),
            "attention_mask": torch.tensor(mask),
        }

    return collate


def _save_atomically(model: Any, tok: Any, target: Path) -> None:
    """Write the model (or adapter) beside ``target`` and rename it into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tmp.chmod(0o755)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if target.exists():  # a resumed run replaces its earlier output
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the original error is what matters
        raise


def _write_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically (write a temp file, then ``os.replace``)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _read_initial(run_dir: Path) -> list[tuple[int, float]]:
    """The pre-training validation loss recorded when the run started."""
    try:
        data = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    return [(int(s), float(v)) for s, v in data.get("val_loss", []) if int(s) == 0]


def _step_of(checkpoint: Path | None) -> int | None:
    return None if checkpoint is None else int(checkpoint.name.rsplit("-", 1)[1])


def _tokens_seen(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state.get("num_input_tokens_seen", 0))
