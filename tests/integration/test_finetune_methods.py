# ruff: noqa: F811  (the shared fixtures are imported, then requested by name)
"""Prefix tuning, AdaLoRA and QLoRA on the real packaged SmolLM2-135M-Instruct (CPU, 1 thread).

Each method trains for three steps on the invented facts of ``test_finetune_lora`` and its
adapter is reloaded with plain ``peft`` (no expertly code) and made to generate. Learning
the facts is proved by the LoRA test; here the point is that every method runs end to end,
writes a standard adapter and learns (the training loss falls).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from expertly.finetune.config import FinetuneSettings
from expertly.finetune.trainer import RunResult, run_finetune
from expertly.generate.local import TransformersLLM
from expertly.types import Message
from tests.integration.test_finetune_lora import (  # noqa: F401
    FACTS,
    SYSTEM,
    answers,
    base_dir,
    data,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAST: dict[str, Any] = {
    "max_steps": 3,
    "batch_size": 8,
    "max_seq_len": 64,
    "eval_every": 3,
    "forgetting_check": False,
}


def train(method: str, base: Path, facts: Path, runs: Path, **overrides: Any) -> RunResult:
    settings = FinetuneSettings.preset(method, **{**FAST, **overrides})
    return run_finetune(
        facts / "facts.jsonl",
        settings=settings,
        runs_dir=runs,
        models_dir=runs / "unused",
        base_model=str(base),
        val_path=facts / "val.jsonl",
        name=method,
    )


def reload_and_answer(base: Path, adapter: str) -> list[str]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter)
    return answers(model.eval(), tok)


@pytest.mark.parametrize(
    ("method", "lr"), [("prefix", None), ("adalora", 3e-3)], ids=["prefix", "adalora"]
)
def test_method_trains_and_its_adapter_reloads_with_plain_peft(
    method: str,
    lr: float | None,
    base_dir: Path,
    data: Path,
    tmp_path: Path,
) -> None:
    result = train(method, base_dir, data, tmp_path, learning_rate=lr)
    assert result.steps == 3 and result.status == "finished"
    losses = [loss for _, loss in result.train_loss]
    assert losses[-1] < losses[0], losses
    assert 0 < result.trainable_params < result.total_params / 20
    config = json.loads((Path(result.output_dir) / "adapter_config.json").read_text())
    assert config["peft_type"] == method.upper().replace("PREFIX", "PREFIX_TUNING")
    if method == "adalora":  # the budget schedule followed the run, and ranks were allocated
        assert config["total_step"] == 3 and config["rank_pattern"]
    else:
        assert config["num_virtual_tokens"] == 20
    replies = reload_and_answer(base_dir, result.output_dir)
    assert len(replies) == 4 and all(isinstance(r, str) for r in replies)
    assert any(r.strip() for r in replies), replies
    # expertly's own backend serves the adapter alike (adalora merged on load, prefix not)
    llm = TransformersLLM(str(base_dir), cache_dir=tmp_path, adapter=result.output_dir)
    question = [Message("system", SYSTEM), Message("user", FACTS[0][0][0])]
    assert llm.generate(question, max_tokens=16).text == replies[0]


def test_qlora_trains_on_cpu_and_its_adapter_serves_the_full_precision_base(
    base_dir: Path,
    data: Path,
    tmp_path: Path,
) -> None:
    result = train("qlora", base_dir, data, tmp_path, learning_rate=3e-3)
    losses = [loss for _, loss in result.train_loss]
    assert result.steps == 3 and losses[-1] < losses[0] * 0.9, losses
    assert result.val_loss[-1][1] < result.val_loss[0][1]
    config = json.loads((Path(result.output_dir) / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    assert any(r.strip() for r in reload_and_answer(base_dir, result.output_dir))


def test_qlora_gradients_survive_an_evaluation(base_dir: Path) -> None:
    """bitsandbytes repacks 4-bit weights for CPU inference in eval mode; the packed kernel
    has no backward. The gradient reaching the first layer's adapter must not vanish after
    an evaluation (the Trainer evaluates before training and every --eval-every steps)."""
    import torch
    from transformers import AutoTokenizer

    from expertly.finetune import methods

    model = methods.build_model(base_dir, FinetuneSettings(method="qlora"), total_steps=1)
    ids = AutoTokenizer.from_pretrained(base_dir)(
        ["The Moon orbits the Earth."], return_tensors="pt"
    )

    def first_layer_grad() -> float:
        model.train()
        model.zero_grad()
        model(**ids, labels=ids["input_ids"]).loss.backward()
        grads = [p.grad for n, p in model.named_parameters() if "layers.0." in n and "lora_B" in n]
        return float(grads[0].norm())

    before = first_layer_grad()
    model.eval()
    with torch.inference_mode():
        model(**ids)
    after = first_layer_grad()
    assert before > 0 and after == pytest.approx(before, rel=0.5)


def test_qlora_on_cuda(base_dir: Path, data: Path, tmp_path: Path) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    result = train("qlora", base_dir, data, tmp_path, learning_rate=3e-3)
    losses = [loss for _, loss in result.train_loss]
    assert result.steps == 3 and losses[-1] < losses[0], losses
    assert (Path(result.output_dir) / "adapter_config.json").is_file()


def test_lora_with_packing_trains_and_records_the_device_choices(
    base_dir: Path, data: Path, tmp_path: Path
) -> None:
    """Packed rows through PEFT LoRA on the real model: the run learns, packs the examples
    into fewer rows than examples, and config.json / metrics.json record the precision and
    optimiser chosen for the CPU."""
    result = train("lora", base_dir, data, tmp_path, packing=True, max_seq_len=128)
    assert result.steps == 3 and result.status == "finished"
    assert 0 < result.packed_rows < result.train_examples
    losses = [loss for _, loss in result.train_loss]
    assert losses[-1] < losses[0], losses
    config = json.loads((Path(result.run_dir) / "config.json").read_text())
    assert config["precision"]["name"] == "fp32" and config["optimizer"] == "adamw_torch_fused"
    metrics = json.loads((Path(result.run_dir) / "metrics.json").read_text())
    assert metrics["precision"]["reason"] and metrics["batch_size"] == 8
