"""``expertly finetune``: the fine-tuning group. ``finetune run`` (in ``cli/finetune_run.py``)
trains a LoRA adapter or a whole model on a JSONL dataset (``expertly finetune DATA`` is short
for it), ``export`` writes a run as a standalone model, ``models`` lists them; ``embedder`` and
``reranker`` (in ``cli/encoders.py``) adapt the retrieval models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from expertly.cli import encoders
from expertly.cli.common import (
    console,
    deprecated_command,
    err_console,
    handle_errors,
    print_json,
    workspace,
)
from expertly.cli.finetune_run import run
from expertly.errors import ExpertlyError

if TYPE_CHECKING:
    from typer._click.core import Context  # typer 0.29 vendors click


class _RunByDefault(TyperGroup):
    """A group whose first word, when it names no sub-command, is the start of ``run``'s
    arguments: ``expertly finetune qa.jsonl --max-steps 5`` is ``finetune run qa.jsonl ...``
    (the form before fine-tuning became a group)."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


finetune_app = typer.Typer(
    name="finetune",
    cls=_RunByDefault,
    help=(
        "Fine-tune models on your data: the language model (run), the retrieval models "
        "(embedder, reranker), and manage the results (models, export).\n\n"
        "\b\n"
        "  expertly finetune run qa.jsonl --max-steps 200   # or: expertly finetune qa.jsonl\n"
        "  expertly finetune models\n"
        "  expertly finetune export RUN --merge\n"
        "  expertly finetune embedder --synthesize\n"
        "  expertly finetune reranker pairs.jsonl\n\n"
        "See docs/finetuning.md."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


@handle_errors
def export(
    run: Annotated[
        str, typer.Argument(help="Run name (see `expertly finetune models`).", metavar="RUN")
    ],
    merge: Annotated[
        bool, typer.Option("--merge", help="Fold the adapter into the base weights.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output directory (default: <workspace>/exports/<run>-merged).",
            file_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write a fine-tuned run as a standalone Hugging Face model directory.

    --merge folds a LoRA, QLoRA or AdaLoRA adapter into the base model's weights
    (merge_and_unload) and writes weights, config, generation config and tokenizer, which
    plain transformers (AutoModelForCausalLM.from_pretrained) or any server can load.
    Prefix tuning cannot be merged. The directory is written atomically.

    \b
    Examples:
      expertly finetune export hr-v1 --merge
      expertly finetune export hr-v1 --merge --out /srv/models/hr-v1
    """
    from expertly.finetune.export import export_merged

    if not merge:
        raise ExpertlyError("Say how to export: --merge (the one export expertly offers)")
    ws = workspace()
    run_dir = ws.root / "runs" / run
    target = out if out is not None else ws.root / "exports" / f"{run}-merged"
    with err_console.status(f"Merging {run} into its base model"):
        result = export_merged(run_dir, target, models_dir=ws.models_dir)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"[bold]{result.run}[/] ({result.method}) merged into {escape(result.path)} "
        f"in {result.seconds:.1f} s"
    )


@handle_errors
def models_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the workspace's fine-tuned models: runs and merged exports.

    Each has a name (for `expertly ask --model NAME`), its method, base model, creation
    time, best validation loss, path and status (finished, early_stopping, max_minutes,
    incomplete; exports: ready or missing). Nothing is loaded.

    \b
    Examples:
      expertly finetune models
      expertly finetune models --json
    """
    from expertly.finetune.registry import list_models

    rows = list_models(workspace(write=False).root)
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
        console.print("No fine-tuned models yet: expertly finetune run DATA.jsonl")
        return
    table = Table("name", "method", "base", "created", "val loss", "status", "path")
    for r in rows:
        val = "-" if r.val_loss is None else f"{r.val_loss:.3f}"
        method = f"{r.method} (merged)" if r.kind == "merged" else r.method
        table.add_row(
            escape(r.name), method, escape(r.base), r.created[:19], val, r.status, escape(r.path)
        )
    console.print(table)


DEPRECATED = (
    ("finetune-embedder", "finetune embedder", encoders.embedder),
    ("finetune-reranker", "finetune reranker", encoders.reranker),
    ("export", "finetune export", export),
    ("models", "finetune models", models_list),
)
"""The top-level names these commands had before the group, kept (hidden) for one release."""


def register(app: typer.Typer) -> None:
    finetune_app.command("run")(run)
    finetune_app.command("embedder")(encoders.embedder)
    finetune_app.command("reranker")(encoders.reranker)
    finetune_app.command("export")(export)
    finetune_app.command("models")(models_list)
    app.add_typer(finetune_app, name="finetune")
    for old, new, func in DEPRECATED:
        app.command(old, hidden=True, help=f"Deprecated: use `expertly {new}`.")(
            deprecated_command(func, old, new)
        )
