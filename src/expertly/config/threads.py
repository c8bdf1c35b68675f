"""CPU threads per operation: expertly's measured defaults, and the scope that applies them.

A ``threads`` setting of 0 (the default of ``embedder.threads`` and ``llm.threads``) means
"expertly's measured default for this operation", a positive value is used for every
operation of that section. The defaults (``POLICY``) come from ``benchmarks/threads.py``
(``benchmarks/results/threads.json``, docs/benchmarks.md), 1 thread against every core, in
one process, interleaved, on the reference machine (2 cores):

- ``query``: embedding one query (or a few): **1 thread**. A query is a few dozen tokens;
  splitting it over two threads gains nothing, while torch's OpenMP workers, woken for each
  of the model's small operations, compete with the search's numpy and SQLite work and with
  any other process (SciFact hybrid search p95 124 ms with 2 threads, 24 ms with 1);
- ``batch``: embedding many passages (ingest): **every core** (64 passages: 0.83x the time
  of 1 thread even at load average 8.5);
- ``generate``: decoding with transformers: **1 thread** (64 tokens after a 300-token prompt:
  231 ms per token with 1 thread, 1,337 ms with 2 at load average 7: each token is hundreds
  of small operations, and OpenMP workers that spin waiting for a busy core stall every one);
- ``generate_onnx``: decoding with ONNX Runtime (the default backend): **every core** (85 ms
  per token against 139 ms with 1 thread at load average 5; its pool yields the core);
- ``train``: fine-tuning an LLM (``expertly finetune run``): **every core**, torch's own
  default and the trainer's until now (not re-measured: the run was cut off at load
  average 8). Encoder training (``finetune embedder``/``reranker``) keeps its ``--threads``
  default of 1, measured 1.6-1.8x faster than 2 at load average 4 (docs/evaluation.md);
- ``search``: numpy's BLAS (OpenBLAS) during a search (the dense scores are one matrix-vector
  product over the in-memory vectors): **1 thread** (SciFact search, 1 torch thread: p50
  118 ms with 1 BLAS thread against 164 ms with 2 at load average 7; old default, 2 and 2:
  175 ms). OpenBLAS's pool is the process's, so ``blas_threads`` counts the searches inside
  it and restores the count when the last one leaves; numpy work elsewhere in the process
  during a search also runs on 1 thread.

**One thread, not the process.** ``torch.set_num_threads`` (OpenMP build, the CPU wheel)
sets the count of the *calling* thread, plus the count a thread that has never run a
parallel torch operation starts with; a thread that has already run one keeps its own. So
``torch_threads`` only changes the thread it runs in, and each operation sets its count when
it starts (``torch_threads(threads_for(op, setting))``) and puts the previous one back when
it ends. The server runs searches, generations and ingest in worker threads: a search's 1
thread does not reach a generation running beside it. What one scope cannot avoid: a thread
that runs its *first* parallel torch operation while another thread is inside a scope
starts with that scope's count (any later expertly operation in it sets its own again).

Nothing here imports torch (the core never does): ``torch_threads`` acts on torch when a
model has already loaded it, and is a no-op otherwise. ONNX Runtime's count is fixed when
its session is made (``expertly.generate.ort``).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

Operation = Literal["query", "batch", "generate", "generate_onnx", "train", "search"]

ALL = 0
"""In ``POLICY``: every core this process may run on."""

POLICY: dict[str, int] = {
    "query": 1,
    "batch": ALL,
    "generate": 1,
    "generate_onnx": ALL,
    "train": ALL,
    "search": 1,
}
"""Threads per operation when the setting is 0 (``ALL``: every core); see the module."""

SMALL_BATCH = 4
"""Texts embedded at once up to which an embedding counts as a ``query`` (a question, or
the few rewrites of one) rather than a ``batch``."""


def cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def threads_for(operation: Operation, setting: int = 0) -> int:
    """Threads for ``operation``: ``setting`` when positive, else expertly's default."""
    if setting > 0:
        return setting
    wanted = POLICY[operation]
    return cores() if wanted == ALL else min(wanted, cores())


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads in *this* thread set to ``count``, the previous count put
    back at the end. A no-op when torch is not loaded (nothing to run) or ``count`` < 1."""
    torch = sys.modules.get("torch")
    if torch is None or count < 1:
        yield
        return
    before = int(torch.get_num_threads())
    if before == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


_blas_lock = threading.Lock()
_blas_state: dict[str, Any] = {"inside": 0, "limiter": None, "controller": None}


@contextmanager
def blas_threads(count: int) -> Iterator[None]:
    """numpy's BLAS pools (process-wide) at ``count`` threads while any caller is inside;
    the previous counts come back when the last one leaves. A no-op without threadpoolctl
    (installed with sentence-transformers) or when ``count`` < 1."""
    if count < 1:
        yield
        return
    with _blas_lock:
        if _blas_state["inside"] == 0:
            _blas_state["limiter"] = _blas_limit(count)
        _blas_state["inside"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_state["inside"] -= 1
            if _blas_state["inside"] == 0 and _blas_state["limiter"] is not None:
                _blas_state["limiter"].restore_original_limits()
                _blas_state["limiter"] = None


def _blas_limit(count: int) -> Any:
    """A threadpoolctl limiter holding the BLAS pools at ``count`` (None without it)."""
    if _blas_state["controller"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas_state["controller"] = False
        else:
            _blas_state["controller"] = ThreadpoolController()  # scans the loaded libraries once
    controller = _blas_state["controller"]
    if controller is False:
        return None
    return controller.limit(limits=count, user_api="blas")
