"""The device's choices for a training run: precision, optimiser, micro-batch; and the
Trainer they configure (tiny random Llama on CPU, a few steps)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from expertly.errors import ConfigError
from expertly.finetune import device, packing
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.datasets import IGNORE, Encoded
from expertly.finetune.device import DeviceInfo, choose_optimizer, choose_precision

CPU = DeviceInfo("cpu", name="CPU")
AMPERE = DeviceInfo("cuda", bf16=True, name="NVIDIA A100")
TURING = DeviceInfo("cuda", bf16=False, name="Tesla T4")
MPS = DeviceInfo("mps", name="Apple MPS", fused_adamw=False)
needs_cuda = pytest.mark.skipif(
    not __import__("torch").cuda.is_available(),
    reason="needs a CUDA GPU: the path only runs on CUDA (the CPU choices are tested above)",
)


@pytest.mark.parametrize(
    ("hardware", "name", "tf32", "scaling"),
    [(AMPERE, "bf16", True, False), (TURING, "fp16", True, True), (CPU, "fp32", False, False)],
)
def test_auto_precision_follows_the_device(
    hardware: DeviceInfo, name: str, tf32: bool, scaling: bool
) -> None:
    chosen = choose_precision("auto", hardware)
    assert (chosen.name, chosen.tf32, chosen.loss_scaling) == (name, tf32, scaling)
    assert chosen.training_arguments() == {"bf16": name == "bf16", "fp16": name == "fp16"}
    assert choose_precision("bf16", CPU).training_arguments()["use_cpu"]
    assert chosen.to_dict()["requested"] == "auto" and chosen.reason


def test_explicit_precisions_are_kept_where_the_device_has_them() -> None:
    assert choose_precision("fp32", AMPERE).name == "fp32"
    assert choose_precision("bf16", CPU).name == "bf16"  # CPU autocast
    assert choose_precision("fp16", AMPERE).loss_scaling


@pytest.mark.parametrize(
    ("requested", "hardware", "message"),
    [
        ("fp16", CPU, "fp16' needs a CUDA GPU"),
        ("fp16", MPS, "fp16' needs a CUDA GPU"),
        ("bf16", TURING, "Tesla T4 cannot compute in bf16"),
        ("bf16", MPS, "not supported on MPS"),
        ("int8", CPU, "not valid"),
    ],
)
def test_impossible_precisions_are_refused_saying_why(
    requested: str, hardware: DeviceInfo, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        choose_precision(requested, hardware)


def test_settings_validate_precision_optimizer_and_packing() -> None:
    with pytest.raises(ConfigError, match="precision = 'half' is not valid"):
        FinetuneSettings(precision="half")
    with pytest.raises(ConfigError, match="optimizer = 'sgd' is not valid"):
        FinetuneSettings(optimizer="sgd")
    with pytest.raises(ConfigError, match="packing does not work with method prefix"):
        FinetuneSettings(method="prefix", packing=True)
    with pytest.raises(ConfigError, match="packing and group_by_length"):
        FinetuneSettings(packing=True, group_by_length=True)


def test_fused_adamw_wherever_torch_has_it() -> None:
    assert choose_optimizer("auto", AMPERE) == "adamw_torch_fused"
    assert choose_optimizer("auto", CPU) == "adamw_torch_fused"
    assert choose_optimizer("auto", MPS) == "adamw_torch"
    assert choose_optimizer("adamw_torch", AMPERE) == "adamw_torch"
    with pytest.raises(ConfigError, match="no fused AdamW for mps"):
        choose_optimizer("adamw_torch_fused", MPS)


def test_batch_split_keeps_the_effective_batch() -> None:
    assert device.batch_candidates(12) == [12, 6, 4, 3, 2, 1]
    assert device.split_batch(32, 32) == (32, 1)
    assert device.split_batch(32, 20) == (16, 2)
    assert device.split_batch(12, 5) == (4, 3)
    assert device.split_batch(7, 6) == (1, 7)  # a prime: only 1 x 7 keeps it exact
    for effective in range(1, 40):
        for fits in range(1, 45):
            micro, accum = device.split_batch(effective, fits)
            assert micro * accum == effective and micro <= fits


class _FakeOOM(RuntimeError):
    pass


def test_search_skips_batches_that_run_out_of_memory_only() -> None:
    tried: list[int] = []

    def try_batch(size: int) -> None:
        tried.append(size)
        if size > 5:
            raise _FakeOOM(f"{size} does not fit")

    def oom(exc: BaseException) -> bool:
        return isinstance(exc, _FakeOOM)

    assert device.largest_fitting_batch([16, 8, 4, 2, 1], try_batch, oom) == 4
    assert tried == [16, 8, 4]
    with pytest.raises(ConfigError, match="not even a batch of 1 fits"):
        device.largest_fitting_batch([2, 1], lambda n: (_ for _ in ()).throw(_FakeOOM()), oom)

    def broken(size: int) -> None:
        raise ValueError("not a memory problem")

    with pytest.raises(ValueError, match="not a memory problem"):
        device.largest_fitting_batch([4, 2], broken, oom)


def _tiny() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def _examples() -> list[Encoded]:
    out = []
    for n in (5, 9, 3, 12, 7, 4, 10, 6):
        ids = [(7 * i + n) % 60 + 2 for i in range(n)]
        out.append(Encoded(ids, [IGNORE, IGNORE, *ids[2:]], False))
    return out


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_packed_training_on_cpu_counts_real_tokens(tmp_path: Path, precision: str) -> None:
    """Two optimiser steps over packed rows with the device's choices: the loss is finite,
    the token count is the real tokens (no padding), the flags reached the Trainer."""
    import math

    from expertly.finetune.hf_trainer import Choices as _Choices
    from expertly.finetune.hf_trainer import build_trainer as _trainer

    examples = _examples()
    rows = packing.pack(examples, max_len=16)
    settings = FinetuneSettings(
        packing=True, batch_size=2, max_steps=2, max_seq_len=16, warmup_ratio=0.0,
        early_stopping_patience=0, precision=precision,
    )  # fmt: skip
    choices = _Choices(choose_precision(precision, CPU), choose_optimizer("auto", CPU), packed=True)
    trainer = _trainer(
        _tiny(), SimpleNamespace(pad_token_id=0), tmp_path, settings,
        packing.rows_for_trainer(rows), [], [], None, choices,
    )  # fmt: skip
    assert trainer.args.optim.value == "adamw_torch_fused"
    assert trainer.args.bf16 == (precision == "bf16") and not trainer.args.fp16
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    # 56 tokens in rows of 16, 16, 16 and 8: two steps of two rows are one epoch, and the
    # row of 8 is padded to 16 in its batch; only the 56 real tokens are counted
    assert sorted(len(r.input_ids) for r in rows) == [8, 16, 16, 16]
    assert trainer.state.num_input_tokens_seen == sum(len(e.input_ids) for e in examples) == 56


@needs_cuda
def test_cuda_device_is_detected_with_its_bf16_support() -> None:
    import torch

    found = device.detect()
    assert found.kind == "cuda" and found.bf16 == torch.cuda.is_bf16_supported()
    assert choose_precision("auto", found).tf32


@needs_cuda
def test_cuda_batch_search_finds_a_batch_that_fits() -> None:
    import torch

    model = _tiny().to("cuda")
    precision = choose_precision("auto", device.detect())
    probe = device.cuda_batch_probe(model, seq_len=32, vocab_size=64, precision=precision)
    size = device.largest_fitting_batch(device.batch_candidates(16), probe, device.is_cuda_oom)
    assert size == 16  # a tiny model fits the whole batch
    assert all(p.grad is None for p in model.parameters())  # the probe leaves no gradients
    assert torch.cuda.memory_allocated() > 0
