"""``expertly dataset``: training data synthesized from the workspace's documents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from expertly.cli.common import console, handle_errors, print_json, progress_bar, workspace
from expertly.errors import ConfigError

TEACHERS = ("local", "openai")

dataset_app = typer.Typer(
    help="Build fine-tuning datasets from the indexed documents.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@dataset_app.command("build")
@handle_errors
def build(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for train.jsonl, val.jsonl and report.json.")
    ],
    teacher: Annotated[
        str | None,
        typer.Option(
            help="Have an LLM write the pairs: local (the workspace's llm) or openai "
            "(an OpenAI-compatible endpoint). Default: the offline generator, no model."
        ),
    ] = None,
    teacher_url: Annotated[
        str | None,
        typer.Option("--teacher-url", help="Base URL of the teacher endpoint (--teacher openai)."),
    ] = None,
    teacher_model: Annotated[
        str | None,
        typer.Option("--teacher-model", help="Model name the teacher endpoint serves."),
    ] = None,
    max_pairs: Annotated[
        int, typer.Option("--max-pairs", help="Most pairs written (train + val); 0 = all.")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the sample and the split.")] = 42,
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", help="Share of pairs held out for validation.")
    ] = 0.1,
    split: Annotated[
        str,
        typer.Option(help="doc (a document's pairs stay on one side) | question."),
    ] = "doc",
    eval_file: Annotated[
        Path | None,
        typer.Option(
            "--eval",
            help="Evaluation questions (JSONL with 'question', optional 'answer'): "
            "overlapping pairs are removed and reported.",
        ),
    ] = None,
    near_duplicate: Annotated[
        float,
        typer.Option(
            "--near-duplicate", help="Question-word Jaccard at which two questions are one."
        ),
    ] = 0.9,
    style: Annotated[
        str | None,
        typer.Option(
            help="Answer template, e.g. 'Answer: {answer}\\nSource: {source}', or a file "
            "holding one. Fields: {answer} {question} {source} {title} {span}."
        ),
    ] = None,
    system: Annotated[
        str, typer.Option(help="System message put before every question (default none).")
    ] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
) -> None:
    """Synthesize question/answer pairs from the indexed documents for `expertly finetune`.

    The offline generator needs no model: table rows, definitions ("X is Y", "X: Y") and
    section openings become questions whose answers quote the document. --teacher has an
    LLM write them instead; only answers grounded in the chunk (its figures and most of its
    words appear there) are kept. Duplicates and near-duplicates are removed, pairs that
    overlap --eval questions too (and are listed), and the rest is split by document.

    \b
    Examples:
      expertly dataset build --out data/
      expertly dataset build --out data/ --eval questions.jsonl --max-pairs 300
      expertly dataset build --out style/ --style 'Answer: {answer}\\nSource: {source}'
      expertly dataset build --out data/ --teacher openai \\
          --teacher-url http://localhost:11434/v1 --teacher-model llama3.1:8b
      expertly finetune data/train.jsonl --val data/val.jsonl
    """
    from expertly.finetune.build import BuildOptions, build_dataset

    options = BuildOptions(
        max_pairs=max_pairs,
        seed=seed,
        val_fraction=val_fraction,
        split=split,
        near_duplicate=near_duplicate,
        eval_path=eval_file,
        style=_style(style),
        system=system,
    )
    if max_pairs < 0:
        raise ConfigError("--max-pairs must be >= 0 (0 = no limit)")
    ws = workspace()
    llm = _teacher(ws, teacher, teacher_url, teacher_model)
    with progress_bar(disable=as_json) as bar:
        task = bar.add_task("Reading chunks", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = build_dataset(ws.store, out, options, teacher=llm, on_progress=show)
    summary = report.to_dict()
    if as_json:
        print_json(summary)
        return
    _print_summary(summary)


def _style(value: str | None) -> str:
    """A template given inline, or read from a file; ``\\n`` typed on a shell means newline."""
    if not value:
        return ""
    path = Path(value)
    if "{" not in value and path.is_file():
        return path.read_text(encoding="utf-8").rstrip("\n")
    return value.replace("\\n", "\n")


def _teacher(ws: Any, teacher: str | None, url: str | None, model: str | None) -> Any:
    """The LLM that writes pairs, or None for the offline generator."""
    if teacher is None:
        if url or model:
            raise ConfigError("--teacher-url and --teacher-model need --teacher openai")
        return None
    if teacher not in TEACHERS:
        raise ConfigError(f"--teacher {teacher!r} is not valid; choose one of: local, openai")
    if teacher == "local":
        return ws.llm
    llm = ws.settings.llm
    same = llm.backend == "openai"
    return ws.llm_with(
        backend="openai",
        base_url=url or (llm.base_url if same else ""),
        model=model or (llm.model if same else ""),
    )


def _print_summary(s: dict[str, Any]) -> None:
    console.print(
        f"[bold]{s['train']}[/] train and [bold]{s['val']}[/] validation pairs from "
        f"{s['chunks']} chunks: {s['generated']} generated, {s['duplicates_removed']} "
        f"duplicates and {s['leaked_removed']} leaked into the evaluation set removed"
        + (f", {s['sampled_out']} left out by --max-pairs" if s["sampled_out"] else ""),
        soft_wrap=True,
    )
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(s["by_kind"].items()))
    console.print(f"  by generator: {kinds}")
    if s["teacher"]:
        t = s["teacher"]
        rejected = ", ".join(f"{k}: {v}" for k, v in t["rejected"].items()) or "none"
        console.print(
            f"  teacher: {t['calls']} calls, {t['kept']} pairs kept, "
            f"{t['bad_replies']} replies without valid JSON, rejected: {rejected}"
        )
    for leak in s["leaked"]:
        console.print(
            f"  [yellow]leaked[/] ({leak['reason']}, eval {escape(str(leak['eval_id']))}): "
            f"{escape(leak['question'])}",
            soft_wrap=True,
        )
    console.print(f"  files: {', '.join(s['files'].values())}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(dataset_app, name="dataset")
