"""``expertly finetune-embedder``: adapt the embedding model to your documents."""

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
    training_progress,
    workspace,
)

if TYPE_CHECKING:
    from expertly.finetune.pairs import Pair
    from expertly.workspace import Workspace


@handle_errors
def finetune_embedder(
    pairs: Annotated[
        Path | None,
        typer.Argument(
            help='Pairs JSONL: {"query": ..., "passage": ..., "negative": ...} per line '
            "(negative optional). Leave out with --beir or --synthesize.",
            metavar="PAIRS",
            show_default=False,
        ),
    ] = None,
    beir: Annotated[
        Path | None,
        typer.Option(
            help="Build pairs from a BEIR folder's judgements: (query, relevant title + text)."
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
        typer.Option(help="Model name: <workspace>/models/embedder-<name> (default: a timestamp)."),
    ] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the pairs.")] = 1.0,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=2, help="Pairs per step (in-batch negatives).")
    ] = 32,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = 3e-5,
    max_seq_len: Annotated[
        int, typer.Option("--max-seq-len", min=8, help="Tokens kept per passage.")
    ] = 256,
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads.")] = 1,
    max_minutes: Annotated[
        float, typer.Option("--max-minutes", help="Stop after this long and save (0 = no limit).")
    ] = 0.0,
    base_model: Annotated[
        Path | None,
        typer.Option(
            "--base-model",
            help="sentence-transformers dir to start from (default: the workspace's embedder).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fine-tune the embedder on (question, passage) pairs with in-batch negatives.

    Writes a sentence-transformers directory into the workspace and prints how to point
    embedder.model at it. The index must then be rebuilt (expertly ingest after removing
    index.sqlite, or --rebuild for eval indexes): vectors of two models do not mix.

    \b
    Examples:
      expertly finetune-embedder pairs.jsonl --epochs 2
      expertly finetune-embedder --beir ~/data/scifact --split train --name scifact
      expertly finetune-embedder --synthesize --max-minutes 10
    """
    from expertly.finetune.embedder import EmbedderTrainConfig, finetune_embedder

    check_one_source(pairs, beir, synthesize)
    try:
        config = EmbedderTrainConfig(
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
    base = base_model or _workspace_model(ws)
    out = ws.root / "models" / f"embedder-{name or time.strftime('%Y%m%d-%H%M%S')}"
    with training_progress(disable=as_json) as show:
        result = finetune_embedder(data, base, out, config, progress=show)
    summary = result.to_dict()
    if as_json:
        print_json(summary)
        return
    stopped = " (stopped by --max-minutes)" if result.stopped_early else ""
    console.print(
        f"Trained on {result.pairs} pairs: {result.steps} steps, "
        f"{result.epochs_done:.2f} epochs, {result.seconds:.0f} s{stopped}; "
        f"loss {summary['first_loss']} → {summary['last_loss']}"
    )
    console.print(f"Model: {escape(str(out))}")
    console.print("Use it: in expertly.toml set")
    console.print(f'  [embedder]\n  model = "{escape(str(out))}"', soft_wrap=True)
    console.print(
        f"or export EXPERTLY_EMBEDDER__MODEL={escape(str(out))}; then rebuild the index "
        "(vectors of two models do not mix).",
        soft_wrap=True,
    )


def check_one_source(pairs: Path | None, beir: Path | None, synthesize: bool) -> None:
    """Exactly one pair source must be given (PAIRS, --beir or --synthesize)."""
    if sum(x is not None and x is not False for x in (pairs, beir, synthesize or None)) != 1:
        raise typer.BadParameter("give exactly one of PAIRS, --beir FOLDER or --synthesize")


def training_pairs(
    ws: Workspace, pairs: Path | None, beir: Path | None, split: str, synthesize: bool
) -> list[Pair]:
    """(question, passage) pairs from the one source given: a JSONL file, a BEIR folder's
    judgements of ``split`` (never test) or the workspace's own chunks. Shared by
    ``finetune-embedder`` and ``finetune-reranker``."""
    from expertly.finetune.pairs import load_pairs

    check_one_source(pairs, beir, synthesize)
    if pairs is not None:
        return load_pairs(pairs)
    if beir is not None:
        return _beir_pairs(beir, split)
    return _synthesized(ws)


def _workspace_model(ws: Workspace) -> Path:
    from expertly.embed.local import packaged_model_dir

    s = ws.settings.embedder
    if s.backend != "sentence-transformers":
        raise typer.BadParameter(
            f"embedder.backend = {s.backend!r}: only a local sentence-transformers model can be "
            "fine-tuned; give --base-model DIR"
        )
    return Path(s.model).expanduser() if s.model else packaged_model_dir()


def _beir_pairs(folder: Path, split: str) -> list[Pair]:
    """(query, title + text, document id) for every positive judgement of ``split``."""
    from expertly.corpora import corpus_documents, load_beir
    from expertly.finetune.pairs import Pair

    if split == "test":
        raise typer.BadParameter(
            "--split test: training on the test judgements would make every test figure "
            "meaningless; use train, fit or dev"
        )
    dataset = load_beir(folder, split=split)
    wanted = {d for docs in dataset.evalset.qrels.values() for d in docs}
    passages = {
        doc.id: f"{doc.title}\n{doc.text}" if doc.title else doc.text
        for doc in corpus_documents(dataset.corpus_path)
        if doc.id in wanted
    }
    return [
        Pair(dataset.evalset.queries[q], passages[d], doc_id=d)
        for q, docs in dataset.evalset.qrels.items()
        for d in docs
        if d in passages
    ]


def _synthesized(ws: Workspace) -> list[Pair]:
    from expertly.errors import ExpertlyError
    from expertly.finetune.pairs import synthesize_pairs

    if not ws.index_path.exists():
        raise ExpertlyError(f"Nothing is ingested in {ws.root}: run `expertly ingest` first")
    store = ws.store
    chunks = ((info.title, c) for info in store.documents() for c in store.chunks(info.id))
    found = synthesize_pairs(chunks)
    if len(found) < 2:
        raise ExpertlyError(
            f"Only {len(found)} usable chunk(s) in {ws.root}: ingest more documents or give "
            "labelled PAIRS"
        )
    return found


def register(app: typer.Typer) -> None:
    app.command(name="finetune-embedder")(finetune_embedder)
