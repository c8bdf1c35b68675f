"""Run-directory bookkeeping: atomic writes, checkpoints, resuming, run names.

Every output is written into a temporary directory beside its target and renamed into place,
and JSON files are replaced with ``os.replace``: a process that dies mid-write never leaves a
half-written model, adapter or export where a finished one is expected.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from expertly.errors import ExpertlyError
from expertly.finetune import datasets


def default_run_name(method: str) -> str:
    return f"{method}-{time.strftime('%Y%m%d-%H%M%S')}"


def latest_run(runs_dir: Path) -> str:
    """The most recently modified run under ``runs_dir`` (for ``--resume`` without --name)."""
    runs = (
        [p for p in runs_dir.glob("*") if (p / "config.json").is_file()]
        if runs_dir.is_dir()
        else []
    )
    if not runs:
        raise ExpertlyError(f"No run to resume in {runs_dir}; start one without --resume")
    return max(runs, key=lambda p: p.stat().st_mtime).name


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint: the Trainer writes ``trainer_state.json`` last."""
    found = []
    for ckpt in (run_dir / "checkpoints").glob("checkpoint-*"):
        state = ckpt / "trainer_state.json"
        try:
            json.loads(state.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # died while saving: an older checkpoint is used instead
        found.append((int(ckpt.name.rsplit("-", 1)[1]), ckpt))
    return max(found)[1] if found else None


def prepare_run_dir(run_dir: Path, config: dict[str, Any], resume: bool) -> Path | None:
    """Create a new run dir, or check a resumed one; return the checkpoint to resume from."""
    if not resume:
        if run_dir.exists():
            raise ExpertlyError(
                f"The run {run_dir} already exists: add --resume to continue it, or choose "
                "another --name"
            )
        run_dir.mkdir(parents=True)
        write_json(run_dir / "config.json", config)
        return None
    saved_path = run_dir / "config.json"
    if not saved_path.is_file():
        raise ExpertlyError(f"No run to resume at {run_dir}; start it without --resume")
    saved = json.loads(saved_path.read_text(encoding="utf-8"))
    for key in ("train", "val"):
        if (saved.get(key) or {}).get("sha256") != (config.get(key) or {}).get("sha256"):
            raise datasets.DatasetError(
                f"The {key} data differs from the data run {run_dir.name} started with; "
                "resume with the same files or start a new run"
            )
    if "created" in saved:  # a resumed run keeps its creation time
        config = {**config, "created": saved["created"]}
    write_json(saved_path, config)  # the settings this continuation uses
    return last_checkpoint(run_dir)


def write_dir_atomically(target: Path, fill: Callable[[Path], None]) -> None:
    """Call ``fill(tmp)`` on a fresh temp dir beside ``target``, then rename it into place.

    An existing ``target`` (a resumed run's earlier output, a re-export) is replaced only
    once the new copy is complete.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tmp.chmod(0o755)
        fill(tmp)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the original error is what matters
        raise


def save_atomically(model: Any, tok: Any, target: Path) -> None:
    """Write the model (or adapter) and its tokenizer to ``target`` atomically."""

    def fill(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)

    write_dir_atomically(target, fill)


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically (write a temp file, then ``os.replace``)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def read_initial(run_dir: Path) -> list[tuple[int, float]]:
    """The pre-training validation loss recorded when the run started."""
    data = read_json(run_dir / "metrics.json") or {}
    return [(int(s), float(v)) for s, v in data.get("val_loss", []) if int(s) == 0]


def step_of(checkpoint: Path | None) -> int | None:
    return None if checkpoint is None else int(checkpoint.name.rsplit("-", 1)[1])


def tokens_seen(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state.get("num_input_tokens_seen", 0))
