"""LoRA's input dropout with its random mask drawn fast on a CPU.

PEFT puts an ``nn.Dropout`` before every LoRA pair (seven per layer of a Llama with
``all-linear`` targets: 210 for SmolLM2-135M). On a CPU, torch draws each mask element with
its sequential Mersenne Twister: profiled on one LoRA step of SmolLM2-135M (batch 8 × 120
tokens, 2 cores), ``aten::bernoulli_`` took 1.08 s of the step's 5.87 s, more than anything
but the matrix products. ``Dropout`` draws the same mask distribution from numpy's PCG64
instead (raw 64-bit outputs cut into 16-bit values, each kept when it is at least
``round(p × 65536)``): the kept share is ``1 - p`` to within 1/65,536, every element
independent, and the kept values are scaled by ``1 / (1 - p)`` as ``nn.Dropout`` does.
Each call seeds its generator with one draw from torch's own generator, so ``torch.
manual_seed`` (and a resumed run's restored RNG state) decide the masks as before. On a GPU
(and whenever the module is in eval mode) it is exactly ``nn.functional.dropout``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

LEVELS = 1 << 16  # a mask element is one 16-bit value


class Dropout(torch.nn.Module):
    """``nn.Dropout(p)`` whose CPU mask comes from numpy's PCG64 (see the module)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.threshold = round(p * LEVELS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.device.type != "cpu":
            return torch.nn.functional.dropout(x, self.p, self.training)
        seed = int(torch.randint(0, 2**62, (1,)).item())
        n = x.numel()
        raw = np.random.PCG64(seed).random_raw((n + 3) // 4)
        bits = raw.view(np.uint16)[:n].reshape(x.shape)
        keep = torch.from_numpy(bits >= self.threshold)
        return torch.where(keep, x * (1.0 / (1.0 - self.p)), 0.0)

    def extra_repr(self) -> str:
        return f"p={self.p}, mask from PCG64 on CPU"


def use_fast_dropout(model: Any) -> int:
    """Replace every ``nn.Dropout`` in ``model``'s LoRA layers (PEFT's ``lora_dropout``)
    by ``Dropout`` with the same ``p``; returns how many were replaced."""
    replaced = 0
    for module in model.modules():
        table = getattr(module, "lora_dropout", None)
        if not isinstance(table, torch.nn.ModuleDict):
            continue
        for name, layer in list(table.items()):
            if type(layer) is torch.nn.Dropout and layer.p > 0:
                fast = Dropout(layer.p)
                fast.train(layer.training)
                table[name] = fast
                replaced += 1
    return replaced
