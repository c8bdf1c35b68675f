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

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError, MissingDependencyError
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
        if self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (in-batch negatives), got {self.batch_size}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.max_seq_length < 8:
            raise ValueError(f"max_seq_length must be >= 8, got {self.max_seq_length}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.max_minutes < 0:
            raise ValueError(f"max_minutes must be >= 0, got {self.max_minutes}")


@dataclass(frozen=True)
class EmbedderTrainResult:
    """Where the model went and how training went."""

    output_dir: Path
    base_model: str
    pairs: int
    steps: int
    epochs_done: float
    seconds: float
    losses: list[float]
    stopped_early: bool
    config: EmbedderTrainConfig

    def to_dict(self) -> dict[str, Any]:
        return {
            "output_dir": str(self.output_dir),
            "base_model": self.base_model,
            "pairs": self.pairs,
            "steps": self.steps,
            "epochs_done": round(self.epochs_done, 3),
            "seconds": round(self.seconds, 1),
            "first_loss": self.losses[0] if self.losses else None,
            "last_loss": self.losses[-1] if self.losses else None,
            "stopped_early": self.stopped_early,
            "config": asdict(self.config),
        }


# ------------------------------------------------------------------------------ training

Progress = Callable[[int, int, float], None]
"""(step, total steps, loss) after each optimiser step."""


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
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )
    except ImportError as exc:
        raise MissingDependencyError(
            "sentence-transformers", purpose="fine-tuning the embedder"
        ) from exc
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    model = SentenceTransformer(str(base_model), device="cpu", local_files_only=True)
    served_length = model.max_seq_length  # what the saved model embeds with, as the base did
    model.max_seq_length = config.max_seq_length
    loss_fn = MultipleNegativesRankingLoss(model)
    batch = min(config.batch_size, len(pairs))
    per_epoch = math.ceil(len(pairs) / batch)
    total = max(1, math.ceil(per_epoch * config.epochs))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    warmup = int(total * config.warmup)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    rng = random.Random(config.seed)
    model.train()
    losses_seen: list[float] = []
    step, stopped = 0, False
    while step < total and not stopped:
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for start in range(0, len(order) - batch + 1 if len(order) >= batch else 1, batch):
            if step >= total:
                break
            group = [pairs[i] for i in order[start : start + batch]]
            columns = [[p.query for p in group], [p.passage for p in group]]
            if all(p.negative for p in group):
                columns.append([p.negative for p in group])
            features = [_to_device(_tokenize(model, texts)) for texts in columns]
            loss = loss_fn(features, None)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            losses_seen.append(round(float(loss.detach()), 4))
            if progress is not None:
                progress(step, total, losses_seen[-1])
            if config.max_minutes and time.perf_counter() - started > config.max_minutes * 60:
                stopped = step < total
                break
    model.eval()
    if served_length:
        model.max_seq_length = served_length
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(output_dir))
    result = EmbedderTrainResult(
        output_dir=output_dir,
        base_model=str(base_model),
        pairs=len(pairs),
        steps=step,
        epochs_done=step / per_epoch,
        seconds=time.perf_counter() - started,
        losses=losses_seen,
        stopped_early=stopped,
        config=config,
    )
    (output_dir / "expertly-training.json").write_text(
        json.dumps(result.to_dict(), indent=2), encoding="utf-8"
    )
    return result


def _to_device(features: dict[str, Any]) -> dict[str, Any]:
    return {k: v.to("cpu") if hasattr(v, "to") else v for k, v in features.items()}


def _tokenize(model: Any, texts: list[str]) -> dict[str, Any]:
    """The model's input features (``preprocess`` in sentence-transformers >= 6, else
    ``tokenize``)."""
    method = getattr(model, "preprocess", None) or model.tokenize
    return dict(method(texts))
