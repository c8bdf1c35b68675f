"""``expertly eval``: measuring expertly. ``eval retrieval`` scores retrieval configurations
on a BEIR-layout dataset or on the user's own labelled questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import (
    TaskID,
)
from rich.table import Table

from expertly.cli.common import (
    _default,
    console,
    handle_errors,
    print_json,
    progress_bar,
    renamed_option,
    workspace,
)

if TYPE_CHECKING:
    from expertly.evaluate import EvalReport

eval_app = typer.Typer(
    name="eval",
    help=(
        "Measure expertly on labelled data.\n\n"
        "\b\n"
        "  expertly eval retrieval FOLDER                  # BEIR layout: corpus, queries, qrels\n"
        "  expertly eval retrieval --questions mine.jsonl  # your questions, your index\n\n"
        "See docs/evaluation.md for what the metrics mean."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

COLUMNS = (
    ("nDCG@10", "ndcg@10"),
    ("R@10", "recall@10"),
    ("R@100", "recall@100"),
    ("MRR@10", "mrr@10"),
)


@handle_errors
def retrieval(
    folder: Annotated[
        Path | None,
        typer.Argument(
            help="BEIR dataset folder: corpus.jsonl, queries.jsonl, qrels-<split>.tsv or "
            "qrels/<split>.tsv. Leave out with --questions.",
            metavar="FOLDER",
            show_default=False,
            exists=True,
            file_okay=False,
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            help="test | train | dev | fit: which qrels to use (default test). Without a dev "
            "qrels file, dev is a fixed fifth of the train queries and fit the rest: tune on "
            "fit, choose on dev, report test."
        ),
    ] = None,
    qrels: Annotated[
        Path | None,
        typer.Option(
            help="Qrels TSV to use instead of the split's file.", exists=True, dir_okay=False
        ),
    ] = None,
    questions: Annotated[
        Path | None,
        typer.Option(
            help='Your own labelled questions, JSONL: {"question": "...", "relevant": '
            '["doc id", ...]} per line, scored against the current workspace\'s index '
            "(ids as `expertly status --documents` shows them).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    retrieval_: Annotated[
        str | None,
        typer.Option(
            "--retrieval",
            "-r",
            help="Comma-separated retrieval configurations to compare, one table row each: "
            "dense, sparse, hybrid and variants such as hybrid-rrf60, hybrid+cross-encoder "
            "(docs/evaluation.md lists them).",
            show_default="dense,sparse,hybrid",
        ),
    ] = None,
    config: Annotated[
        str | None,
        renamed_option("--config", "--retrieval"),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help="Only the first N queries (quick checks; numbers are not comparable)."
        ),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Re-index the dataset's corpus from scratch.")
    ] = False,
    index: Annotated[
        Path | None,
        typer.Option(
            help="Where the dataset's index lives (default <workspace>/eval/<dataset>-<embedder>).",
            file_okay=False,
        ),
    ] = None,
    chunks: Annotated[
        int,
        typer.Option(min=1, help="Chunks retrieved per query before keeping each document once."),
    ] = 300,
    per_query: Annotated[
        Path | None,
        typer.Option(
            "--per-query",
            help="Write per-query metrics, latency and top-10 document ids here (JSONL).",
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the whole result as JSON on stdout.")
    ] = False,
) -> None:
    """Compare retrieval configurations: nDCG@10, Recall@10/100, MRR@10, latency p50/p95.

    On a BEIR folder the corpus is indexed once, with this workspace's settings, into its
    own directory (reused by later runs; --rebuild redoes it); your index is not touched.
    With --questions your questions are scored against this workspace's index.

    \b
    Examples:
      expertly eval retrieval ~/data/scifact --retrieval dense,sparse,hybrid
      expertly eval retrieval ~/data/scifact --limit 50 --per-query scifact.jsonl
      expertly eval retrieval --questions my-questions.jsonl --json
    """
    from expertly.evaluate import load_beir, run_beir, run_questions
    from expertly.evaluate.configurations import parse_configurations
    from expertly.evaluate.retrieval import require_ranx

    if (folder is None) == (questions is None):
        raise typer.BadParameter("give either a dataset FOLDER or --questions FILE, not both")
    if questions is not None and (split or qrels or rebuild or index):
        raise typer.BadParameter("--split, --qrels, --rebuild and --index need a dataset FOLDER")
    require_ranx()
    names = parse_configurations(retrieval_ or config or "dense,sparse,hybrid")
    ws = workspace()
    with progress_bar(disable=as_json) as bar:
        tasks: dict[str, TaskID] = {}

        def on_index(done: int, total: int) -> None:
            if "index" not in tasks:
                tasks["index"] = bar.add_task("Indexing corpus", total=total)
            bar.update(tasks["index"], completed=done, total=total)

        def on_query(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"Evaluating {name}", total=total)
            bar.update(tasks[name], completed=done)

        try:
            if folder is not None:
                dataset = load_beir(folder, split=split or "test", qrels=qrels)
                report = run_beir(
                    ws,
                    dataset,
                    names,
                    limit=limit,
                    rebuild=rebuild,
                    index_dir=index,
                    chunk_k=chunks,
                    on_index=on_index,
                    on_query=on_query,
                )
            elif questions is not None:
                report = run_questions(
                    ws, questions, names, limit=limit, chunk_k=chunks, on_query=on_query
                )
            else:  # excluded by the check above; keeps the type checker informed
                raise typer.BadParameter("give a dataset FOLDER or --questions FILE")
        finally:
            ws.close()
    if per_query is not None:
        _write_per_query(per_query, report)
    if as_json:
        print_json(report.to_dict())
        return
    _print_table(report)
    if per_query is not None:
        console.print(f"[dim]per-query results written to {escape(str(per_query))}[/]")


def _write_per_query(path: Path, report: EvalReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for record in report.per_query():
            fh.write(json.dumps(record, default=_default, ensure_ascii=False) + "\n")


def _print_table(report: EvalReport) -> None:
    counts = report.counts
    title = (
        f"{report.dataset} ({report.split}): {counts['queries']} queries, "
        f"{counts['documents']} documents, {counts['chunks']} chunks"
    )
    table = Table(title=escape(title), title_justify="left")
    table.add_column("configuration")
    for label, _ in COLUMNS:
        table.add_column(label, justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for r in report.results:
        table.add_row(
            r.name,
            *(f"{r.metrics[key]:.3f}" for _, key in COLUMNS),
            f"{r.latency_ms['p50']:.1f}",
            f"{r.latency_ms['p95']:.1f}",
        )
    console.print(table)
    index = report.index
    reused = " (reused)" if index.get("reused") else ""
    console.print(
        f"[dim]embedder {escape(str(report.settings['embedder']['name']))} · "
        f"index {escape(str(index.get('path')))}{reused} · {report.seconds:.1f} s in all[/]"
    )
    if counts["judged_documents_not_indexed"]:
        console.print(
            f"[yellow]{counts['judged_documents_not_indexed']} judged document(s) are not in "
            "the index: they can never be found and lower recall.[/]"
        )
    if report.limit is not None:
        console.print(
            f"[yellow]--limit {report.limit}: only {counts['queries']} of "
            f"{counts['queries_in_split']} queries; not comparable with full runs.[/]"
        )


def register(app: typer.Typer) -> None:
    eval_app.command()(retrieval)
    app.add_typer(eval_app, name="eval")
