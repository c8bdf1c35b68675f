"""Rank-aware steps of a data-parallel fine-tuning run (several processes, one model copy each).

A run launched on several processes (``expertly finetune run --processes N``, or
``accelerate launch`` / ``torchrun`` around ``python -m expertly.finetune.worker``) trains
one model: every process holds a copy, takes its share of every batch, and DDP averages the
gradients. Everything around the training loop must then be decided once, not once per
process:

* the run name (it contains the time, and clocks differ by a second): rank 0 decides and
  the others take its choice (``broadcast``);
* the run dir, metrics.json, loss.png, the forgetting check and the saved adapter/model:
  only rank 0 writes (``on_main``), the others wait for it;
* the ``--max-minutes`` limit: every rank stops at the same step (``any_rank``), else the
  ranks still training would wait forever for the one that stopped.

Every such step is a collective in which each rank also says whether its own part failed
(``agree``): an error on one rank is raised on every rank, naming the rank and its message,
instead of leaving the others blocked in the next collective. The process group's timeout
(``FinetuneSettings.dist_timeout_minutes``) bounds what is left: a rank that hangs or dies
without reaching a collective.

The collectives go through a ``Collective`` (one method, ``all_gather``); ``TorchCollective``
is torch.distributed's, and tests hand in threads. Importing this module does not import
torch.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from expertly.errors import ConfigError, ExpertlyError

if TYPE_CHECKING:
    from expertly.finetune.config import FinetuneSettings

T = TypeVar("T")


class RankError(ExpertlyError):
    """Another process of a data-parallel run failed; this one stops with its message."""


class Collective(Protocol):
    """Exchanges one picklable object between every process of the run."""

    def all_gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order (a collective: every rank must call it)."""
        ...


@dataclass(frozen=True)
class World:
    """This process's place in the run; ``World()`` is a single-process run.

    Args:
        rank: this process's index, 0 for the process that writes.
        size: how many processes train together.
        local_rank: index among the processes of this machine (its GPU).
        collective: how the processes talk; None for a single process.
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    collective: Collective | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def from_env() -> tuple[int, int, int]:
    """``(rank, world size, local rank)`` as torchrun and accelerate launch set them."""
    return (
        int(os.environ.get("RANK", "0")),
        int(os.environ.get("WORLD_SIZE", "1")),
        int(os.environ.get("LOCAL_RANK", "0")),
    )


def join(*, cuda: bool, timeout_minutes: float) -> World:
    """This process's ``World``: joins the process group when launched on several processes.

    The backend is nccl on CUDA (each process on its local GPU) and gloo on CPU. The
    timeout bounds every collective, so a rank that died or hangs turns into an error on
    the others after ``timeout_minutes`` instead of a silent wait.
    """
    rank, size, local = from_env()
    if size <= 1:
        return World()
    import torch
    import torch.distributed as dist

    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if cuda else "gloo",
            timeout=timedelta(minutes=timeout_minutes),
        )
    if dist.get_world_size() != size or dist.get_rank() != rank:
        raise ExpertlyError(
            f"The process group (rank {dist.get_rank()} of {dist.get_world_size()}) does not "
            f"match RANK={rank} WORLD_SIZE={size}; launch with expertly finetune run "
            "--processes, torchrun or accelerate launch"
        )
    return World(rank, size, local, TorchCollective())


class TorchCollective:
    """``Collective`` over torch.distributed's default process group."""

    def all_gather(self, value: Any) -> list[Any]:
        import torch.distributed as dist

        out: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(out, value)
        return out


def agree(world: World, work: Callable[[], T]) -> T:
    """Run ``work`` on this rank, then learn whether every rank's ``work`` succeeded.

    A rank whose ``work`` raised re-raises its own error; the others raise ``RankError``
    naming the first failed rank and its message. So a failure on one rank stops every
    rank at the same place, and none waits in a later collective for it.
    """
    if world.collective is None:
        return work()
    try:
        result = work()
    except Exception as exc:
        world.collective.all_gather(f"{type(exc).__name__}: {exc}")
        raise
    failures = world.collective.all_gather(None)
    for rank, failure in enumerate(failures):
        if failure is not None:
            raise RankError(
                f"Training process {rank} of {world.size} failed, so process {world.rank} "
                f"stopped too: {failure}"
            )
    return result


def on_main(world: World, work: Callable[[], T]) -> T:
    """``work`` run on rank 0 only; every rank gets its result (or its error, see ``agree``).

    For the steps that write (run dir, metrics, the saved output) or that decide something
    all ranks must share (the run name). The others wait for rank 0 meanwhile.
    """
    if world.collective is None:
        return work()
    result: list[T] = []
    agree(world, lambda: result.append(work()) if world.is_main else None)
    return cast(T, broadcast(world, result[0] if result else None))


def broadcast(world: World, value: T) -> T:
    """Rank 0's ``value``, on every rank."""
    if world.collective is None:
        return value
    return cast(T, world.collective.all_gather(value if world.is_main else None)[0])


def any_rank(world: World, flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any rank (the ranks then act alike)."""
    if world.collective is None:
        return flag
    return any(world.collective.all_gather(bool(flag)))


def smallest(world: World, value: int) -> int:
    """The smallest of the ranks' ``value`` (a batch size every rank's device can hold)."""
    if world.collective is None:
        return value
    return min(world.collective.all_gather(int(value)))


def leave(world: World) -> None:
    """Leave the process group cleanly at the end of a run (no-op for a single process)."""
    if world.collective is None:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def per_process(s: FinetuneSettings, processes: int) -> FinetuneSettings:
    """``s`` with the micro-batch of one of ``processes`` processes: ``batch_size`` counts
    the examples of a forward pass over all processes, so the effective batch
    (``batch_size * grad_accum``) does not change with the number of processes."""
    if processes <= 1:
        return s
    if s.batch_size % processes:
        raise ConfigError(
            f"--batch-size {s.batch_size} cannot be split evenly across {processes} processes "
            f"(each trains batch_size / processes examples per step); choose a multiple of "
            f"{processes}, or raise grad_accum for a larger effective batch"
        )
    return dataclasses.replace(s, batch_size=s.batch_size // processes)
