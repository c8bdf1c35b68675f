"""CPU threads per operation: expertly's measured defaults, and the scope that applies them.

A ``threads`` setting of 0 (the default of ``embedder.threads`` and ``llm.threads``) means
"expertly's measured default for this operation", a positive value is used for every
operation of that section. The defaults (``POLICY``) come from ``benchmarks/threads.py``
(``benchmarks/results/threads.json``, docs/benchmarks.md), 1 thread against every core, in
one process, interleaved, on the reference machine (2 cores):

- ``query``: embedding one query (or a few): **1 thread**; and ``search``: numpy's BLAS
  (OpenBLAS, whose pool is the process's) while a search runs: **1 thread**. SciFact hybrid
  search, k = 100, load average 0.7-1.6: torch 2 x BLAS 2 (the old defaults) p50 40.1 ms,
  p95 130.0 ms; 1 x 1 24.9 / 30.1 ms; 1 x 2 23.6 / 28.5; 2 x 1 22.8 / 27.6. Two pools of
  spinning workers on two cores are what costs; either one alone is cheap. 1 x 1 is chosen
  over the slightly faster 2 x 1 because torch's workers stall on a busy core (see
  ``generate``) and OpenBLAS's did too (1.40x slower with 2 BLAS threads at load 7), while
  the idle gain of a second torch thread is 1.3 ms (query alone: 13.9 -> 12.6 ms);
- ``query_onnx``: embedding a query through the encoder's ONNX Runtime copy (the default
  where onnxruntime is installed, ``expertly.embed.onnx``): **every core, workers not
  spinning** (``spin=False`` in ``ort_session_options``). 200 SciFact queries, MiniLM, 2
  cores, p50 / p95 ms: idle 1 thread 6.7 / 10.1, 2 spinning 4.0 / 5.8, 2 not spinning
  5.1 / 8.3; one core busy with another process 7.1 / 10.7, 9.0 / 18.5, 5.4 / 8.7; both
  cores busy 9.2 / 22.7, 14.8 / 22.6, 7.8 / 15.4. Spinning workers win only on an idle
  machine; workers that sleep win in all three;
- ``batch``: embedding many passages (ingest): **every core** (64 passages: 3.5 s against
  5.2 s with 1 thread);
- ``generate``: decoding with transformers: **1 thread** (per token after a 300-token
  prompt: 72 ms with 1 thread, 593 ms with 2 at load average 2-4; 231 against 1,337 ms at 7:
  each token is hundreds of small operations, each waiting for OpenMP workers on busy cores);
- ``generate_onnx``: decoding with ONNX Runtime (the default backend): **every core**, its
  own default, kept: the measurements disagree (2 threads 0.61x the time of 1 at load 5,
  1.69x at load 3.6);
- ``train``: fine-tuning an LLM (``expertly finetune run``): **every core**, torch's own
  default and the trainer's until now (not re-measured: the run was cut off at load
  average 8). Encoder training (``finetune embedder``/``reranker``) keeps its ``--threads``
  default of 1, measured 1.6-1.8x faster than 2 at load average 4 (docs/evaluation.md).

**One thread, not the process.** ``torch.set_num_threads`` (OpenMP build, the CPU wheel)
sets the count of the *calling* thread, plus the count a thread that has never run a
parallel torch operation starts with; a thread that has already run one keeps its own. So
``torch_threads`` only changes the thread it runs in, and each operation sets its count when
it starts (``torch_threads(threads_for(op, setting))``) and puts the previous one back when
it ends. The server runs searches, generations and ingest in worker threads: a search's 1
thread does not reach a generation running beside it. What one scope cannot avoid: a thread
that runs its *first* parallel torch operation while another thread is inside a scope
starts with that scope's count (any later expertly operation in it sets its own again).
OpenBLAS's count is the process's: ``blas_threads`` counts the searches inside it and
restores the count when the last one leaves, so numpy work elsewhere in the process during
a search also runs on 1 thread.

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

Operation = Literal["query", "query_onnx", "batch", "generate", "generate_onnx", "train", "search"]

ALL = 0
"""In ``POLICY``: every core this process may run on."""

POLICY: dict[str, int] = {
    "query": 1,
    "query_onnx": ALL,
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
