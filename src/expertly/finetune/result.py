"""What a fine-tuning run reports: ``RunResult`` (the content of metrics.json) and its loss
plot. Kept apart from the training so that readers of a run (the CLI summary, the launcher
of a run on several processes) need not import the training code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expertly.errors import MissingDependencyError


def output_name(method: str) -> str:
    """The run's output folder: ``model`` for full fine-tuning, else ``adapter``."""
    return "model" if method == "full" else "adapter"


@dataclass
class RunResult:
    """What a finished (or cleanly stopped) run produced; also the content of metrics.json.

    ``batch_size`` is the micro-batch of one process, ``processes`` how many trained
    together; ``effective_batch`` = ``batch_size * processes * grad_accum`` examples per
    optimiser step, the same as the ``--batch-size`` asked for times ``grad_accum``.
    """

    name: str
    run_dir: str
    output_dir: str
    method: str
    status: str  # finished | early_stopping | max_minutes | loss_target
    steps: int
    train_examples: int
    val_examples: int
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    val_loss: list[tuple[int, float]] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    tokens_per_s: float = 0.0
    seconds_per_step: float = 0.0
    truncated_examples: int = 0
    resumed_from_step: int | None = None
    base_model: str = ""
    trainable_params: int = 0
    total_params: int = 0
    forgetting: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    loss_plot: str = ""
    precision: dict[str, Any] = field(default_factory=dict)
    optimizer: str = ""
    batch_size: int = 0  # the micro-batch of one process (auto_batch_size may change it)
    grad_accum: int = 0
    processes: int = 1  # data-parallel training processes
    effective_batch: int = 0  # examples per optimiser step over all processes
    packed_rows: int = 0  # rows the training examples were packed into (0: not packed)
    padding_share: float = 0.0  # share of the packed rows' token slots left empty

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """A result read back from metrics.json (the pairs of the histories as tuples)."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("train_loss", "val_loss"):
            values[key] = [(int(s), float(v)) for s, v in values.get(key, [])]
        return cls(**values)


def plot(result: RunResult, path: Path) -> Path | str:
    """The loss curve; a missing matplotlib only costs the picture, never the run."""
    from expertly.finetune.plots import loss_curve

    try:
        return loss_curve(
            result.train_loss, result.val_loss, path, title=f"{result.method} run {result.name}"
        )
    except MissingDependencyError as exc:
        result.warnings.append(f"No loss plot: {exc}")
        return ""
