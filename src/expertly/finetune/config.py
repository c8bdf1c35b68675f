"""Training settings: one documented dataclass, with a preset per method.

``FinetuneSettings.preset(method)`` gives settings that suit the method on a small model
(LoRA learns with a learning rate ~10x higher than full fine-tuning); any field can then be
overridden, and ``__post_init__`` rejects contradictory values naming the fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from expertly.config.checks import _choice, _f
from expertly.errors import ConfigError

METHODS = ("lora", "qlora", "adalora", "prefix", "full")
ADAPTER_METHODS = ("lora", "qlora", "adalora", "prefix")  # write a PEFT adapter
MERGEABLE = ("lora", "qlora", "adalora")  # adapters that fold into the base weights
SCHEDULERS = ("linear", "cosine")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
OPTIMIZERS = ("auto", "adamw_torch", "adamw_torch_fused")


@dataclass
class FinetuneSettings:
    """How one fine-tuning run trains.

    Args:
        method: ``lora`` (a low-rank PEFT adapter; the base model stays frozen), ``qlora``
            (LoRA over a 4-bit NF4 copy of the base, via bitsandbytes: less memory, a
            little slower on CPU), ``adalora`` (LoRA whose rank budget is moved during
            training to the layers that matter), ``prefix`` (prefix tuning: learned
            virtual key/value tokens in every layer; the weights are untouched) or
            ``full`` (every weight is trained and a whole model is written).
        max_steps: optimiser steps; when > 0 it overrides ``epochs``.
        eval_every: steps between validation-loss evaluations and checkpoints; early
            stopping and ``--resume`` work at this granularity.
        early_stopping_patience: stop after this many evaluations without a lower
            validation loss; 0 turns early stopping off. Needs validation data.
        target_modules: module names LoRA adapts; ``["all-linear"]`` adapts every linear
            layer except the output head.
        max_minutes: stop cleanly (checkpoint and final output written) after this long;
            0 means no limit.
        stop_at_loss: stop cleanly once three logged training losses in a row are below
            this value (the data is learned: retraining on a few changed facts needs no
            more steps); 0 means never.
        prefix_tokens: virtual tokens prefix tuning learns (PEFT ``num_virtual_tokens``).
        adalora_init_r / adalora_target_r: AdaLoRA starts every adapted matrix at rank
            ``init_r`` and prunes the total budget down to an average of ``target_r``.
        adalora_warmup / adalora_final: shares of the run spent before the budget starts
            shrinking (PEFT ``tinit``) and after it is fixed (``tfinal``); the run length
            (PEFT ``total_step``) is computed from the data and ``epochs`` / ``max_steps``.
        forgetting_check: measure perplexity on a shipped general-text sample and accuracy
            on shipped general questions before and after training, to see what the
            model lost outside your data.
        forgetting_max_ppl_increase: warn when perplexity rises by more than this share.
        forgetting_max_accuracy_drop: warn when general accuracy falls by more than this.
        gradient_checkpointing: recompute activations in the backward pass: less memory,
            ~30 % more time per step.
        group_by_length: draw batches of examples of similar length (shuffled in groups of
            ~50 batches), so short examples are not padded to the longest in the data.
        packing: concatenate whole examples into rows of up to ``max_seq_len`` tokens
            (best-fit, longest first), each example with its own positions from 0 and an
            attention that never crosses into another example, so the loss is the one the
            examples give alone, with almost no padding. Validation stays unpacked. Not
            with ``prefix`` (its virtual tokens enter as a key/value cache) or
            ``group_by_length`` (both remove padding; choose one).
        head_on_labels: apply the output layer (hidden size × vocabulary) and the loss only
            at the positions that have a label (the assistant's tokens), not at the prompt
            and padding, where the model's forward would compute logits only to discard
            them (``expertly.finetune.loss``). The same loss and gradients, to float
            rounding; where the model's forward is not decoder-then-head (see
            ``loss.PLAIN_HEADS``), on several processes, and for prefix tuning and AdaLoRA,
            training uses the model's own forward. Measured 1.10x tokens/s (1.06-1.18, three
            rounds) for LoRA on SmolLM2-135M, 2 CPU cores, batch 8 x 128 tokens.
        fast_dropout: on a CPU, draw LoRA's dropout masks from numpy's PCG64 instead of
            torch's sequential Mersenne Twister (``expertly.finetune.dropout``): the same
            distribution (the kept share exact to 1/65,536), seeded from torch's generator;
            torch's mask draws took 18 % of a LoRA step of SmolLM2-135M on 2 cores; measured
            1.11x tokens/s (1.04-1.15, three rounds). No effect on a GPU or with
            ``lora_dropout = 0``.
        precision: ``auto`` picks from the device (``expertly.finetune.device``): bf16
            mixed precision on CUDA GPUs that support it, fp16 with loss scaling on older
            CUDA GPUs, fp32 on CPU; TF32 matmuls are switched on for CUDA. ``bf16`` on CPU
            runs under bf16 autocast; ``fp16`` needs CUDA and is refused elsewhere. The
            chosen precision is recorded in config.json and metrics.json.
        optimizer: ``auto`` uses the fused AdamW kernel (``torch.optim.AdamW(fused=True)``)
            on CUDA and on CPU, where it measured 1.4-1.8x faster per optimiser step than
            the multi-tensor one on SmolLM2-135M's LoRA parameters (30.6-39.4 ms vs
            53.8-54.6 ms, torch 2.13, 2 cores) -- a small share of a training step.
        auto_batch_size: on CUDA, find the largest micro-batch that fits in GPU memory
            (trying divisors of ``batch_size * grad_accum``, largest first, with one
            forward and backward pass at ``max_seq_len``) and accumulate gradients so that
            the effective batch stays ``batch_size * grad_accum``. No effect on CPU.
        batch_size: examples per optimiser step and forward pass, over *all* processes: a
            run on several processes (``--processes``) gives each ``batch_size / processes``
            of them, so the effective batch ``batch_size * grad_accum`` is the same as on
            one process and the same settings train the same model.
        dist_timeout_minutes: on several processes, how long a process waits in a
            collective (the start, the gradient exchange, rank 0 writing) before it gives
            up with an error; covers a process that died or hangs.
    """

    method: str = _f("lora", "lora | qlora | adalora | prefix | full")
    learning_rate: float = _f(2e-4, "Peak learning rate of AdamW")
    epochs: float = _f(3.0, "Passes over the training data (ignored when max_steps > 0)")
    max_steps: int = _f(0, "Optimiser steps; > 0 overrides epochs")
    batch_size: int = _f(4, "Examples per forward pass, over all processes")
    grad_accum: int = _f(1, "Forward passes per optimiser step (effective batch = product)")
    warmup_ratio: float = _f(0.05, "Fraction of the steps spent warming the learning rate up")
    scheduler: str = _f("linear", "Learning-rate schedule after warm-up: linear | cosine")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    max_seq_len: int = _f(512, "Tokens per example; longer examples are truncated")
    lora_r: int = _f(16, "LoRA rank (method lora)")
    lora_alpha: int = _f(32, "LoRA scaling numerator; the update is scaled by alpha / r")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA input")
    target_modules: list[str] = _f(["all-linear"], "Modules LoRA adapts")
    seed: int = _f(42, "Seed for the split, the shuffling and the initial adapter weights")
    eval_every: int = _f(20, "Steps between validation evaluations and checkpoints")
    early_stopping_patience: int = _f(3, "Evaluations without improvement before stopping; 0=off")
    max_minutes: float = _f(0.0, "Stop cleanly after this many minutes; 0 = no limit")
    stop_at_loss: float = _f(0.0, "Stop once 3 training losses in a row are below this; 0 = off")
    val_fraction: float = _f(0.1, "Share of the data held out for validation (without --val)")
    prefix_tokens: int = _f(20, "Virtual tokens learned by prefix tuning (method prefix)")
    adalora_init_r: int = _f(12, "Starting rank of every AdaLoRA matrix (method adalora)")
    adalora_target_r: int = _f(8, "Average rank AdaLoRA prunes its budget down to")
    adalora_warmup: float = _f(0.1, "Share of the run before AdaLoRA starts pruning")
    adalora_final: float = _f(0.2, "Share of the run after AdaLoRA's ranks are fixed")
    forgetting_check: bool = _f(True, "Measure general-text perplexity and accuracy before/after")
    forgetting_max_ppl_increase: float = _f(0.2, "Warn past this perplexity rise (0.2 = +20 %)")
    forgetting_max_accuracy_drop: float = _f(0.1, "Warn past this general-accuracy drop")
    gradient_checkpointing: bool = _f(False, "Recompute activations: less memory, slower steps")
    group_by_length: bool = _f(False, "Batch examples of similar length: less padding, faster")
    packing: bool = _f(False, "Pack whole examples into rows of max_seq_len (no cross-attention)")
    head_on_labels: bool = _f(True, "Output layer and loss only at labelled positions: faster")
    fast_dropout: bool = _f(True, "CPU: LoRA dropout masks from numpy's PCG64, same distribution")
    precision: str = _f("auto", "auto | fp32 | bf16 | fp16 (auto: bf16/fp16 on CUDA, fp32 on CPU)")
    optimizer: str = _f("auto", "auto | adamw_torch | adamw_torch_fused (auto: fused)")
    auto_batch_size: bool = _f(False, "CUDA: largest micro-batch that fits, same effective batch")
    dist_timeout_minutes: float = _f(
        30.0, "Several processes: how long one waits for the others before failing"
    )

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"method = {self.method!r} is not valid; choose one of: {', '.join(METHODS)}"
            )
        _choice("precision", self.precision, PRECISIONS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.packing and self.method == "prefix":
            raise ConfigError(
                "packing does not work with method prefix (its virtual tokens enter as a "
                "key/value cache, which switches off the per-example attention); turn one off"
            )
        if self.packing and self.group_by_length:
            raise ConfigError(
                "packing and group_by_length both remove padding and cannot be combined; choose one"
            )
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(
                f"scheduler = {self.scheduler!r} is not valid; choose one of: "
                f"{', '.join(SCHEDULERS)}"
            )
        if self.dist_timeout_minutes <= 0:
            raise ConfigError(f"dist_timeout_minutes must be > 0, got {self.dist_timeout_minutes}")
        for name in ("learning_rate", "batch_size", "grad_accum", "max_seq_len", "eval_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_steps < 0 or self.epochs < 0 or (self.max_steps == 0 and self.epochs == 0):
            raise ConfigError("set epochs > 0 or max_steps > 0 (max_steps wins when both are)")
        if self.method in ("lora", "qlora") and (self.lora_r <= 0 or self.lora_alpha <= 0):
            raise ConfigError("lora_r and lora_alpha must be > 0")
        if self.method == "prefix" and self.prefix_tokens <= 0:
            raise ConfigError(f"prefix_tokens must be > 0, got {self.prefix_tokens}")
        if self.method == "adalora":
            if not 0 < self.adalora_target_r <= self.adalora_init_r:
                raise ConfigError(
                    "adalora_target_r must be > 0 and <= adalora_init_r, got "
                    f"{self.adalora_target_r} and {self.adalora_init_r}"
                )
            if self.adalora_warmup + self.adalora_final >= 1:
                raise ConfigError(
                    "adalora_warmup + adalora_final must be < 1 (AdaLoRA needs steps between "
                    "them to move its budget)"
                )
        if not self.target_modules:
            raise ConfigError("target_modules must name at least one module")
        if self.gradient_checkpointing and self.method == "prefix":
            raise ConfigError(
                "gradient_checkpointing does not work with method prefix (its virtual tokens "
                "enter as a key/value cache); turn one of them off"
            )
        for name in (
            "warmup_ratio",
            "lora_dropout",
            "val_fraction",
            "adalora_warmup",
            "adalora_final",
        ):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in (
            "weight_decay",
            "early_stopping_patience",
            "max_minutes",
            "stop_at_loss",
            "forgetting_max_ppl_increase",
            "forgetting_max_accuracy_drop",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def preset(cls, method: str = "lora", **overrides: Any) -> FinetuneSettings:
        """Settings suited to ``method``, with ``overrides`` (None values are ignored)."""
        base: dict[str, Any] = dict(PRESETS.get(method, {}))
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(method=method, **base)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    "lora": {"learning_rate": 2e-4, "lora_r": 16, "lora_alpha": 32},
    # QLoRA paper: the LoRA recipe unchanged, on a 4-bit base
    "qlora": {"learning_rate": 2e-4, "lora_r": 16, "lora_alpha": 32},
    # AdaLoRA paper: larger learning rates than LoRA (5e-4 to 1e-3), ranks 12 → 8
    "adalora": {"learning_rate": 5e-4, "adalora_init_r": 12, "adalora_target_r": 8},
    # prefix tuning trains few parameters from a random start: a much higher rate
    "prefix": {"learning_rate": 1e-2, "prefix_tokens": 20},
    "full": {"learning_rate": 2e-5, "weight_decay": 0.01},
}
