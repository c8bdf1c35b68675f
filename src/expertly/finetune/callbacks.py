"""transformers ``TrainerCallback`` builders: progress reporting and a wall-clock limit.

The callback classes subclass ``TrainerCallback``, which lives in transformers, so they are
built inside functions: importing this module stays free of torch and transformers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Progress:
    """What a progress display shows after each logged step."""

    step: int
    max_steps: int
    loss: float | None
    val_loss: float | None


ProgressFn = Callable[[Progress], None]


def progress_callback(report: ProgressFn) -> Any:
    """A callback handing every logged training / validation loss to ``report``."""
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            loss, val = logs.get("loss"), logs.get("eval_loss")
            if loss is not None or val is not None:
                report(Progress(state.global_step, state.max_steps, loss, val))

    return _Progress()


def time_limit_callback(max_minutes: float, stopped: list[str]) -> Any:
    """A callback that ends training cleanly once ``max_minutes`` have passed.

    Training stops after the current optimiser step; a checkpoint is saved so ``--resume``
    can continue, and ``"max_minutes"`` is appended to ``stopped`` so the run records why.
    """
    from transformers import TrainerCallback

    deadline = time.monotonic() + max_minutes * 60

    class _TimeLimit(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if time.monotonic() >= deadline and not control.should_training_stop:
                control.should_training_stop = True
                control.should_save = True
                stopped.append("max_minutes")

    return _TimeLimit()
