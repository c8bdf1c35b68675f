"""What the embedder's and the reranker's training share: the run set-up, the checks of
their common settings, the optimisation loop (AdamW, linear warm-up then linear decay,
gradient clipping, a wall-clock limit, a progress callback) and the result with its summary
file.

Each trainer keeps what differs: the model, how a batch becomes a loss, what is saved.
torch is imported by the caller and passed in, so importing this module loads nothing.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from expertly.config.hub import offline_hub

Progress = Callable[[int, int, float], None]
"""(step, total steps, loss) after each optimiser step."""


class LoopSettings(Protocol):
    """The settings fields both trainings have (read-only: the configs are frozen)."""

    @property
    def epochs(self) -> float: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def lr(self) -> float: ...

    @property
    def warmup(self) -> float: ...

    @property
    def max_seq_length(self) -> int: ...

    @property
    def threads(self) -> int: ...

    @property
    def max_minutes(self) -> float: ...

    @property
    def seed(self) -> int: ...


def check_loop_settings(
    config: LoopSettings, *, min_batch_size: int = 1, batch_note: str = "", min_seq_length: int = 8
) -> None:
    """Raise ``ValueError`` naming the first shared field out of range."""
    if config.epochs <= 0:
        raise ValueError(f"epochs must be > 0, got {config.epochs}")
    if config.batch_size < min_batch_size:
        raise ValueError(
            f"batch_size must be >= {min_batch_size}{batch_note}, got {config.batch_size}"
        )
    if config.lr <= 0:
        raise ValueError(f"lr must be > 0, got {config.lr}")
    if not 0 <= config.warmup < 1:
        raise ValueError(f"warmup must be in [0, 1), got {config.warmup}")
    if config.max_seq_length < min_seq_length:
        raise ValueError(f"max_seq_length must be >= {min_seq_length}, got {config.max_seq_length}")
    if config.threads < 1:
        raise ValueError(f"threads must be >= 1, got {config.threads}")
    if config.max_minutes < 0:
        raise ValueError(f"max_minutes must be >= 0, got {config.max_minutes}")


@dataclass(frozen=True)
class LoopResult:
    """How the loop went."""

    steps: int
    steps_per_epoch: int
    losses: list[float]
    stopped_early: bool
    """True when ``max_minutes`` ended the loop before its last step."""


def run_loop(
    torch: Any,
    parameters: Sequence[Any],
    items: int,
    config: LoopSettings,
    batch_loss: Callable[[list[int]], Any],
    *,
    started: float,
    full_batches: bool = False,
    progress: Progress | None = None,
) -> LoopResult:
    """Train for ``config.epochs`` passes over ``items`` examples, shuffled per epoch.

    ``batch_loss(indices)`` returns the loss tensor of one batch of example indices. With
    ``full_batches`` a last, smaller batch of an epoch is skipped (in-batch negatives want
    every batch full). ``started`` is when the run began (``time.perf_counter()``), so
    loading the model counts against ``max_minutes``.
    """
    parameters = list(parameters)
    batch = min(config.batch_size, items)
    per_epoch = items // batch if full_batches else math.ceil(items / batch)
    total = max(1, math.ceil(per_epoch * config.epochs))
    optimizer = torch.optim.AdamW(parameters, lr=config.lr)
    warmup = int(total * config.warmup)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    rng = random.Random(config.seed)
    losses: list[float] = []
    step, stopped = 0, False
    last_start = items - batch + 1 if full_batches else items
    while step < total and not stopped:
        order = list(range(items))
        rng.shuffle(order)
        for start in range(0, max(1, last_start), batch):
            if step >= total:
                break
            loss = batch_loss(order[start : start + batch])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(round(float(loss.detach()), 4))
            if progress is not None:
                progress(step, total, losses[-1])
            if config.max_minutes and time.perf_counter() - started > config.max_minutes * 60:
                stopped = step < total
                break
    return LoopResult(step, per_epoch, losses, stopped)


def start_run(torch: Any, config: LoopSettings) -> float:
    """Set up a training run (the hub stays offline, ``config.threads`` torch threads, the
    seed); returns its start time for ``run_loop`` and the result's seconds."""
    offline_hub()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    return time.perf_counter()


@dataclass(frozen=True)
class TrainResult:
    """Where a trained encoder went and how training went; each trainer's result adds what
    it trained on and its settings."""

    output_dir: Path
    base_model: str
    steps: int
    epochs_done: float
    seconds: float
    losses: list[float]
    stopped_early: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "output_dir": str(self.output_dir),
            "base_model": self.base_model,
            "steps": self.steps,
            "epochs_done": round(self.epochs_done, 3),
            "seconds": round(self.seconds, 1),
            "first_loss": self.losses[0] if self.losses else None,
            "last_loss": self.losses[-1] if self.losses else None,
            "stopped_early": self.stopped_early,
        }

    def write_summary(self) -> None:
        """``to_dict`` as ``expertly-training.json`` beside the saved model."""
        (self.output_dir / "expertly-training.json").write_text(
            json.dumps(self.to_dict(), indent=2), encoding="utf-8"
        )


def loop_fields(loop: LoopResult, started: float) -> dict[str, Any]:
    """The ``TrainResult`` fields a finished loop gives (steps, epochs, seconds, losses)."""
    return {
        "steps": loop.steps,
        "epochs_done": loop.steps / loop.steps_per_epoch,
        "seconds": time.perf_counter() - started,
        "losses": loop.losses,
        "stopped_early": loop.stopped_early,
    }
