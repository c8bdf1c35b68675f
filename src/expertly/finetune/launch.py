"""Start a fine-tuning run on several processes, and the code each process runs.

``launch`` is the launching side of ``expertly finetune run --processes N``: it decides what
must be the same on every process before any starts (the run name, the converted base
model, readable data), writes them to a spec file, and starts N copies of
``python -m expertly.finetune.launch SPEC`` through a launcher:

* ``accelerate`` (default): ``accelerate launch --multi_gpu --num_processes N`` (torchrun
  underneath; on a machine without GPUs the processes train on CPU with gloo);
* ``torchrun``: ``python -m torch.distributed.run --nproc-per-node N``.

Both stop every process as soon as one fails, so a failed rank never leaves the others
waiting. Each process writes its error to the spec's folder before it exits; ``launch``
raises the first one as an ``ExpertlyError``. Rank 0 writes metrics.json, which ``launch``
reads back as the run's ``RunResult``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from expertly.config.checks import _choice
from expertly.config.threads import threads_for
from expertly.errors import ConfigError, ExpertlyError
from expertly.finetune import datasets, distributed
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.result import RunResult
from expertly.finetune.rundir import default_run_name, latest_run, read_json

LAUNCHERS = ("accelerate", "torchrun")


@dataclass(frozen=True)
class Spec:
    """Everything a training process needs, as the launching side decided it."""

    train_path: str
    settings: dict[str, Any]
    runs_dir: str
    models_dir: str
    base_model: str
    val_path: str | None
    name: str
    resume: bool
    threads: int
    init_adapter: str | None


def launch(
    train_path: Path,
    *,
    settings: FinetuneSettings,
    runs_dir: Path,
    models_dir: Path,
    processes: int,
    launcher: str = "accelerate",
    base_model: str = "",
    val_path: Path | None = None,
    name: str | None = None,
    resume: bool = False,
    threads: int = 0,
    init_adapter: Path | None = None,
) -> RunResult:
    """Train on ``processes`` data-parallel processes; return rank 0's ``RunResult``.

    ``threads`` (0: every core) is shared out: each process gets ``threads / processes``
    CPU threads, so N processes do not oversubscribe the cores.
    """
    _choice("launcher", launcher, LAUNCHERS)
    if processes < 2:
        raise ConfigError("--processes must be at least 2 for a launcher; leave it out for one")
    distributed.per_process(settings, processes)  # a batch that cannot be split fails here
    datasets.load_jsonl(train_path)  # bad lines fail before any process starts
    if val_path is not None:
        datasets.load_jsonl(val_path)
    from expertly.generate import models

    source = models.resolve_model(base_model)
    if models.ready_dir(source, models_dir) is None:  # convert once, not once per process
        models.convert_gguf(source, models_dir)
    chosen = name or (latest_run(runs_dir) if resume else default_run_name(settings.method))
    spec = Spec(
        str(train_path),
        settings.to_dict(),
        str(runs_dir),
        str(models_dir),
        base_model,
        None if val_path is None else str(val_path),
        chosen,
        resume,
        max(1, threads_for("train", threads) // processes),
        None if init_adapter is None else str(init_adapter),
    )
    folder = Path(tempfile.mkdtemp(prefix="expertly-launch-"))
    try:
        spec_path = folder / "spec.json"
        spec_path.write_text(json.dumps(asdict(spec)), encoding="utf-8")
        # the processes' output goes to stderr: stdout stays free for --json
        done = subprocess.run(command(launcher, processes, spec_path), stdout=2, check=False)
        note = check_ranks(folder, done.returncode, processes)
        if note:
            print(note, file=sys.stderr)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    metrics = read_json(runs_dir / chosen / "metrics.json")
    if metrics is None:
        raise ExpertlyError(f"The run ended without writing {runs_dir / chosen / 'metrics.json'}")
    return RunResult.from_dict(metrics)


def check_ranks(folder: Path, returncode: int, processes: int) -> str:
    """What the launcher's exit says of the run: raises the first rank's error, or an
    error when the processes failed without one; returns a warning ('' if none) when
    every rank finished its run (``done-rank<N>.txt``) and a process then crashed while
    shutting down (torch.distributed's gloo threads can abort at exit), as the run is
    complete."""
    errors = sorted(folder.glob("error-rank*.txt"))
    if errors:
        raise ExpertlyError(errors[0].read_text(encoding="utf-8"))
    if returncode == 0:
        return ""
    if len(list(folder.glob("done-rank*.txt"))) == processes:
        return (
            f"warning: the {processes} training processes finished the run, then exited with "
            f"code {returncode} while shutting down; the run is complete"
        )
    raise ExpertlyError(
        f"The {processes} training processes failed (exit code {returncode}) "
        "before reporting an error; their output is above"
    )


def command(launcher: str, processes: int, spec: Path) -> list[str]:
    """The launcher's command line that starts ``processes`` copies of this module."""
    port = str(_free_port())
    worker = ["-m", "expertly.finetune.launch", str(spec)]
    if launcher == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
                str(processes), "--master-port", port, *worker]  # fmt: skip
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
            "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision",
            "no", "--dynamo_backend", "no", "--main_process_port", port, *worker]  # fmt: skip


def _free_port() -> int:
    """A loopback port free now, for the processes' rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def work(spec_path: Path) -> int:
    """One training process: run the spec'd run as this launcher rank; 0 on success.

    An error is written to ``error-rank<N>.txt`` beside the spec (the launching side raises
    it) and printed; a ``RankError`` (another rank failed first) is not written, so the
    message that reaches the user is the original one.
    """
    from expertly.finetune.trainer import run_finetune

    raw = json.loads(spec_path.read_text(encoding="utf-8"))
    spec = Spec(**raw)
    rank = distributed.from_env()[0]
    try:
        run_finetune(
            Path(spec.train_path),
            settings=FinetuneSettings(**spec.settings),
            runs_dir=Path(spec.runs_dir),
            models_dir=Path(spec.models_dir),
            base_model=spec.base_model,
            val_path=None if spec.val_path is None else Path(spec.val_path),
            name=spec.name,
            resume=spec.resume,
            threads=spec.threads,
            on_progress=_print_progress if rank == 0 else None,
            init_adapter=None if spec.init_adapter is None else Path(spec.init_adapter),
        )
    except distributed.RankError as exc:
        print(f"[rank {rank}] {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        text = str(exc) if isinstance(exc, ExpertlyError) else traceback.format_exc()
        (spec_path.parent / f"error-rank{rank}.txt").write_text(
            f"Training process {rank} failed: {text}", encoding="utf-8"
        )
        print(f"[rank {rank}] {text}", file=sys.stderr)
        return 1
    (spec_path.parent / f"done-rank{rank}.txt").write_text("done", encoding="utf-8")
    distributed.leave(distributed.World(*distributed.from_env(), distributed.TorchCollective()))
    return 0


def _print_progress(p: Any) -> None:
    """Rank 0's progress, one line per logged loss (no progress bar across processes)."""
    loss = "" if p.loss is None else f" loss {p.loss:.4f}"
    val = "" if p.val_loss is None else f" val loss {p.val_loss:.4f}"
    print(f"step {p.step}/{p.max_steps}{loss}{val}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(work(Path(sys.argv[1])))
