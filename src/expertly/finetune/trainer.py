"""One fine-tuning run: validated data → transformers ``Trainer`` (+ PEFT) → a run dir.

A run lives in ``<runs_dir>/<name>/``::

    config.json      settings, data files and their hashes, base model, creation time,
                     the precision and optimiser chosen for the device
    metrics.json     status, train / validation loss history, steps, tokens/s, seconds,
                     trainable parameters, precision, batch split, packing, the
                     forgetting check and its warnings
    loss.png         train and validation loss against the step
    checkpoints/     transformers checkpoints (``--resume`` continues from the last one)
    adapter/         the PEFT adapter in standard format (lora, qlora, adalora, prefix), or
    model/           the whole trained model (method full)

The final output is written into a temporary directory and renamed into place, and
``metrics.json`` is replaced atomically, so a run that dies never leaves a half-written
output where a finished one is expected. Data is validated before any model is loaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expertly.config.hub import offline_hub
from expertly.config.threads import threads_for
from expertly.errors import ExpertlyError, MissingDependencyError
from expertly.finetune import datasets, device, forgetting, methods, packing
from expertly.finetune.callbacks import (
    ProgressFn,
    adalora_callback,
    loss_target_callback,
    progress_callback,
    time_limit_callback,
)
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.rundir import (
    default_run_name,
    last_checkpoint,
    latest_run,
    read_initial,
    save_atomically,
    step_of,
    tokens_seen,
    write_json,
)
from expertly.finetune.rundir import prepare_run_dir as _prepare_run_dir
from expertly.generate import models

__all__ = ["RunResult", "last_checkpoint", "latest_run", "output_name", "run_finetune"]


def output_name(method: str) -> str:
    """The run's output folder: ``model`` for full fine-tuning, else ``adapter``."""
    return "model" if method == "full" else "adapter"


@dataclass
class RunResult:
    """What a finished (or cleanly stopped) run produced; also the content of metrics.json."""

    name: str
    run_dir: str
    output_dir: str
    method: str
    status: str  # finished | early_stopping | max_minutes | loss_target
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
    base_model: str = ""
    trainable_params: int = 0
    total_params: int = 0
    forgetting: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    loss_plot: str = ""
    precision: dict[str, Any] = field(default_factory=dict)
    optimizer: str = ""
    batch_size: int = 0  # the micro-batch trained with (auto_batch_size may change it)
    grad_accum: int = 0
    packed_rows: int = 0  # rows the training examples were packed into (0: not packed)
    padding_share: float = 0.0  # share of the packed rows' token slots left empty

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


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
    init_adapter: Path | None = None,
) -> RunResult:
    """Train, write the run directory, and return its metrics (see the module docstring).

    ``threads`` > 0 sets torch's CPU threads of the training thread; 0 takes expertly's
    ``train`` default (every core, ``expertly.config.threads``). On a machine shared with
    other work, fewer threads than cores avoids the oversubscription that slows torch ~10x.
    ``init_adapter`` continues training an existing PEFT adapter of ``base_model`` (methods
    lora and prefix) instead of starting a fresh one; it is recorded in config.json.
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
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": settings.to_dict(),
        "base_model": base_model,
        "train": {"path": str(train_path), "sha256": datasets.file_digest(train_path)},
        "val": None
        if val_path is None
        else {"path": str(val_path), "sha256": datasets.file_digest(val_path)},
        "init_adapter": None if init_adapter is None else str(init_adapter),
    }
    # the device's choices are made (and an impossible one refused) before anything is written
    hardware = device.detect()
    precision = device.choose_precision(settings.precision, hardware)
    optimizer = device.choose_optimizer(settings.optimizer, hardware)
    config["precision"], config["optimizer"] = precision.to_dict(), optimizer
    source = models.resolve_model(base_model)
    folder = models.ready_dir(source, models_dir) or models.convert_gguf(source, models_dir)
    tok = _tokenizer(folder)
    # every example is encoded before the run directory exists: bad data writes nothing
    train_enc, truncated = datasets.encode_all(tok, train, settings.max_seq_len)
    val_enc, _ = datasets.encode_all(tok, val, settings.max_seq_len)
    rows = packing.pack(train_enc, settings.max_seq_len) if settings.packing else None
    checkpoint = _prepare_run_dir(run_dir, config, resume)
    steps = methods.planned_steps(len(train_enc) if rows is None else len(rows), settings)
    device.apply_tf32(precision)
    model = _model(folder, settings, threads, steps, init_adapter)
    notes: list[str] = []
    if settings.auto_batch_size and hardware.kind == "cuda":
        settings = _fit_batch(model, settings, tok, precision)
    elif settings.auto_batch_size:
        notes.append(f"auto_batch_size works on CUDA only; {hardware.kind} kept batch_size")
    before = (
        _baseline(model, tok, folder, settings, runs_dir) if settings.forgetting_check else None
    )

    stopped: list[str] = []
    trainer = _trainer(
        model,
        tok,
        run_dir,
        settings,
        _rows(train_enc) if rows is None else packing.rows_for_trainer(rows),
        val_enc,
        stopped,
        on_progress,
        _Choices(precision, optimizer, packed=rows is not None),
    )
    initial: list[tuple[int, float]] = []
    if val_enc and checkpoint is None:
        initial = [(0, float(trainer.evaluate()["eval_loss"]))]
        write_json(run_dir / "metrics.json", {"status": "running", "val_loss": initial})
    elif checkpoint is not None:
        initial = read_initial(run_dir)
    seen_before = tokens_seen(checkpoint)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - started

    output = run_dir / output_name(settings.method)
    save_atomically(trainer.model, tok, output)
    state = trainer.state
    tokens = int(state.num_input_tokens_seen) - seen_before
    steps_done = state.global_step - (step_of(checkpoint) or 0)
    watched = bool(val_enc) and settings.early_stopping_patience > 0
    early = watched and state.global_step < state.max_steps
    trainable, total = methods.trainable_parameters(trainer.model)
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
        resumed_from_step=step_of(checkpoint),
        base_model=base_model,
        trainable_params=trainable,
        total_params=total,
        precision=precision.to_dict(),
        optimizer=optimizer,
        batch_size=settings.batch_size,
        grad_accum=settings.grad_accum,
        packed_rows=0 if rows is None else len(rows),
        padding_share=0.0
        if rows is None
        else round(packing.padding_share(rows, settings.max_seq_len), 4),
    )
    result.warnings.extend(notes)
    if before is not None:
        check = forgetting.compare(
            before,
            forgetting.measure(trainer.model, tok),
            max_ppl_increase=settings.forgetting_max_ppl_increase,
            max_accuracy_drop=settings.forgetting_max_accuracy_drop,
        )
        result.forgetting = check.to_dict()
        result.warnings.extend(check.warnings)
    result.loss_plot = str(_plot(result, run_dir / "loss.png"))
    write_json(run_dir / "metrics.json", result.to_dict())
    return result


def _baseline(
    model: Any, tok: Any, folder: Path, settings: FinetuneSettings, runs_dir: Path
) -> forgetting.GeneralScore:
    """The base model's general score (adapter switched off, or before training), cached
    per base weights in ``runs_dir`` so that later runs from the same base skip it."""
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    key = {
        "base": str(folder.resolve()),
        "weights": [(w.name, w.stat().st_size, w.stat().st_mtime_ns) for w in weights],
        "4bit": settings.method == "qlora",
        "probes": forgetting.probe_digest(),
        "cuda": _has_cuda(),
    }

    def measure() -> forgetting.GeneralScore:
        with forgetting.base_model(model) as base:
            return forgetting.measure(base, tok)

    return forgetting.cached(runs_dir / ".forgetting-baseline.json", key, measure)


def _plot(result: RunResult, path: Path) -> Path | str:
    """The loss curve; a missing matplotlib only costs the picture, never the run."""
    from expertly.finetune.plots import loss_curve

    try:
        return loss_curve(
            result.train_loss, result.val_loss, path, title=f"{result.method} run {result.name}"
        )
    except MissingDependencyError as exc:
        result.warnings.append(f"No loss plot: {exc}")
        return ""


def _tokenizer(folder: Path) -> Any:
    """The base model's tokenizer, with a pad token (EOS) when it has none."""
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise MissingDependencyError("transformers", purpose="fine-tuning") from exc
    offline_hub()
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _model(
    folder: Path,
    settings: FinetuneSettings,
    threads: int,
    total_steps: int,
    init_adapter: Path | None,
) -> Any:
    """The trainable model for the method (see ``methods``), with threads and seed set."""
    import torch

    torch.set_num_threads(threads_for("train", threads))
    torch.manual_seed(settings.seed)
    if init_adapter is not None:
        return methods.continue_adapter(folder, settings, init_adapter)
    return methods.build_model(folder, settings, total_steps=total_steps)


def _fit_batch(
    model: Any, s: FinetuneSettings, tok: Any, precision: device.Precision
) -> FinetuneSettings:
    """``s`` with the largest micro-batch that fits on the CUDA device and the gradient
    accumulation that keeps ``batch_size * grad_accum`` (see ``device.split_batch``). The
    probe runs as training will: same precision, and gradient checkpointing when it is on
    (the Trainer would switch it on only later, and the probe would then pick too small a
    batch)."""
    import dataclasses

    import torch

    effective = s.batch_size * s.grad_accum
    if next(model.parameters()).device.type != "cuda":
        model.to(torch.device("cuda"))  # where the Trainer would move it anyway
    if s.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    probe = device.cuda_batch_probe(model, s.max_seq_len, int(tok.vocab_size), precision)
    fits = device.largest_fitting_batch(
        device.batch_candidates(effective), probe, device.is_cuda_oom
    )
    micro, accum = device.split_batch(effective, fits)
    return dataclasses.replace(s, batch_size=micro, grad_accum=accum)


@dataclass(frozen=True)
class _Choices:
    """What the device and the settings decided for the ``Trainer``."""

    precision: device.Precision
    optimizer: str
    packed: bool


def _trainer(
    model: Any,
    tok: Any,
    run_dir: Path,
    s: FinetuneSettings,
    train: list[dict[str, list[int]]],
    val: list[datasets.Encoded],
    stopped: list[str],
    on_progress: ProgressFn | None,
    choices: _Choices,
) -> Any:
    """A transformers ``Trainer`` configured from the settings, with our callbacks;
    ``train`` holds the rows to train on (``_rows`` or ``packing.rows_for_trainer``)."""
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
    extra: dict[str, Any] = {
        "warmup_ratio" if "warmup_ratio" in names else "warmup_steps": s.warmup_ratio
    }
    if s.gradient_checkpointing:  # renamed activation_checkpointing in transformers 5
        prefix = "activation" if "activation_checkpointing" in names else "gradient"
        extra[f"{prefix}_checkpointing"] = True
        extra[f"{prefix}_checkpointing_kwargs"] = {"use_reentrant": False}
    if s.group_by_length:  # transformers 5 names the sampler; 4.x had a flag
        if "train_sampling_strategy" in names:
            extra["train_sampling_strategy"] = "group_by_length"
        else:
            extra["group_by_length"] = True
    extra.update(choices.precision.training_arguments())  # bf16 / fp16 autocast flags
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
        optim=choices.optimizer,
        **extra,
    )
    callbacks = [time_limit_callback(s.max_minutes, stopped)] if s.max_minutes > 0 else []
    if s.stop_at_loss > 0:
        callbacks.append(loss_target_callback(s.stop_at_loss, stopped))
    if s.method == "adalora":
        callbacks.append(adalora_callback(lambda total: methods.adalora_schedule(total, s)))
    if has_val and s.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=s.early_stopping_patience))
    if on_progress is not None:
        callbacks.append(progress_callback(on_progress))
    trainer_class = _packed_trainer_class(Trainer) if choices.packed else Trainer
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=_rows(val) if has_val else None,
        data_collator=_collator(tok.pad_token_id, packed=choices.packed),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; we report progress
    return trainer


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _rows(encoded: list[datasets.Encoded]) -> list[dict[str, list[int]]]:
    return [{"input_ids": e.input_ids, "labels": e.labels} for e in encoded]


def _packed_trainer_class(trainer: type) -> type:
    """A ``Trainer`` subclass that counts the tokens of packed batches.

    Packed batches carry no ``attention_mask`` (see ``packing``), so the ``Trainer``'s own
    non-padding count would fall back to counting every slot, padding included; this one
    counts the real tokens from the positions instead.
    """
    if not hasattr(trainer, "_track_num_input_tokens"):
        raise ExpertlyError(
            "packing needs a transformers Trainer with _track_num_input_tokens (transformers "
            "5.x) to count the tokens of packed rows; upgrade transformers or turn packing off"
        )

    class PackedTrainer(trainer):
        def _track_num_input_tokens(self, inputs: dict[str, Any]) -> None:
            if "position_ids" not in inputs or "attention_mask" in inputs:
                super()._track_num_input_tokens(inputs)
                return
            import torch

            count = torch.as_tensor(
                packing.real_tokens(inputs["position_ids"]), device=self.args.device
            )
            self.state.num_input_tokens_seen += self.accelerator.gather(count).sum().item()

    return PackedTrainer


def _collator(pad_id: int, *, packed: bool = False) -> Any:
    """Right-pads a batch: pad tokens get attention 0 and label -100. Packed rows (with
    ``position_ids``) go to ``packing.collator``, which gives no attention mask; the
    validation rows of a packed run are unpacked and padded here."""
    pack_collate = packing.collator(pad_id) if packed else None

    def collate(rows: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        if pack_collate is not None and "position_ids" in rows[0]:
            return pack_collate(rows)

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
