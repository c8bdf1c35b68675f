"""Fine-tune the embedder on (question, passage) pairs, so dense retrieval learns the
organisation's vocabulary.

Training uses in-batch negatives (sentence-transformers' ``MultipleNegativesRankingLoss``):
in a batch of B pairs, each question must score its own passage above the B - 1 others,
and above its own hard negative when the pair has one. The loop is a plain torch loop (no
``datasets``/``accelerate`` needed) with linear warm-up and decay, a wall-clock limit, and
one thread by default so a shared CPU stays usable.

Pairs come from a JSONL file, a BEIR folder's judgements or the workspace's own chunks
(``expertly.finetune.pairs``, shared with the reranker's training).

The result is a sentence-transformers directory; ``embedder.model`` pointed at it makes the
workspace use it (the index must then be rebuilt: vectors of two models do not mix).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expertly.embed.st import load_sentence_transformer
from expertly.errors import ExpertlyError, MissingDependencyError
from expertly.finetune.encoder_training import (
    Progress,
    TrainResult,
    check_loop_settings,
    loop_fields,
    run_loop,
    start_run,
)
from expertly.finetune.pairs import Pair, load_pairs, synthesize_pairs

__all__ = [
    "EmbedderTrainConfig",
    "EmbedderTrainResult",
    "Pair",
    "finetune_embedder",
    "load_pairs",
    "synthesize_pairs",
]


@dataclass(frozen=True)
class EmbedderTrainConfig:
    """How the embedder is fine-tuned.

    Args:
        epochs: passes over the pairs.
        batch_size: pairs per step; every other passage in the batch is a negative, so
            larger batches teach more per step (and cost more memory and time).
        lr: peak learning rate (AdamW), reached after ``warmup`` of the steps.
        max_seq_length: tokens kept per passage while training (queries are short anyway);
            the saved model keeps the base model's own limit for embedding.
        threads: torch CPU threads (1 keeps a shared machine usable).
        max_minutes: stop after this much training time (0 = no limit); the model so far
            is saved.
        seed: shuffling and initialisation seed.
    """

    epochs: float = field(default=1.0, metadata={"help": "Passes over the pairs"})
    batch_size: int = field(default=32, metadata={"help": "Pairs per step (in-batch negatives)"})
    lr: float = field(default=3e-5, metadata={"help": "Peak learning rate"})
    warmup: float = field(default=0.1, metadata={"help": "Share of steps spent warming up"})
    max_seq_length: int = field(default=256, metadata={"help": "Tokens kept per passage"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads"})
    max_minutes: float = field(default=0.0, metadata={"help": "Stop after this long; 0 = none"})
    seed: int = field(default=13, metadata={"help": "Random seed"})

    def __post_init__(self) -> None:
        check_loop_settings(self, min_batch_size=2, batch_note=" (in-batch negatives)")


@dataclass(frozen=True)
class EmbedderTrainResult(TrainResult):
    """Where the model went and how training went."""

    pairs: int
    config: EmbedderTrainConfig

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "pairs": self.pairs, "config": asdict(self.config)}


# ------------------------------------------------------------------------------ training


def finetune_embedder(
    pairs: Sequence[Pair],
    base_model: Path,
    output_dir: Path,
    config: EmbedderTrainConfig | None = None,
    *,
    progress: Progress | None = None,
) -> EmbedderTrainResult:
    """Train ``base_model`` (a sentence-transformers directory) on ``pairs`` and save the
    result to ``output_dir`` (created; an existing model there is replaced)."""
    config = config or EmbedderTrainConfig()
    if len(pairs) < 2:
        raise ExpertlyError(f"{len(pairs)} pair(s) given: in-batch negatives need at least 2 pairs")
    try:
        import torch
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )
    except ImportError as exc:
        raise MissingDependencyError(
            "sentence-transformers", purpose="fine-tuning the embedder"
        ) from exc
    started = start_run(torch, config)
    model = load_sentence_transformer(base_model, purpose="fine-tuning the embedder")
    served_length = model.max_seq_length  # what the saved model embeds with, as the base did
    model.max_seq_length = config.max_seq_length
    loss_fn = MultipleNegativesRankingLoss(model)

    def batch_loss(indices: list[int]) -> Any:
        group = [pairs[i] for i in indices]
        columns = [[p.query for p in group], [p.passage for p in group]]
        if all(p.negative for p in group):
            columns.append([p.negative for p in group])
        return loss_fn([_to_device(_tokenize(model, texts)) for texts in columns], None)

    model.train()
    loop = run_loop(
        torch,
        list(model.parameters()),
        len(pairs),
        config,
        batch_loss,
        started=started,
        full_batches=True,
        progress=progress,
    )
    model.eval()
    if served_length:
        model.max_seq_length = served_length
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(output_dir))
    result = EmbedderTrainResult(
        output_dir=output_dir,
        base_model=str(base_model),
        pairs=len(pairs),
        config=config,
        **loop_fields(loop, started),
    )
    result.write_summary()
    return result


def _to_device(features: dict[str, Any]) -> dict[str, Any]:
    return {k: v.to("cpu") if hasattr(v, "to") else v for k, v in features.items()}


def _tokenize(model: Any, texts: list[str]) -> dict[str, Any]:
    """The model's input features (``preprocess`` in sentence-transformers >= 6, else
    ``tokenize``)."""
    method = getattr(model, "preprocess", None) or model.tokenize
    return dict(method(texts))
