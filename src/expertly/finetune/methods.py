"""The trainable model for each fine-tuning method, built from a base model directory.

One function per method, chosen once from a dict (``build_model``): ``full`` trains every
weight; ``lora``, ``qlora``, ``adalora`` and ``prefix`` wrap the frozen base in a PEFT
adapter. ``qlora`` first loads the base in 4-bit NF4 through bitsandbytes, on CPU (compute
in fp32) or CUDA (compute in bf16 where supported). torch, transformers, peft and
bitsandbytes are imported inside the functions only.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from expertly.errors import MissingDependencyError
from expertly.finetune.config import FinetuneSettings


def planned_steps(train_examples: int, s: FinetuneSettings) -> int:
    """Optimiser steps the run will take, as the transformers ``Trainer`` counts them."""
    if s.max_steps > 0:
        return s.max_steps
    batches = math.ceil(train_examples / s.batch_size)
    per_epoch = max(1, batches // s.grad_accum + (1 if batches % s.grad_accum else 0))
    return max(1, math.ceil(s.epochs * per_epoch))


def build_model(folder: Path, s: FinetuneSettings, *, total_steps: int) -> Any:
    """The model the Trainer optimises for ``s.method`` (``total_steps``: AdaLoRA's budget)."""
    return BUILDERS[s.method](folder, s, total_steps)


CONTINUABLE = ("lora", "prefix")
"""Methods whose saved adapter can be trained further on a full-precision base."""


def continue_adapter(folder: Path, s: FinetuneSettings, adapter: Path) -> Any:
    """The base model in ``folder`` with the saved PEFT ``adapter`` on it, trainable, so a
    run continues where an earlier one stopped (a QLoRA adapter is a LoRA adapter and loads
    too, on the full-precision base). Methods other than ``CONTINUABLE`` raise ValueError."""
    if s.method not in CONTINUABLE:
        raise ValueError(
            f"method {s.method!r} cannot continue a saved adapter; use one of "
            f"{', '.join(CONTINUABLE)} or start a fresh run"
        )
    peft = _peft("continuing an adapter")
    # PeftModel.from_pretrained(is_trainable=True) refuses prompt-learning adapters: build
    # the adapter from its saved config and load its saved weights into it instead
    config = peft.PeftConfig.from_pretrained(str(adapter))
    config.inference_mode = False
    model = peft.get_peft_model(_load(folder), config)
    peft.set_peft_model_state_dict(model, peft.load_peft_weights(str(adapter)))
    return model


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts, for the run summary."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel() * (2 if p.__class__.__name__ == "Params4bit" else 1)  # 2 values a byte
        total += n
        trainable += n if p.requires_grad else 0
    return trainable, total


def _load(folder: Path, **kw: Any) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kw.setdefault("dtype", torch.float32)
    return AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, **kw)


def _peft(purpose: str) -> Any:
    try:
        import peft
    except ImportError as exc:
        raise MissingDependencyError("peft", "finetune", purpose) from exc
    return peft


def _targets(s: FinetuneSettings) -> Any:
    return "all-linear" if s.target_modules == ["all-linear"] else s.target_modules


def _full(folder: Path, s: FinetuneSettings, total_steps: int) -> Any:
    return _load(folder)


def _lora_config(s: FinetuneSettings) -> Any:
    peft = _peft("LoRA fine-tuning")
    return peft.LoraConfig(
        task_type="CAUSAL_LM",
        r=s.lora_r,
        lora_alpha=s.lora_alpha,
        lora_dropout=s.lora_dropout,
        target_modules=_targets(s),
    )


def _lora(folder: Path, s: FinetuneSettings, total_steps: int) -> Any:
    return _peft("LoRA").get_peft_model(_load(folder), _lora_config(s))


def _qlora(folder: Path, s: FinetuneSettings, total_steps: int) -> Any:
    """LoRA over 4-bit NF4 base weights (double quantisation, as in the QLoRA paper)."""
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MissingDependencyError("bitsandbytes", "finetune", "QLoRA's 4-bit base model")
    import torch
    from transformers import BitsAndBytesConfig

    cuda = torch.cuda.is_available()
    compute = torch.float32
    if cuda and torch.cuda.is_bf16_supported():
        compute = torch.bfloat16
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )
    model = _load(folder, quantization_config=quant, device_map={"": 0} if cuda else "cpu")
    _keep_cpu_weights_trainable(model)
    peft = _peft("QLoRA")
    model = peft.prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=s.gradient_checkpointing
    )
    return peft.get_peft_model(model, _lora_config(s))


def _keep_cpu_weights_trainable(model: Any) -> None:
    """Stop bitsandbytes repacking 4-bit weights for CPU inference.

    On CPUs with AVX512-BF16, bitsandbytes 0.50 repacks a ``Linear4bit`` weight the first
    time it runs in eval mode (an evaluation, the forgetting check) and keeps that layout
    when training resumes; the packed kernel has no backward, so the gradient through every
    base layer is then dropped without an error and the adapter barely learns. Training
    keeps the standard layout instead.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def _adalora(folder: Path, s: FinetuneSettings, total_steps: int) -> Any:
    """AdaLoRA: the budget schedule is set from the run length (see ``adalora_schedule``)."""
    peft = _peft("AdaLoRA fine-tuning")
    tinit, tfinal, delta = adalora_schedule(total_steps, s)
    config = peft.AdaLoraConfig(
        task_type="CAUSAL_LM",
        init_r=s.adalora_init_r,
        target_r=s.adalora_target_r,
        lora_alpha=s.lora_alpha,
        lora_dropout=s.lora_dropout,
        target_modules=_targets(s),
        total_step=total_steps,
        tinit=tinit,
        tfinal=tfinal,
        deltaT=delta,
    )
    return peft.get_peft_model(_load(folder), config)


def adalora_schedule(total_steps: int, s: FinetuneSettings) -> tuple[int, int, int]:
    """(tinit, tfinal, deltaT): warm-up and final phases as shares of the run, and the
    budget re-allocated about ten times in between (every step on very short runs)."""
    tinit = int(total_steps * s.adalora_warmup)
    tfinal = int(total_steps * s.adalora_final)
    if tinit >= total_steps - tfinal:  # too short a run for both phases: keep one step
        tinit, tfinal = 0, 0
    return tinit, tfinal, max(1, (total_steps - tinit - tfinal) // 10)


def _prefix(folder: Path, s: FinetuneSettings, total_steps: int) -> Any:
    peft = _peft("prefix tuning")
    config = peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=s.prefix_tokens)
    return peft.get_peft_model(_load(folder), config)


BUILDERS: dict[str, Callable[[Path, FinetuneSettings, int], Any]] = {
    "full": _full,
    "lora": _lora,
    "qlora": _qlora,
    "adalora": _adalora,
    "prefix": _prefix,
}
