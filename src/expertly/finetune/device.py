"""What the training device decides: precision, optimiser kernel and micro-batch size.

The choices are pure functions of a ``DeviceInfo`` (``detect`` reads it from torch), so
they are tested on any machine; only ``detect``, ``apply_tf32`` and ``largest_fitting_batch``
touch the hardware.

* Precision (``choose_precision``): bf16 mixed precision on CUDA GPUs with bf16 (compute
  capability >= 8.0: same range as fp32, no loss scaling), fp16 with loss scaling on older
  CUDA GPUs, fp32 on CPU (bf16 autocast on CPU is available on request). TF32 matmuls are
  switched on for CUDA: fp32 matmuls then run on tensor cores with a 10-bit mantissa, which
  training tolerates. The weights stay fp32 in every mode (the ``Trainer``'s autocast).
* Optimiser (``choose_optimizer``): the fused AdamW kernel (one kernel for every parameter
  update) wherever torch has one, i.e. CUDA and CPU.
* Micro-batch (``split_batch``, ``largest_fitting_batch``): on CUDA, the largest divisor of
  the effective batch that fits in memory, and the gradient accumulation that keeps the
  effective batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from expertly.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceInfo:
    """The training device as the choices need it.

    Args:
        kind: ``cuda``, ``mps`` or ``cpu``.
        bf16: the device computes in bf16 natively (CUDA compute capability >= 8.0).
        name: the device's name, for messages (``NVIDIA H100 80GB HBM3``).
        fused_adamw: torch has a fused AdamW kernel for this device.
    """

    kind: str
    bf16: bool = False
    name: str = ""
    fused_adamw: bool = True


def detect() -> DeviceInfo:
    """The device the ``Trainer`` will train on (the first CUDA GPU when there is one)."""
    import torch

    if torch.cuda.is_available():
        return DeviceInfo(
            "cuda",
            bf16=bool(torch.cuda.is_bf16_supported()),
            name=torch.cuda.get_device_name(0),
        )
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return DeviceInfo("mps", bf16=False, name="Apple MPS", fused_adamw=False)
    return DeviceInfo("cpu", bf16=False, name="CPU")


@dataclass(frozen=True)
class Precision:
    """The precision a run trains in, and why; recorded in config.json and metrics.json.

    Args:
        name: ``fp32``, ``bf16`` (autocast, fp32 weights) or ``fp16`` (autocast with loss
            scaling, fp32 weights).
        requested: the ``precision`` setting (``auto`` or the same as ``name``).
        tf32: fp32 matmuls may run as TF32 on tensor cores (CUDA only).
        loss_scaling: gradients are scaled against fp16 underflow (``fp16`` only).
        device: the device kind it was chosen for.
        reason: one sentence for the run summary.
    """

    name: str
    requested: str
    tf32: bool
    loss_scaling: bool
    device: str
    reason: str

    def training_arguments(self) -> dict[str, bool]:
        """The ``TrainingArguments`` flags for this precision (fp16 implies a GradScaler).

        bf16 on CPU also sets ``use_cpu``: transformers refuses ``bf16`` without a GPU
        unless told that the CPU is meant (it then runs torch's CPU bf16 autocast)."""
        flags = {"bf16": self.name == "bf16", "fp16": self.name == "fp16"}
        if self.device == "cpu" and self.name == "bf16":
            flags["use_cpu"] = True
        return flags

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_precision(requested: str, device: DeviceInfo) -> Precision:
    """The precision for ``requested`` (``auto | fp32 | bf16 | fp16``) on ``device``.

    An explicit choice the device cannot honour raises ``ConfigError`` saying why: fp16
    off CUDA (its loss scaling and fast fp16 matmuls are CUDA features; a CPU has neither,
    so fp16 there is slower than fp32 and no more accurate than bf16), bf16 on a CUDA GPU
    without bf16 (compute capability < 8.0) or on MPS.
    """
    cuda = device.kind == "cuda"
    where = device.name or device.kind

    def made(name: str, reason: str) -> Precision:
        return Precision(name, requested, cuda, name == "fp16", device.kind, reason)

    if requested == "auto":
        if cuda and device.bf16:
            return made("bf16", f"{where} supports bf16: mixed precision, no loss scaling")
        if cuda:
            return made("fp16", f"{where} has no bf16: fp16 mixed precision with loss scaling")
        return made("fp32", f"{device.kind}: fp32 (mixed precision speeds up CUDA GPUs only)")
    if requested == "fp32":
        return made("fp32", "fp32 as requested")
    if requested == "bf16":
        if cuda and not device.bf16:
            raise ConfigError(
                f"precision = 'bf16', but {where} cannot compute in bf16 (CUDA compute "
                "capability 8.0 or newer is needed); use 'fp16' or 'auto'"
            )
        if device.kind == "mps":
            raise ConfigError("precision = 'bf16' is not supported on MPS; use 'fp32'")
        return made("bf16", f"bf16 autocast on {where} as requested")
    if requested == "fp16":
        if not cuda:
            raise ConfigError(
                f"precision = 'fp16' needs a CUDA GPU ({where} has no fast fp16 matmuls and "
                "fp16 training needs CUDA loss scaling); use 'fp32' (or 'bf16' autocast)"
            )
        return made("fp16", "fp16 mixed precision with loss scaling as requested")
    raise ConfigError(f"precision = {requested!r} is not valid; choose auto, fp32, bf16 or fp16")


def apply_tf32(precision: Precision) -> None:
    """Let CUDA fp32 matmuls and convolutions use TF32 when ``precision.tf32`` is set."""
    if not precision.tf32:
        return
    import torch

    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def choose_optimizer(requested: str, device: DeviceInfo) -> str:
    """The ``TrainingArguments.optim`` name: ``adamw_torch_fused`` for ``auto`` where torch
    has a fused AdamW for the device, else ``adamw_torch``; an explicit name is kept, except
    that a fused request on a device without the kernel raises ``ConfigError``."""
    if requested == "auto":
        return "adamw_torch_fused" if device.fused_adamw else "adamw_torch"
    if requested == "adamw_torch_fused" and not device.fused_adamw:
        raise ConfigError(
            f"optimizer = 'adamw_torch_fused': torch has no fused AdamW for {device.kind}; "
            "use 'adamw_torch' or 'auto'"
        )
    if requested not in ("adamw_torch", "adamw_torch_fused"):
        raise ConfigError(
            f"optimizer = {requested!r} is not valid; choose auto, adamw_torch or adamw_torch_fused"
        )
    return requested


def batch_candidates(effective: int) -> list[int]:
    """Micro-batch sizes worth trying for an effective batch: its divisors, largest first
    (a divisor keeps ``micro * accumulation`` exactly equal to the effective batch)."""
    if effective <= 0:
        raise ValueError(f"the effective batch must be > 0, got {effective}")
    return [m for m in range(effective, 0, -1) if effective % m == 0]


def split_batch(effective: int, largest_fitting: int) -> tuple[int, int]:
    """(micro-batch, gradient accumulation) for an effective batch when at most
    ``largest_fitting`` examples fit in one forward pass: the largest divisor of
    ``effective`` not above it, so that their product is exactly ``effective``."""
    if largest_fitting <= 0:
        raise ValueError(f"largest_fitting must be > 0, got {largest_fitting}")
    micro = next(m for m in batch_candidates(effective) if m <= largest_fitting)
    return micro, effective // micro


def largest_fitting_batch(
    candidates: Sequence[int],
    try_batch: Callable[[int], None],
    is_out_of_memory: Callable[[BaseException], bool],
) -> int:
    """The first of ``candidates`` (largest first) for which ``try_batch`` returns; a
    candidate that raises an out-of-memory error (as ``is_out_of_memory`` tells) moves on
    to the next, any other error propagates. Raises ``ConfigError`` when none fits."""
    for size in candidates:
        try:
            try_batch(size)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            log.info("micro-batch %d does not fit in GPU memory; trying a smaller one", size)
            continue
        return size
    raise ConfigError(
        f"not even a batch of {min(candidates)} fits in GPU memory; lower max_seq_len or use "
        "gradient_checkpointing or method qlora"
    )


def cuda_batch_probe(
    model: Any, seq_len: int, vocab_size: int, precision: Precision | None = None
) -> Callable[[int], None]:
    """A ``try_batch`` for ``largest_fitting_batch``: one forward and backward pass of a
    ``size`` x ``seq_len`` batch of random tokens on the model's CUDA device, under the
    run's autocast (bf16 / fp16 activations take half the memory of fp32 ones), gradients
    cleared afterwards and the allocator's cache emptied between tries."""
    import contextlib

    import torch

    device = next(model.parameters()).device
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
        precision.name if precision else "fp32"
    )

    def try_batch(size: int) -> None:
        autocast = (
            torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()
        )
        try:
            ids = torch.randint(0, vocab_size, (size, seq_len), device=device)
            with autocast:
                out = model(input_ids=ids, labels=ids)  # as the training forward is called
            out.loss.backward()
        finally:
            model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()

    return try_batch


def is_cuda_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's CUDA out-of-memory error."""
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError)
