"""Directories built once and trusted only when finished: converted models and their copies.

A conversion (a GGUF model to safetensors, a model to ONNX, an encoder to ONNX) is written
into a temporary directory beside its target, a marker file last, then renamed into place,
so an interrupted run (kill -9 included) never leaves a half-written copy that a later run
would load. Used by the LLM backends (``expertly.generate``) and the embedder
(``expertly.embed``), which may not import each other.
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

MARKER = "expertly-conversion.json"  # written last inside a finished conversion
STALE_TMP_S = 6 * 3600  # temp dirs older than this belong to a conversion that died


def build_once(target: Path, write: Callable[[Path], None], marker: dict[str, Any]) -> Path:
    """Make ``target`` once, atomically: ``write`` fills a temp dir beside it, then the marker
    file (``marker`` plus the seconds it took) is written last and the dir renamed into place.

    A dir without the marker is never trusted; temp dirs of conversions that died are
    removed once stale. When two processes build at once, the first rename wins and the
    other copy is discarded.
    """
    if (target / MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target.parent, target.name)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the finished copy is an ordinary folder
        write(tmp)
        done = {
            **marker,
            "seconds": round(time.perf_counter() - started, 2),
            "converted_at": time.time(),
        }
        (tmp / MARKER).write_text(json.dumps(done, indent=2), encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / MARKER).is_file():
                raise
            shutil.rmtree(tmp)  # another process finished the same conversion first
    except BaseException:
        # the original error is what matters; a leftover temp dir is removed as stale later
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def remove_stale_temps(cache_dir: Path, slug: str) -> None:
    """Delete temp dirs left by conversions that died; recent ones may still be running."""
    for leftover in cache_dir.glob(f".{slug}.tmp-*"):
        if time.time() - leftover.stat().st_mtime > STALE_TMP_S:
            shutil.rmtree(leftover)
