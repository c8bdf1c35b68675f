"""``expertly finetune-reranker``: train a cross-encoder on your questions, with hard
negatives from the workspace's own retrieval."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from expertly.cli.common import (
    console,
    handle_errors,
    print_json,
    progress_bar,
    training_progress,
    workspace,
)
from expertly.cli.embedder import check_one_source, training_pairs

if TYPE_CHECKING:
    from expertly.finetune.reranker import Search
    from expertly.types import Hit
    from expertly.workspace import Workspace


@handle_errors
def finetune_reranker(
    pairs: Annotated[
        Path | None,
        typer.Argument(
            help='Pairs JSONL: {"query": ..., "passage": ..., "doc_id": ...} per line (doc_id '
            "optional). Leave out with --beir or --synthesize.",
            metavar="PAIRS",
            show_default=False,
        ),
    ] = None,
    beir: Annotated[
        Path | None,
        typer.Option(
            help="Build pairs from a BEIR folder's judgements; negatives come from its eval "
            "index (made by `expertly eval retrieval FOLDER`)."
        ),
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            help="With --beir: train | fit (train without the dev fifth) | dev. Never test."
        ),
    ] = "train",
    synthesize: Annotated[
        bool,
        typer.Option(
            "--synthesize",
            help="No labels: use each indexed chunk's heading (or first sentence) as its question.",
        ),
    ] = False,
    name: Annotated[
        str | None,
        typer.Option(help="Model name: <workspace>/models/reranker-<name> (default: a timestamp)."),
    ] = None,
    negatives: Annotated[
        int, typer.Option(min=0, help="Hard negatives per question, from hybrid retrieval.")
    ] = 3,
    depth: Annotated[
        int, typer.Option(min=1, help="Hybrid hits searched per question for negatives.")
    ] = 30,
    loss: Annotated[
        str, typer.Option(help="listwise (softmax over positive + negatives) | bce.")
    ] = "listwise",
    epochs: Annotated[float, typer.Option(help="Passes over the questions.")] = 1.0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Questions per step.")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 3e-5,
    max_seq_len: Annotated[
        int, typer.Option("--max-seq-len", min=16, help="Tokens of question + passage kept.")
    ] = 256,
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads.")] = 1,
    max_minutes: Annotated[
        float, typer.Option("--max-minutes", help="Stop after this long and save (0 = no limit).")
    ] = 0.0,
    base_model: Annotated[
        Path | None,
        typer.Option(
            "--base-model",
            help="Encoder directory to start from (default: the packaged all-MiniLM-L6-v2, "
            "given a new classification head).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Train a cross-encoder reranker on (question, passage) pairs and hard negatives.

    Negatives are the best hybrid hits of each question that belong to no relevant
    document. The model is saved into the workspace; set retrieval.rerank = "cross-encoder"
    and retrieval.rerank_model to its path to use it (no re-indexing needed).

    \b
    Examples:
      expertly finetune-reranker pairs.jsonl
      expertly finetune-reranker --beir ~/data/scifact --split fit --name scifact
      expertly finetune-reranker --synthesize --max-minutes 10
    """
    from expertly.finetune.reranker import RerankerTrainConfig, finetune_reranker, mine_groups

    check_one_source(pairs, beir, synthesize)
    try:
        config = RerankerTrainConfig(
            loss=loss,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            max_seq_length=max_seq_len,
            threads=threads,
            max_minutes=max_minutes,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    ws = workspace()
    data = training_pairs(ws, pairs, beir, split, synthesize)
    search = _mining_search(ws, beir, split)
    queries = {p.query for p in data}
    with progress_bar(disable=as_json) as bar:
        task = bar.add_task("Mining negatives", total=len(queries))

        def counted(query: str, k: int) -> list[Hit]:
            hits = list(search(query, k))
            bar.advance(task)
            return hits

        mined = mine_groups(data, counted, negatives=negatives, depth=depth)
    base = base_model or _packaged()
    out = ws.root / "models" / f"reranker-{name or time.strftime('%Y%m%d-%H%M%S')}"
    with training_progress(disable=as_json) as show:
        result = finetune_reranker(mined.groups, base, out, config, progress=show)
    summary = {
        **result.to_dict(),
        "pairs": len(data),
        "questions": mined.queries,
        "negatives": mined.negatives,
        "pairs_without_negatives": mined.without_negatives,
    }
    if as_json:
        print_json(summary)
        return
    stopped = " (stopped by --max-minutes)" if result.stopped_early else ""
    console.print(
        f"Trained on {result.groups} questions with {mined.negatives} hard negatives: "
        f"{result.steps} steps, {result.epochs_done:.2f} epochs, {result.seconds:.0f} s{stopped}; "
        f"loss {summary['first_loss']} → {summary['last_loss']}"
    )
    console.print(f"Model: {escape(str(out))}")
    console.print("Use it: in expertly.toml set")
    console.print(
        f'  [retrieval]\n  rerank = "cross-encoder"\n  rerank_model = "{escape(str(out))}"',
        soft_wrap=True,
    )
    console.print(
        "or export EXPERTLY_RETRIEVAL__RERANK=cross-encoder "
        f"EXPERTLY_RETRIEVAL__RERANK_MODEL={escape(str(out))}",
        soft_wrap=True,
    )


def _packaged() -> Path:
    from expertly.embed.local import packaged_model_dir

    return packaged_model_dir()


def _mining_search(ws: Workspace, beir: Path | None, split: str) -> Search:
    """Hybrid search without reranking on the index the pairs' documents live in: the BEIR
    folder's eval index, or the workspace's own."""
    from expertly.errors import ExpertlyError

    target = ws
    if beir is not None:
        from expertly.corpora import load_beir
        from expertly.evaluate.beir import default_index_dir, eval_workspace

        index_dir = default_index_dir(ws, load_beir(beir, split=split).name)
        target = eval_workspace(ws, index_dir)
        if not target.index_path.exists():
            raise ExpertlyError(
                f"{beir} is not indexed yet ({index_dir}): run `expertly eval retrieval "
                f"{beir} --split dev --config hybrid` once, then train"
            )
    elif not ws.index_path.exists():
        raise ExpertlyError(f"Nothing is ingested in {ws.root}: run `expertly ingest` first")
    retriever = target.retriever

    def search(query: str, k: int) -> list[Hit]:
        return retriever.search(query, k=k, mode="hybrid", rerank=False).hits

    return search


def register(app: typer.Typer) -> None:
    app.command(name="finetune-reranker")(finetune_reranker)
