"""One fine-tuning run: validated data → transformers ``Trainer`` (+ PEFT) → a run dir.

A run lives in ``<runs_dir>/<name>/``::

    config.json      settings, data files and their hashes, base model, creation time,
                     the precision and optimiser chosen for the device
    metrics.json     status, train / validation loss history, steps, tokens/s, seconds,
                     trainable parameters, precision, batch split, processes, packing,
                     the forgetting check and its warnings
    loss.png         train and validation loss against the step
    checkpoints/     transformers checkpoints (``--resume`` continues from the last one)
    adapter/         the PEFT adapter in standard format (lora, qlora, adalora, prefix), or
    model/           the whole trained model (method full)

The final output is written into a temporary directory and renamed into place, and
``metrics.json`` is replaced atomically, so a run that dies never leaves a half-written
output where a finished one is expected. Data is validated before any model is loaded.

On several processes (``expertly.finetune.distributed``) every process runs this same
function: each validates the data and trains its share of every batch, while rank 0 alone
chooses the run name, writes the run dir and the outputs and runs the forgetting check; the
others wait for it, and an error on any rank is raised on all of them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from expertly.config.hub import offline_hub
from expertly.config.threads import threads_for
from expertly.errors import MissingDependencyError
from expertly.finetune import datasets, device, distributed, forgetting, loss, methods, packing
from expertly.finetune.callbacks import ProgressFn
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.distributed import World, agree, on_main
from expertly.finetune.hf_trainer import (
    Choices,
    build_trainer,
    evaluate_before_training,
    has_cuda,
    rows,
)
from expertly.finetune.result import RunResult, output_name, plot
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
    world: World | None = None,
) -> RunResult:
    """Train, write the run directory, and return its metrics (see the module docstring).

    ``threads`` > 0 sets torch's CPU threads of the training thread; 0 takes expertly's
    ``train`` default (every core, ``expertly.config.threads``). On a machine shared with
    other work, fewer threads than cores avoids the oversubscription that slows torch ~10x.
    ``init_adapter`` continues training an existing PEFT adapter of ``base_model`` (methods
    lora and prefix) instead of starting a fresh one; it is recorded in config.json.
    ``world`` places this process in a run on several processes; None joins the launcher's
    process group when torchrun or accelerate launch started this process as one of
    several (``distributed.join``), and trains alone otherwise. ``settings.batch_size`` is
    split across the processes (``distributed.per_process``).
    """
    hardware = device.detect()
    if world is None:
        world = distributed.join(
            cuda=hardware.kind == "cuda", timeout_minutes=settings.dist_timeout_minutes
        )
    asked = settings
    settings = distributed.per_process(settings, world.size)  # the same error on every rank

    def load() -> tuple[list[datasets.Example], list[datasets.Example]]:
        examples = datasets.load_jsonl(train_path)
        if val_path is not None:
            return examples, datasets.load_jsonl(val_path)
        return datasets.split(examples, settings.val_fraction, settings.seed)

    train, val = agree(world, load)
    chosen = name or on_main(
        world, lambda: latest_run(runs_dir) if resume else default_run_name(settings.method)
    )
    run_dir = runs_dir / chosen
    config = {
        "name": chosen,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": asked.to_dict(),
        "processes": world.size,
        "base_model": base_model,
        "train": {"path": str(train_path), "sha256": datasets.file_digest(train_path)},
        "val": None
        if val_path is None
        else {"path": str(val_path), "sha256": datasets.file_digest(val_path)},
        "init_adapter": None if init_adapter is None else str(init_adapter),
    }
    # the device's choices are made (and an impossible one refused) before anything is written
    precision = device.choose_precision(settings.precision, hardware)
    optimizer = device.choose_optimizer(settings.optimizer, hardware)
    config["precision"], config["optimizer"] = precision.to_dict(), optimizer
    source = models.resolve_model(base_model)
    # a GGUF base is converted once, by rank 0
    folder = on_main(world, lambda: models.hf_dir(source, models_dir))

    def encode() -> tuple[Any, list[datasets.Encoded], int, list[datasets.Encoded]]:
        tok = _tokenizer(folder)
        train_enc, truncated = datasets.encode_all(tok, train, settings.max_seq_len)
        val_enc, _ = datasets.encode_all(tok, val, settings.max_seq_len)
        return tok, train_enc, truncated, val_enc

    # every example is encoded before the run directory exists: bad data writes nothing
    tok, train_enc, truncated, val_enc = agree(world, encode)
    packed = packing.pack(train_enc, settings.max_seq_len) if settings.packing else None
    checkpoint = on_main(world, lambda: _prepare_run_dir(run_dir, config, resume))
    steps = methods.planned_steps(len(train_enc) if packed is None else len(packed), asked)
    device.apply_tf32(precision)
    model = agree(world, lambda: _model(folder, settings, threads, steps, init_adapter))
    notes: list[str] = []
    why = settings.head_on_labels and loss.head_loss_problem(model, world.size)
    if why:
        notes.append(f"head_on_labels not used ({why}); logits at every position")
    if settings.auto_batch_size and hardware.kind == "cuda":
        settings = _fit_batch(model, settings, tok, precision, world)
    elif settings.auto_batch_size:
        notes.append(f"auto_batch_size works on CUDA only; {hardware.kind} kept batch_size")
    before = on_main(
        world,
        lambda: (
            _baseline(model, tok, folder, settings, runs_dir) if settings.forgetting_check else None
        ),
    )

    stopped: list[str] = []
    trainer = agree(
        world,
        lambda: build_trainer(
            model,
            tok,
            run_dir,
            settings,
            rows(train_enc) if packed is None else packing.rows_for_trainer(packed),
            val_enc,
            stopped,
            on_progress if world.is_main else None,
            Choices(precision, optimizer, packed=packed is not None),
            world,
        ),
    )
    initial: list[tuple[int, float]] = []
    if val_enc and checkpoint is None:
        initial = [(0, evaluate_before_training(trainer))]  # every rank: a collective
        on_main(
            world,
            lambda: write_json(
                run_dir / "metrics.json", {"status": "running", "val_loss": initial}
            ),
        )
    elif checkpoint is not None:
        initial = on_main(world, lambda: read_initial(run_dir))
    seen_before = tokens_seen(checkpoint)
    started = time.perf_counter()
    # a rank that fails in here cannot tell the others: the launcher stops them, and the
    # process group's timeout ends any wait that is left
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    seconds = time.perf_counter() - started

    output = run_dir / output_name(settings.method)
    on_main(world, lambda: save_atomically(trainer.model, tok, output))
    state = trainer.state
    tokens = int(state.num_input_tokens_seen) - seen_before
    steps_done = state.global_step - (step_of(checkpoint) or 0)
    watched = bool(val_enc) and settings.early_stopping_patience > 0
    early = watched and state.global_step < state.max_steps
    trainable, total = methods.trainable_parameters(trainer.model)
    result = RunResult(
        name=chosen,
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
        processes=world.size,
        effective_batch=settings.batch_size * world.size * settings.grad_accum,
        packed_rows=0 if packed is None else len(packed),
        padding_share=0.0
        if packed is None
        else round(packing.padding_share(packed, settings.max_seq_len), 4),
    )
    result.warnings.extend(notes)
    return on_main(world, lambda: _finish(result, before, trainer.model, tok, settings))


def _finish(
    result: RunResult,
    before: forgetting.GeneralScore | None,
    model: Any,
    tok: Any,
    settings: FinetuneSettings,
) -> RunResult:
    """The forgetting check, the loss plot and metrics.json (rank 0's part of the end)."""
    if before is not None:
        check = forgetting.compare(
            before,
            forgetting.measure(model, tok),
            max_ppl_increase=settings.forgetting_max_ppl_increase,
            max_accuracy_drop=settings.forgetting_max_accuracy_drop,
        )
        result.forgetting = check.to_dict()
        result.warnings.extend(check.warnings)
    result.loss_plot = str(plot(result, Path(result.run_dir) / "loss.png"))
    write_json(Path(result.run_dir) / "metrics.json", result.to_dict())
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
        "cuda": has_cuda(),
    }

    def measure() -> forgetting.GeneralScore:
        with forgetting.base_model(model) as base:
            return forgetting.measure(base, tok)

    return forgetting.cached(runs_dir / ".forgetting-baseline.json", key, measure)


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
        model = methods.continue_adapter(folder, settings, init_adapter)
    else:
        model = methods.build_model(folder, settings, total_steps=total_steps)
    if settings.fast_dropout:
        from expertly.finetune.dropout import use_fast_dropout

        use_fast_dropout(model)
    return model


def _fit_batch(
    model: Any, s: FinetuneSettings, tok: Any, precision: device.Precision, world: World
) -> FinetuneSettings:
    """``s`` with the largest micro-batch that fits on the CUDA device and the gradient
    accumulation that keeps ``batch_size * grad_accum`` (see ``device.split_batch``). The
    probe runs as training will: same precision, and gradient checkpointing when it is on
    (the Trainer would switch it on only later, and the probe would then pick too small a
    batch). On several processes each probes its own GPU and all take the smallest fit, so
    every rank accumulates the same number of micro-batches per step."""
    import dataclasses

    import torch

    effective = s.batch_size * s.grad_accum
    if next(model.parameters()).device.type != "cuda":
        model.to(torch.device("cuda"))  # where the Trainer would move it anyway
    if s.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    probe = device.cuda_batch_probe(model, s.max_seq_len, int(tok.vocab_size), precision)
    fits = agree(
        world,
        lambda: device.largest_fitting_batch(
            device.batch_candidates(effective), probe, device.is_cuda_oom
        ),
    )
    fits = distributed.smallest(world, fits)
    micro, accum = device.split_batch(effective, fits)
    return dataclasses.replace(s, batch_size=micro, grad_accum=accum)
