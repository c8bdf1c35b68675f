"""The summary ``expertly finetune run`` prints after a run: losses, speed, the device's
choices and the batch split, the forgetting check and the warnings."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from expertly.cli.common import console


def _span(history: list[Any]) -> str:
    if not history:
        return "-"
    return f"{history[0][1]:.3f} → {history[-1][1]:.3f}"


def print_run_summary(s: dict[str, Any]) -> None:
    """The human-readable summary of a fine-tuning run's metrics (``RunResult.to_dict()``)."""
    resumed = f" (resumed at step {s['resumed_from_step']})" if s["resumed_from_step"] else ""
    console.print(
        f"[bold]{s['method']}[/] run [bold]{s['name']}[/] {s['status']}{resumed}: "
        f"{s['steps']} steps, {s['train_examples']} train / {s['val_examples']} val examples"
    )
    console.print(f"  train loss {_span(s['train_loss'])}   val loss {_span(s['val_loss'])}")
    console.print(
        f"  {s['seconds']:.1f} s, {s['seconds_per_step']:.2f} s/step, "
        f"{s['tokens_per_s']:.0f} tokens/s"
    )
    if s.get("precision"):
        packed = f", {s['packed_rows']} packed rows" if s.get("packed_rows") else ""
        console.print(
            f"  {s['precision']['name']} ({s['precision']['reason']}), {s['optimizer']}, "
            f"batch {s['batch_size']} x {s.get('processes', 1)} processes x "
            f"{s['grad_accum']} accumulated{packed}"
        )
    if s["total_params"]:
        share = s["trainable_params"] / s["total_params"]
        console.print(f"  trained {s['trainable_params']:,} of {s['total_params']:,} ({share:.2%})")
    if s["truncated_examples"]:
        console.print(f"  [yellow]{s['truncated_examples']} examples were cut to --max-seq-len[/]")
    check = s.get("forgetting")
    if check:
        b, a = check["before"], check["after"]
        console.print(
            f"  forgetting check: general perplexity {b['perplexity']:.2f} → {a['perplexity']:.2f}"
            f" ({check['perplexity_change']:+.1%}), general questions {b['correct']}/"
            f"{b['questions']} → {a['correct']}/{a['questions']}"
        )
    for warning in s.get("warnings", []):
        console.print(f"  [yellow]warning:[/] {escape(warning)}")
    console.print(f"  output: {s['output_dir']}")
    if s.get("loss_plot"):
        console.print(f"  loss curve: {s['loss_plot']}")
