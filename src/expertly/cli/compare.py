"""``expertly compare`` (every route on the same questions, with intervals, as compare.json
and report.html) and ``expertly advise`` (which route to use, and why)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from expertly.cli.common import (
    console,
    err_console,
    handle_errors,
    print_json,
    progress_bar,
    workspace,
)

DEFAULT_ROUTES = "base,rag,finetuned,hybrid,agent,auto"


@handle_errors
def compare(
    questions: Annotated[
        Path,
        typer.Argument(
            help="Question set, JSON Lines: question, answers, optional relevant, kind, "
            "choices, id, seen, must_contain, pattern, update (docs/compare.md).",
            metavar="QUESTIONS.jsonl",
        ),
    ],
    routes: Annotated[
        str, typer.Option("--routes", help="Comma-separated routes to compare.")
    ] = DEFAULT_ROUTES,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Fine-tuned run for finetuned/hybrid (default: newest)."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Only the first N questions.")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for results.jsonl, compare.json, report.html.")
    ] = Path("compare-out"),
    trained_on: Annotated[
        list[str] | None,
        typer.Option(
            "--trained-on",
            help="A document (id or source path) the fine-tuning data came from; repeat. "
            "Questions on these documents are reported as 'seen'. Default: the documents "
            "named in the fine-tuned run's training data (as `expertly dataset build` writes it).",
        ),
    ] = None,
    price: Annotated[
        float | None,
        typer.Option(
            "--price-per-1k",
            help="Price per 1,000 tokens for the cost column (default agent.cost_per_1k_tokens; "
            "0 reports CPU-seconds).",
        ),
    ] = None,
    update_cost: Annotated[
        bool,
        typer.Option(
            "--update-cost",
            help="For volatile questions with an 'update': change the document on disk, "
            "re-ingest, ask every route again (the file is restored afterwards).",
        ),
    ] = False,
    train_minutes: Annotated[
        float,
        typer.Option(
            "--train-minutes",
            min=0,
            help="With --update-cost: retrain finetuned/hybrid routes that still give the old "
            "answer on the changed pairs for at most this long each (into OUT/retrained/), "
            "then ask again. 0 = do not retrain.",
        ),
    ] = 0.0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted compare in --out.")
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Questions a route answers together: the local model generates their replies "
            "in one padded batch (same greedy answers); each answer's latency is then the "
            "batch's time / its size. Default: what measured fastest — 8 for base and "
            "finetuned; for rag and hybrid 8 on a GPU, 1 on a CPU (long prompts batch badly "
            "there). 1 asks one by one. The agent and auto routes and multiple-choice "
            "questions are always asked one by one; a kill loses at most the batch in flight.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print compare.json's summary.")] = False,
) -> None:
    """Run every route on the same questions and report which wins, with 95% intervals.

    Writes OUT/results.jsonl (one record per question and route, as it goes), OUT/compare.json
    (every figure) and OUT/report.html. Kill it at any time; --resume continues.

    \b
    Examples:
      expertly compare examples/questions.jsonl --routes base,rag --out compare-out
      expertly compare examples/questions.jsonl --out compare-out --resume
      expertly compare examples/questions.jsonl --routes rag --batch-size 1
      expertly compare mine.jsonl --model lora-1 --trained-on handbook/leave.md --json
      expertly compare prices.jsonl --routes rag,finetuned --update-cost --train-minutes 2
    """
    from expertly.evaluate.compare import CompareError, parse_routes, run_compare
    from expertly.evaluate.questions import load_questions
    from expertly.evaluate.report import write_report
    from expertly.evaluate.summary import summarise
    from expertly.evaluate.update import measure_updates

    chosen = parse_routes(routes)
    if train_minutes > 0 and not update_cost:
        raise CompareError("--train-minutes retrains for the update cost: add --update-cost")
    ws = workspace()
    seen_from = "--trained-on" if trained_on else ""
    if not trained_on and {"finetuned", "hybrid"} & set(chosen):
        trained_on, seen_from = _training_documents(ws.root, model)
    qs = load_questions(questions, limit=limit, trained_on=trained_on or ())
    try:
        with progress_bar(disable=as_json) as bar:
            tasks = {r: bar.add_task(f"compare {r}", total=len(qs)) for r in chosen}

            def show(route: str, done: int, total: int) -> None:
                bar.update(tasks[route], completed=done, total=total)

            run = run_compare(
                ws,
                qs,
                chosen,
                out,
                model=model,
                resume=resume,
                progress=show,
                batch_size=batch_size,
            )
            updates = []
            if update_cost:
                ran = [r for r in chosen if r not in {s.route for s in run.skipped}]
                task = bar.add_task("update cost", total=None)
                updates = measure_updates(
                    ws,
                    qs,
                    ran,
                    out,
                    model=model,
                    train_minutes=train_minutes,
                    progress=lambda d: bar.update(task, description=d),
                )
        per_1k = ws.settings.agent.cost_per_1k_tokens if price is None else price
        result = summarise(
            qs,
            run.records,
            run.skipped,
            warmup_s=run.warmup_s,
            updates=updates,
            embedder=ws.embedder,
            price_per_1k=per_1k,
            local=ws.settings.llm.backend != "openai",
            meta={
                "questions_file": str(questions),
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                "llm": f"{ws.settings.llm.backend}:{ws.settings.llm.model}",
                "model": model,
                "seen_from": seen_from,
                "train_minutes": train_minutes if update_cost else None,
            },
        )
    finally:
        ws.close()
    path = out / "compare.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    html = write_report(path)
    if as_json:
        print_json({k: v for k, v in result.items() if k != "records"})
        return
    _summary_table(result)
    for route, u in result["update_summary"].items():
        took = f"{fmt_time(u)} to the new fact" if u["seconds_to_new_p50"] is not None else "–"
        console.print(
            f"update cost {route}: {u['new']}/{u['n']} new, {u['stale']} stale, {took}"
            + (f"; needs {escape(u['needs'])}" if u["needs"] else ""),
            soft_wrap=True,
        )
    for s in run.skipped:
        err_console.print(
            f"[yellow]skipped {s.route}:[/] {escape(s.reason)}  →  {escape(s.command)}",
            soft_wrap=True,
        )
    console.print(f"Wrote {path} and {html}")


def _training_documents(root: Path, model: str | None) -> tuple[list[str], str]:
    """The fine-tuned model's training documents, for seen/unseen; none when there is no
    fine-tuned model yet (its routes are then reported as skipped)."""
    from expertly.errors import ExpertlyError
    from expertly.finetune.registry import training_documents

    try:
        docs, where = training_documents(root, model)
    except ExpertlyError:
        return [], ""
    if not docs:
        err_console.print(f"[yellow]seen/unseen unknown:[/] {escape(where)}; use --trained-on")
    return docs, where


def fmt_time(u: dict[str, Any]) -> str:
    """An update_summary row's median time to the new fact, in its unit."""
    if u["unit"] == "minutes":
        return f"{u['minutes_to_new_p50']:.2f} min (retrained)"
    return f"{u['seconds_to_new_p50']:.2f} s"


def _summary_table(result: dict[str, Any]) -> None:
    from expertly.evaluate.report import ci, fmt

    table = Table(title="Which route wins (95% bootstrap intervals)")
    for name in ("route", "n", "correct", "token F1", "grounded", "p50 s", "p95 s", "tokens"):
        table.add_column(name)
    for route, f in result["routes"].items():
        m = f["metrics"]
        table.add_row(
            route,
            str(f["n"]),
            ci(m["correct"]),
            ci(m["f1"]),
            ci(m["grounded"]),
            fmt(f["latency_p50_s"], 2),
            fmt(f["latency_p95_s"], 2),
            fmt(f["tokens_mean"], 0),
        )
    console.print(table)


@handle_errors
def advise(
    answers: Annotated[
        Path | None,
        typer.Option(
            "--answers",
            help=(
                "TOML file answering the questions, keys named as the flags: changes, cite, "
                "latency_s, compute, train_minutes, documents, qa_pairs, task, on_premises."
            ),
        ),
    ] = None,
    compare_json: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            help="compare.json to combine (default compare-out/compare.json if present).",
        ),
    ] = None,
    changes: Annotated[
        str | None, typer.Option(help="never | yearly | monthly | weekly | daily")
    ] = None,
    cite: Annotated[
        bool | None, typer.Option("--cite/--no-cite", help="Answers must cite sources.")
    ] = None,
    latency_s: Annotated[
        float | None, typer.Option("--latency-s", help="Latency budget, seconds.")
    ] = None,
    compute: Annotated[str | None, typer.Option(help="cpu | gpu | served")] = None,
    train_minutes: Annotated[
        float | None, typer.Option("--train-minutes", help="Training budget.")
    ] = None,
    documents: Annotated[int | None, typer.Option(help="How many documents exist.")] = None,
    qa_pairs: Annotated[
        int | None, typer.Option("--qa-pairs", help="How many Q/A pairs exist.")
    ] = None,
    task: Annotated[str | None, typer.Option(help="knowledge | style | multi-step")] = None,
    on_premises: Annotated[
        bool | None, typer.Option("--on-premises/--cloud-ok", help="Data must stay on premises.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the advice as JSON.")] = False,
) -> None:
    """Recommend a route (rag, base, finetuned, hybrid, agent) and settings, with reasons.

    Answers come from flags, a TOML --answers file, or prompts when stdin is a terminal;
    measured figures come from the latest compare.json.

    \b
    Examples:
      expertly advise --changes daily --cite --compute cpu --train-minutes 20
      expertly advise --answers answers.toml --compare compare-out/compare.json --json
    """
    from expertly.evaluate.advise import (
        QUESTIONS,
        coerce,
        load_answers,
        needs_from_mapping,
    )
    from expertly.evaluate.advise import (
        advise as decide,
    )

    values: dict[str, Any] = load_answers(answers).__dict__.copy() if answers else {}
    flags = {
        "changes": changes,
        "cite": cite,
        "latency_s": latency_s,
        "compute": compute,
        "train_minutes": train_minutes,
        "documents": documents,
        "qa_pairs": qa_pairs,
        "task": task,
        "on_premises": on_premises,
    }
    values.update({k: v for k, v in flags.items() if v is not None})
    if sys.stdin.isatty() and not as_json:
        for key, prompt in QUESTIONS.items():
            if values.get(key) is None:
                reply = typer.prompt(prompt, default="", show_default=False)
                if reply.strip():
                    values[key] = coerce(key, reply)
    needs = needs_from_mapping(values, "flags")
    path = compare_json or Path("compare-out/compare.json")
    measured = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    if compare_json and measured is None:
        err_console.print(f"[yellow]{escape(str(path))} not found; advising without figures.[/]")
    advice = decide(needs, measured)
    advice["compare"] = str(path) if measured else None
    if as_json:
        print_json(advice)
        return
    console.print(f"[bold]Recommended route: {advice['route']}[/]")
    for key, value in advice["settings"].items():
        console.print(f"  set {key} = {escape(str(value))}")
    console.print("Because:")
    for r in advice["reasons"]:
        console.print(f"  • {escape(r['reason'])}", soft_wrap=True)
    for route, rule in advice["excluded"].items():
        console.print(f"  • not {route}: {escape(rule)}")
    if advice["would_change"]:
        console.print("What would change this advice:")
        for line in advice["would_change"]:
            console.print(f"  • {escape(line)}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(compare)
    app.command()(advise)
