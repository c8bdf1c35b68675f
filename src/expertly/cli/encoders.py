"""``expertly finetune embedder`` and ``finetune reranker``: adapting the retrieval models to
your documents. Both read (question, passage) pairs from the same three sources, take the
same training options and report alike; this module holds that shared skeleton once, and
each command adds only what is its own (the reranker mines hard negatives first)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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

if TYPE_CHECKING:
    from expertly.finetune.encoder_training import TrainResult
    from expertly.finetune.pairs import Pair
    from expertly.finetune.reranker import Search
    from expertly.types import Hit
    from expertly.workspace import Workspace

C = TypeVar("C")

# ----------------------------------------------------------------- the shared options

PairsArg = Annotated[
    Path | None,
    typer.Argument(
        help='Pairs JSONL: {"query": ..., "passage": ...} per line (optional "negative", '
        '"doc_id"). Leave out with --beir or --synthesize.',
        metavar="PAIRS",
        show_default=False,
        exists=True,
        dir_okay=False,
    ),
]
BeirOpt = Annotated[
    Path | None,
    typer.Option(
        help="Build pairs from a BEIR folder's judgements: (query, relevant title + text).",
        exists=True,
        file_okay=False,
    ),
]
SplitOpt = Annotated[
    str,
    typer.Option(help="With --beir: train | fit (train without the dev fifth) | dev. Never test."),
]
SynthesizeOpt = Annotated[
    bool,
    typer.Option(
        "--synthesize",
        help="No labels: use each indexed chunk's heading (or first sentence) as its question.",
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option(help="Model name: <workspace>/models/<kind>-<name> (default: a timestamp)."),
]
EpochsOpt = Annotated[float, typer.Option(help="Passes over the training data.")]
LrOpt = Annotated[float, typer.Option("--lr", help="Peak learning rate.")]
ThreadsOpt = Annotated[int, typer.Option(min=1, help="torch CPU threads.")]
MaxMinutesOpt = Annotated[
    float,
    typer.Option("--max-minutes", min=0, help="Stop after this long and save (0 = no limit)."),
]
BaseModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--base-model",
        help="Model directory to start from (default: the workspace's embedder for the "
        "embedder, the packaged all-MiniLM-L6-v2 with a new head for the reranker).",
        exists=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


# ----------------------------------------------------------------- the shared skeleton


def train_config(make: Callable[..., C], **values: Any) -> C:
    """The trainer's config from the options; its ``ValueError`` becomes a usage error."""
    try:
        return make(**values)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def output_dir(ws: Workspace, kind: str, name: str | None) -> Path:
    """``<workspace>/models/<kind>-<name>``, a timestamp when no name is given."""
    return ws.root / "models" / f"{kind}-{name or time.strftime('%Y%m%d-%H%M%S')}"


def report(
    result: TrainResult,
    summary: dict[str, Any],
    *,
    as_json: bool,
    trained_on: str,
    settings: dict[str, str],
) -> None:
    """Print what training did and how to use the model: the ``settings`` to put in
    expertly.toml (``section.field`` → value) or the matching EXPERTLY_ variables."""
    if as_json:
        print_json(summary)
        return
    stopped = " (stopped by --max-minutes)" if result.stopped_early else ""
    console.print(
        f"Trained on {trained_on}: {result.steps} steps, {result.epochs_done:.2f} epochs, "
        f"{result.seconds:.0f} s{stopped}; loss {summary['first_loss']} → {summary['last_loss']}"
    )
    console.print(f"Model: {escape(str(result.output_dir))}")
    console.print("Use it: in expertly.toml set")
    section = ""
    lines = []
    for key, value in settings.items():
        sec, field = key.split(".", 1)
        if sec != section:
            section = sec
            lines.append(f"  [{sec}]")
        lines.append(f'  {field} = "{value}"')
    console.print(escape("\n".join(lines)), soft_wrap=True)
    env = " ".join(f"EXPERTLY_{k.replace('.', '__').upper()}={v}" for k, v in settings.items())
    console.print(f"or export {escape(env)}", soft_wrap=True)


def check_one_source(pairs: Path | None, beir: Path | None, synthesize: bool) -> None:
    """Exactly one pair source must be given (PAIRS, --beir or --synthesize)."""
    if sum(x is not None and x is not False for x in (pairs, beir, synthesize or None)) != 1:
        raise typer.BadParameter("give exactly one of PAIRS, --beir FOLDER or --synthesize")


def training_pairs(
    ws: Workspace, pairs: Path | None, beir: Path | None, split: str, synthesize: bool
) -> list[Pair]:
    """(question, passage) pairs from the one source given: a JSONL file, a BEIR folder's
    judgements of ``split`` (never test) or the workspace's own chunks."""
    from expertly.finetune.pairs import load_pairs

    check_one_source(pairs, beir, synthesize)
    if pairs is not None:
        return load_pairs(pairs)
    if beir is not None:
        return _beir_pairs(beir, split)
    return _synthesized(ws)


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

    if not ws.has_index:
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


# ----------------------------------------------------------------- finetune embedder


@handle_errors
def embedder(
    pairs: PairsArg = None,
    beir: BeirOpt = None,
    split: SplitOpt = "train",
    synthesize: SynthesizeOpt = False,
    name: NameOpt = None,
    epochs: EpochsOpt = 1.0,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=2, help="Pairs per step (in-batch negatives).")
    ] = 32,
    lr: LrOpt = 3e-5,
    max_seq_len: Annotated[
        int, typer.Option("--max-seq-len", min=8, help="Tokens kept per passage.")
    ] = 256,
    threads: ThreadsOpt = 1,
    max_minutes: MaxMinutesOpt = 0.0,
    base_model: BaseModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the embedder on (question, passage) pairs with in-batch negatives.

    Writes a sentence-transformers directory into the workspace and prints how to point
    embedder.model at it. The index must then be rebuilt (expertly ingest DIR --rebuild, or
    eval retrieval --rebuild for eval indexes): vectors of two models do not mix.

    \b
    Examples:
      expertly finetune embedder pairs.jsonl --epochs 2
      expertly finetune embedder --beir ~/data/scifact --split train --name scifact
      expertly finetune embedder --synthesize --max-minutes 10
    """
    from expertly.finetune.embedder import EmbedderTrainConfig, finetune_embedder

    check_one_source(pairs, beir, synthesize)
    config = train_config(
        EmbedderTrainConfig,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_seq_length=max_seq_len,
        threads=threads,
        max_minutes=max_minutes,
    )
    ws = workspace()
    data = training_pairs(ws, pairs, beir, split, synthesize)
    base = base_model or _workspace_embedder(ws)
    out = output_dir(ws, "embedder", name)
    with training_progress(disable=as_json) as show:
        result = finetune_embedder(data, base, out, config, progress=show)
    report(
        result,
        result.to_dict(),
        as_json=as_json,
        trained_on=f"{len(data)} pairs",
        settings={"embedder.model": str(out)},
    )
    if not as_json:
        console.print("Then rebuild the index: vectors of two models do not mix.")


def _workspace_embedder(ws: Workspace) -> Path:
    from expertly.embed.local import packaged_model_dir

    s = ws.settings.embedder
    if s.backend != "sentence-transformers":
        raise typer.BadParameter(
            f"embedder.backend = {s.backend!r}: only a local sentence-transformers model can be "
            "fine-tuned; give --base-model DIR"
        )
    return Path(s.model).expanduser() if s.model else packaged_model_dir()


# ----------------------------------------------------------------- finetune reranker


@handle_errors
def reranker(
    pairs: PairsArg = None,
    beir: BeirOpt = None,
    split: SplitOpt = "train",
    synthesize: SynthesizeOpt = False,
    name: NameOpt = None,
    negatives: Annotated[
        int, typer.Option(min=0, help="Hard negatives per question, from hybrid retrieval.")
    ] = 3,
    depth: Annotated[
        int, typer.Option(min=1, help="Hybrid hits searched per question for negatives.")
    ] = 30,
    loss: Annotated[
        str, typer.Option(help="listwise (softmax over positive + negatives) | bce.")
    ] = "listwise",
    epochs: EpochsOpt = 1.0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Questions per step.")] = 8,
    lr: LrOpt = 3e-5,
    max_seq_len: Annotated[
        int, typer.Option("--max-seq-len", min=16, help="Tokens of question + passage kept.")
    ] = 256,
    threads: ThreadsOpt = 1,
    max_minutes: MaxMinutesOpt = 0.0,
    base_model: BaseModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a cross-encoder reranker on (question, passage) pairs and hard negatives.

    Negatives are the best hybrid hits of each question that belong to no relevant
    document: with --beir they come from the folder's eval index (made by `expertly eval
    retrieval FOLDER`), else from the workspace's index. The model is saved into the
    workspace; set retrieval.rerank = "cross-encoder" and retrieval.rerank_model to its
    path to use it (no re-indexing needed).

    \b
    Examples:
      expertly finetune reranker pairs.jsonl
      expertly finetune reranker --beir ~/data/scifact --split fit --name scifact
      expertly finetune reranker --synthesize --max-minutes 10
    """
    from expertly.finetune.reranker import RerankerTrainConfig, finetune_reranker, mine_groups

    check_one_source(pairs, beir, synthesize)
    config = train_config(
        RerankerTrainConfig,
        loss=loss,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        max_seq_length=max_seq_len,
        threads=threads,
        max_minutes=max_minutes,
    )
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
    out = output_dir(ws, "reranker", name)
    with training_progress(disable=as_json) as show:
        result = finetune_reranker(mined.groups, base, out, config, progress=show)
    summary = {
        **result.to_dict(),
        "pairs": len(data),
        "questions": mined.queries,
        "negatives": mined.negatives,
        "pairs_without_negatives": mined.without_negatives,
    }
    report(
        result,
        summary,
        as_json=as_json,
        trained_on=f"{result.groups} questions with {mined.negatives} hard negatives",
        settings={"retrieval.rerank": "cross-encoder", "retrieval.rerank_model": str(out)},
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
        if not target.has_index:
            raise ExpertlyError(
                f"{beir} is not indexed yet ({index_dir}): run `expertly eval retrieval "
                f"{beir} --split dev --retrieval hybrid` once, then train"
            )
    elif not ws.has_index:
        raise ExpertlyError(f"Nothing is ingested in {ws.root}: run `expertly ingest` first")
    retriever = target.retriever

    def search(query: str, k: int) -> list[Hit]:
        return retriever.search(query, k=k, mode="hybrid", rerank=False).hits

    return search
