"""Training settings: one documented dataclass, with a preset per method.

``FinetuneSettings.preset(method)`` gives settings that suit the method on a small model
(LoRA learns with a learning rate ~10x higher than full fine-tuning); any field can then be
overridden, and ``__post_init__`` rejects contradictory values naming the fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from expertly.errors import ConfigError, ExpertlyError

METHODS = ("lora", "full")
PLANNED = ("prefix", "adalora", "qlora")  # in the design, not built yet
SCHEDULERS = ("linear", "cosine")


class NotImplementedMethodError(ExpertlyError):
    """A fine-tuning method that expertly plans but does not provide yet."""


def _f(default: Any, help: str) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class FinetuneSettings:
    """How one fine-tuning run trains.

    Args:
        method: ``lora`` (a PEFT adapter; the base model stays frozen) or ``full`` (every
            weight is trained and a whole model is written).
        max_steps: optimiser steps; when > 0 it overrides ``epochs``.
        eval_every: steps between validation-loss evaluations and checkpoints; early
            stopping and ``--resume`` work at this granularity.
        early_stopping_patience: stop after this many evaluations without a lower
            validation loss; 0 turns early stopping off. Needs validation data.
        target_modules: module names LoRA adapts; ``["all-linear"]`` adapts every linear
            layer except the output head.
        max_minutes: stop cleanly (checkpoint and final output written) after this long;
            0 means no limit.
    """

    method: str = _f("lora", "lora | full (prefix, adalora, qlora: not implemented yet)")
    learning_rate: float = _f(2e-4, "Peak learning rate of AdamW")
    epochs: float = _f(3.0, "Passes over the training data (ignored when max_steps > 0)")
    max_steps: int = _f(0, "Optimiser steps; > 0 overrides epochs")
    batch_size: int = _f(4, "Examples per forward pass")
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
    val_fraction: float = _f(0.1, "Share of the data held out for validation (without --val)")

    def __post_init__(self) -> None:
        if self.method in PLANNED:
            raise NotImplementedMethodError(
                f"method = {self.method!r} is not implemented yet; use one of: {', '.join(METHODS)}"
            )
        if self.method not in METHODS:
            raise ConfigError(
                f"method = {self.method!r} is not valid; choose one of: {', '.join(METHODS)}"
            )
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(
                f"scheduler = {self.scheduler!r} is not valid; choose one of: "
                f"{', '.join(SCHEDULERS)}"
            )
        for name in ("learning_rate", "batch_size", "grad_accum", "max_seq_len", "eval_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.max_steps < 0 or self.epochs < 0 or (self.max_steps == 0 and self.epochs == 0):
            raise ConfigError("set epochs > 0 or max_steps > 0 (max_steps wins when both are)")
        if self.method == "lora" and (self.lora_r <= 0 or self.lora_alpha <= 0):
            raise ConfigError("lora_r and lora_alpha must be > 0")
        if not self.target_modules:
            raise ConfigError("target_modules must name at least one module")
        for name in ("warmup_ratio", "lora_dropout", "val_fraction"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.weight_decay < 0 or self.early_stopping_patience < 0 or self.max_minutes < 0:
            raise ConfigError("weight_decay, early_stopping_patience and max_minutes must be >= 0")

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
    "full": {"learning_rate": 2e-5, "weight_decay": 0.01},
}
