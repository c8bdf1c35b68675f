"""``expertly finetune run``: fine-tune the workspace's language model on a JSONL dataset.

The command trains in this process, or starts ``--processes`` data-parallel processes
(``finetune.launch``); either way the finished run is reported the same way, as JSON or as
the summary of ``cli/run_summary.py``. The group it belongs to, and the other fine-tuning
commands, are ``cli/finetune.py``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from expertly.cli.common import handle_errors, print_json, progress_bar, workspace
from expertly.cli.run_summary import print_run_summary
from expertly.errors import ExpertlyError

if TYPE_CHECKING:
    from expertly.finetune.callbacks import Progress as StepProgress


@handle_errors
def run(
    data: Annotated[
        Path,
        typer.Argument(
            help="Training data: JSONL in chat, instruction or completion form.",
            metavar="DATA",
            exists=True,
            dir_okay=False,
        ),
    ],
    val: Annotated[
        Path | None,
        typer.Option(
            "--val",
            help="Validation JSONL (default: hold out --val-fraction).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    val_fraction: Annotated[
        float | None, typer.Option("--val-fraction", help="Share held out for validation.")
    ] = None,
    method: Annotated[
        str, typer.Option(help="lora | qlora (4-bit base) | adalora | prefix | full.")
    ] = "lora",
    name: Annotated[
        str | None,
        typer.Option(help="Run name: <workspace>/runs/<name> (default: method + time)."),
    ] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the data.")] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="Optimiser steps (overrides --epochs).")
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Examples per step over all processes; each of --processes trains "
            "batch-size / processes of them.",
        ),
    ] = None,
    max_seq_len: Annotated[
        int | None,
        typer.Option("--max-seq-len", min=1, help="Tokens per example (longer are cut)."),
    ] = None,
    lora_r: Annotated[int | None, typer.Option("--lora-r", min=1, help="LoRA rank.")] = None,
    prefix_tokens: Annotated[
        int | None,
        typer.Option("--prefix-tokens", min=1, help="Virtual tokens learned by prefix tuning."),
    ] = None,
    forgetting_check: Annotated[
        bool,
        typer.Option(
            "--forgetting-check/--no-forgetting-check",
            help="Measure general-text perplexity and general-question accuracy before and "
            "after training (a few seconds per measurement).",
        ),
    ] = True,
    gradient_checkpointing: Annotated[
        bool,
        typer.Option(
            "--gradient-checkpointing", help="Recompute activations: less memory, slower steps."
        ),
    ] = False,
    eval_every: Annotated[
        int | None,
        typer.Option("--eval-every", min=1, help="Steps between evaluations/checkpoints."),
    ] = None,
    group_by_length: Annotated[
        bool,
        typer.Option("--group-by-length", help="Batch examples of similar length (less padding)."),
    ] = False,
    packing: Annotated[
        bool,
        typer.Option(
            "--packing",
            help="Pack whole examples into rows of --max-seq-len; no attention across them.",
        ),
    ] = False,
    head_on_labels: Annotated[
        bool,
        typer.Option(
            "--head-on-labels/--all-positions",
            help="Output layer and loss only where there is a label (the answer's tokens): "
            "the same loss, 1.1x tokens/s on a 2-core CPU; --all-positions runs them everywhere.",
        ),
    ] = True,
    fast_dropout: Annotated[
        bool,
        typer.Option(
            "--fast-dropout/--torch-dropout",
            help="CPU: draw LoRA's dropout masks from numpy's PCG64 (the same distribution, "
            "1.1x tokens/s on a 2-core CPU); --torch-dropout uses torch's generator.",
        ),
    ] = True,
    precision: Annotated[
        str | None,
        typer.Option(
            help="auto (bf16 or fp16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16 (CUDA only)."
        ),
    ] = None,
    optimizer: Annotated[
        str | None,
        typer.Option(help="auto | adamw_torch | adamw_torch_fused (auto: fused where possible)."),
    ] = None,
    auto_batch_size: Annotated[
        bool,
        typer.Option(
            "--auto-batch-size",
            help="CUDA: largest micro-batch that fits; accumulate to keep the batch asked for.",
        ),
    ] = False,
    base_model: Annotated[
        str | None,
        typer.Option(
            "--base-model", help="HF model dir or .gguf file (default: the workspace's llm.model)."
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue the run (--name, or the latest) from its last checkpoint."
        ),
    ] = False,
    max_minutes: Annotated[
        float | None,
        typer.Option("--max-minutes", help="Stop cleanly after this long (resume later)."),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            help="Data-parallel training processes (one per GPU; on CPU they share the cores).",
        ),
    ] = 1,
    launcher: Annotated[
        str,
        typer.Option(
            help="What starts the --processes: accelerate (accelerate launch) | torchrun.",
        ),
    ] = "accelerate",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run's metrics as JSON.")
    ] = False,
) -> None:
    """Fine-tune the workspace's model on your data (PEFT adapter or full model).

    Only the assistant's tokens are learned. Checkpoints are written every --eval-every
    steps; after an interruption, the same command with --resume continues. Early stopping
    watches the validation loss. The result lands in <workspace>/runs/<name>/ with its
    metrics and a loss curve (loss.png). The forgetting check compares the model's
    general-text perplexity and general-question accuracy before and after training and
    warns when they worsen past finetune limits. torch's CPU threads follow llm.threads
    (EXPERTLY_LLM__THREADS).

    --processes N trains data-parallel (DDP: nccl on GPUs, gloo on CPU): every process holds
    the model and trains batch-size / N examples of every step, so the effective batch
    (batch-size x gradient accumulation) and the result are those of one process. Rank 0
    alone writes the run; an error on any process stops them all. `accelerate launch -m
    expertly finetune run ...` and `torchrun -m expertly ...` work too. See docs/scaling.md.

    \b
    Examples:
      expertly finetune run qa.jsonl --max-steps 200
      expertly finetune run qa.jsonl --method qlora --gradient-checkpointing
      expertly finetune run qa.jsonl --val dev.jsonl --method full --lr 2e-5
      expertly finetune run qa.jsonl --name hr-v1 --resume
      expertly finetune run qa.jsonl --processes 4 --batch-size 32
      expertly finetune export hr-v1 --merge
    """
    from expertly.finetune.config import FinetuneSettings
    from expertly.finetune.trainer import run_finetune

    settings = FinetuneSettings.preset(
        method,
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=lr,
        batch_size=batch_size,
        max_seq_len=max_seq_len,
        lora_r=lora_r,
        eval_every=eval_every,
        max_minutes=max_minutes,
        val_fraction=val_fraction,
        prefix_tokens=prefix_tokens,
        forgetting_check=forgetting_check,
        gradient_checkpointing=gradient_checkpointing or None,
        group_by_length=group_by_length or None,
        packing=packing or None,
        head_on_labels=None if head_on_labels else False,
        fast_dropout=None if fast_dropout else False,
        precision=precision,
        optimizer=optimizer,
        auto_batch_size=auto_batch_size or None,
    )
    from expertly.finetune.distributed import from_env

    rank, launched, _ = from_env()
    if processes > 1 and launched > 1:
        raise ExpertlyError(
            f"This process is already one of {launched} started by a launcher; drop --processes "
            "(the launcher's process count is used)"
        )
    ws = workspace()
    base = ws.settings.llm.model if base_model is None else base_model
    if processes > 1:
        from expertly.finetune.launch import launch

        result = launch(
            data,
            settings=settings,
            runs_dir=ws.root / "runs",
            models_dir=ws.models_dir,
            processes=processes,
            launcher=launcher,
            base_model=base,
            val_path=val,
            name=name,
            resume=resume,
            threads=ws.settings.llm.threads,
        )
        _report(result.to_dict(), as_json=as_json)
        return
    with progress_bar(disable=as_json, loss=True) as bar:
        task = bar.add_task("Loading", total=None, loss="")

        def show(p: StepProgress) -> None:
            text = f"loss {p.loss:.3f}" if p.loss is not None else ""
            if p.val_loss is not None:
                text = f"val loss {p.val_loss:.3f}"
            bar.update(task, description="Training", completed=p.step, total=p.max_steps, loss=text)

        result = run_finetune(
            data,
            settings=settings,
            runs_dir=ws.root / "runs",
            models_dir=ws.models_dir,
            base_model=base,
            val_path=val,
            name=name,
            resume=resume,
            threads=ws.settings.llm.threads,
            on_progress=show,
        )
    if rank != 0:  # started by accelerate launch / torchrun: rank 0 reports the run
        return
    _report(result.to_dict(), as_json=as_json)


def _report(summary: dict[str, Any], *, as_json: bool) -> None:
    """Print a finished run's metrics (``RunResult.to_dict()``): as JSON, or the summary."""
    if as_json:
        print_json(summary)
        return
    print_run_summary(summary)
