"""transformers ``TrainerCallback`` builders: progress reporting, a wall-clock limit and a
loss target.

The callback classes subclass ``TrainerCallback``, which lives in transformers, so they are
built inside functions: importing this module stays free of torch and transformers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from expertly.finetune.distributed import World, any_rank


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


def time_limit_callback(max_minutes: float, stopped: list[str], world: World | None = None) -> Any:
    """A callback that ends training cleanly once ``max_minutes`` have passed.

    Training stops after the current optimiser step; a checkpoint is saved so ``--resume``
    can continue, and ``"max_minutes"`` is appended to ``stopped`` so the run records why.
    On several processes (``world``) the ranks' clocks are compared after every step and
    all stop when the first one's time is up: a rank that stopped alone would leave the
    others waiting for it in the next gradient exchange.
    """
    from transformers import TrainerCallback

    deadline = time.monotonic() + max_minutes * 60
    ranks = world or World()

    class _TimeLimit(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            late = any_rank(ranks, time.monotonic() >= deadline)  # every rank, every step
            if late and not control.should_training_stop:
                control.should_training_stop = True
                control.should_save = True
                stopped.append("max_minutes")

    return _TimeLimit()


def loss_target_callback(target: float, stopped: list[str], patience: int = 3) -> Any:
    """A callback that ends training cleanly once ``patience`` logged training losses in a
    row are below ``target`` (one low loss on a handful of examples can be luck).

    ``"loss_target"`` is appended to ``stopped`` so the run records why it ended early.
    """
    from transformers import TrainerCallback

    below = [0]

    class _LossTarget(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            loss = (logs or {}).get("loss")
            if loss is None:
                return
            below[0] = below[0] + 1 if loss < target else 0
            if below[0] >= patience and not control.should_training_stop:
                control.should_training_stop = True
                control.should_save = True
                stopped.append("loss_target")

    return _LossTarget()


def adalora_callback(schedule: Callable[[int], tuple[int, int, int]]) -> Any:
    """A callback that runs AdaLoRA's budget allocation after every optimiser step.

    PEFT asks for ``update_and_allocate(global_step)`` after ``optimizer.step()`` and before
    ``zero_grad()`` (the importance scores read the gradients): that is exactly when the
    Trainer fires ``on_optimizer_step``. At the start of training the schedule is set from
    the Trainer's own step count, so ``total_step`` always matches the run: ``schedule``
    maps it to ``(tinit, tfinal, deltaT)``.
    """
    from transformers import TrainerCallback

    class _AdaLora(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            model = kw["model"]
            config = model.peft_config[model.base_model.trainable_adapter_name]
            total = max(1, int(state.max_steps))
            config.total_step = total
            config.tinit, config.tfinal, config.deltaT = schedule(total)

        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            kw["model"].base_model.update_and_allocate(state.global_step)

    return _AdaLora()
