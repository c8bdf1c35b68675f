"""The rank-aware steps of a run on several processes, with threads standing in for them.

``ThreadCollective`` is a ``Collective`` whose ranks are threads meeting at a barrier, so
the agreement logic (run name, time limit, errors, batch split) is tested without spawning
processes or importing torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from expertly.errors import ConfigError, ExpertlyError
from expertly.finetune import distributed
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.distributed import RankError, World

pytestmark = pytest.mark.unit


class ThreadCollective:
    """``all_gather`` for ``size`` threads: each puts its value, all read the full list."""

    def __init__(self, size: int) -> None:
        self.values: list[Any] = [None] * size
        self.barrier = threading.Barrier(size, timeout=10)

    def rank_view(self, rank: int) -> Any:
        outer = self

        class View:
            def all_gather(self, value: Any) -> list[Any]:
                outer.barrier.wait()
                outer.values[rank] = value
                outer.barrier.wait()
                out = list(outer.values)
                outer.barrier.wait()  # nobody overwrites before everyone has read
                return out

        return View()


def on_ranks(size: int, body: Callable[[World], Any]) -> list[Any]:
    """``body(world)`` on ``size`` threads; each rank's return value, or its exception."""
    shared = ThreadCollective(size)
    out: list[Any] = [None] * size

    def run(rank: int) -> None:
        try:
            out[rank] = body(World(rank, size, rank, shared.rank_view(rank)))
        except Exception as exc:
            out[rank] = exc

    threads = [threading.Thread(target=run, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads), "a rank hung"
    return out


def test_every_rank_takes_rank_zeros_run_name() -> None:
    # each rank's clock would give another name: only rank 0's choice counts
    names = on_ranks(3, lambda w: distributed.on_main(w, lambda: f"lora-clock-of-rank-{w.rank}"))
    assert names == ["lora-clock-of-rank-0"] * 3


def test_only_rank_zero_runs_the_writing_step() -> None:
    ran: list[int] = []
    on_ranks(2, lambda w: distributed.on_main(w, lambda: ran.append(w.rank)))
    assert ran == [0]


def test_the_time_limit_stops_every_rank_when_one_rank_is_late() -> None:
    # rank 2's clock passes the deadline at step 3, the others' later: all stop at step 3
    def train(w: World) -> int:
        for step in range(1, 10):
            late = step >= (3 if w.rank == 2 else 6)
            if distributed.any_rank(w, late):
                return step
        return -1

    assert on_ranks(3, train) == [3, 3, 3]


def test_an_error_on_one_rank_is_raised_on_every_rank_without_a_hang() -> None:
    def work(w: World) -> str:
        def step() -> str:
            if w.rank == 1:
                raise ExpertlyError("line 3 is not JSON")
            return "ok"

        return distributed.agree(w, step)

    zero, one = on_ranks(2, work)
    assert isinstance(one, ExpertlyError) and str(one) == "line 3 is not JSON"
    assert isinstance(zero, RankError)
    assert "process 1 of 2 failed" in str(zero) and "line 3 is not JSON" in str(zero)


def test_a_failure_in_rank_zeros_writing_step_reaches_the_others() -> None:
    def work(w: World) -> Any:
        def write() -> None:
            raise ExpertlyError("The run runs/x already exists")

        return distributed.on_main(w, write)

    zero, one = on_ranks(2, work)
    assert "already exists" in str(zero) and isinstance(one, RankError)
    assert "already exists" in str(one)


def test_the_ranks_agree_on_the_smallest_fitting_batch() -> None:
    assert on_ranks(3, lambda w: distributed.smallest(w, [8, 4, 16][w.rank])) == [4, 4, 4]


def test_a_single_process_needs_no_collective() -> None:
    alone = World()
    assert distributed.on_main(alone, lambda: "name") == "name"
    assert distributed.any_rank(alone, True) and not distributed.any_rank(alone, False)
    assert distributed.broadcast(alone, 5) == 5


def test_the_batch_is_split_across_the_processes_keeping_the_effective_batch() -> None:
    s = FinetuneSettings(batch_size=8, grad_accum=2)
    split = distributed.per_process(s, 4)
    assert (split.batch_size, split.grad_accum) == (2, 2)
    assert split.batch_size * 4 * split.grad_accum == s.batch_size * s.grad_accum
    assert distributed.per_process(s, 1) is s
    with pytest.raises(ConfigError, match="choose a multiple of 3"):
        distributed.per_process(s, 3)


def test_a_process_without_a_launcher_trains_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.join(cuda=False, timeout_minutes=1) == World()


def test_the_launchers_start_this_module_on_n_processes(tmp_path: Any) -> None:
    from pathlib import Path

    from expertly.finetune.launch import command, launch

    spec = Path("spec.json")
    torchrun = command("torchrun", 2, spec)
    assert torchrun[1:3] == ["-m", "torch.distributed.run"] and "--nproc-per-node" in torchrun
    accelerate = command("accelerate", 4, spec)
    assert accelerate[accelerate.index("--num_processes") + 1] == "4"
    for cmd in (torchrun, accelerate):
        assert cmd[-3:] == ["-m", "expertly.finetune.launch", "spec.json"]
    with pytest.raises(ConfigError, match="choose one of: accelerate, torchrun"):
        launch(spec, settings=FinetuneSettings(), runs_dir=tmp_path, models_dir=tmp_path,
               processes=2, launcher="mpi")  # fmt: skip


def test_the_time_limit_callback_stops_all_ranks_at_the_same_step() -> None:
    """Rank 1's limit is already over, rank 0's is an hour away: both stop after step 1."""
    from types import SimpleNamespace

    from transformers import TrainerCallback  # noqa: F401  (imported once, not per thread)

    from expertly.finetune.callbacks import time_limit_callback

    def train(w: World) -> tuple[int, list[str]]:
        stopped: list[str] = []
        callback = time_limit_callback(60.0 if w.rank == 0 else 1e-9, stopped, w)
        control = SimpleNamespace(should_training_stop=False, should_save=False)
        step = 0
        while not control.should_training_stop and step < 5:
            step += 1
            callback.on_step_end(None, SimpleNamespace(global_step=step), control)
        return step, stopped

    assert on_ranks(2, train) == [(1, ["max_minutes"]), (1, ["max_minutes"])]


def test_a_crash_after_every_rank_finished_is_a_warning_not_a_failure(tmp_path: Any) -> None:
    from expertly.errors import ExpertlyError
    from expertly.finetune.launch import check_ranks

    assert check_ranks(tmp_path, 0, 2) == ""
    with pytest.raises(ExpertlyError, match="exit code -6"):
        check_ranks(tmp_path, -6, 2)  # nobody finished: a failure
    (tmp_path / "done-rank0.txt").write_text("done")
    with pytest.raises(ExpertlyError, match="exit code -6"):
        check_ranks(tmp_path, -6, 2)  # rank 1 did not finish
    (tmp_path / "done-rank1.txt").write_text("done")
    assert "the run is complete" in check_ranks(tmp_path, -6, 2)  # gloo aborting at exit
    (tmp_path / "error-rank1.txt").write_text("Training process 1 failed: disk full")
    with pytest.raises(ExpertlyError, match="disk full"):
        check_ranks(tmp_path, 1, 2)  # a rank's own error always wins
