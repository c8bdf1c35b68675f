"""The output layer applied only at labelled positions (finetune/loss.py): the same loss
and gradients as the model's own forward, on padded and packed batches, with and without
LoRA; and where it must not stand in for the forward."""

from __future__ import annotations

import random
from typing import Any

import pytest

from expertly.finetune import packing
from expertly.finetune.datasets import IGNORE, Encoded
from expertly.finetune.hf_trainer import collator, rows
from expertly.finetune.loss import head_loss, head_loss_problem
from tests.unit.helpers import tiny_llama

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")


def _examples() -> list[Encoded]:
    rng = random.Random(1)
    out = []
    for length, prompt in [(9, 4), (23, 10), (5, 2), (17, 3), (31, 12), (12, 6)]:
        ids = [rng.randrange(3, 250) for _ in range(length)]
        out.append(Encoded(ids, [IGNORE] * prompt + ids[prompt:], truncated=False))
    return out


def _lora(model: Any) -> Any:
    config = peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear")
    wrapped = peft.get_peft_model(model, config)
    for name, param in wrapped.named_parameters():  # LoRA B starts at 0: give it a value
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    return wrapped


def _loss_and_grads(model: Any, batch: dict[str, Any], fast: bool, items: Any = None) -> Any:
    model.zero_grad()
    if fast:
        loss = head_loss(model, batch, items)
    else:
        kwargs = {} if items is None else {"num_items_in_batch": items}
        loss = model(**batch, **kwargs).loss
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.item(), grads


def _assert_same(model: Any, batch: dict[str, Any], items: Any = None) -> None:
    slow, slow_grads = _loss_and_grads(model, batch, fast=False, items=items)
    fast, fast_grads = _loss_and_grads(model, batch, fast=True, items=items)
    assert fast == pytest.approx(slow, rel=1e-5)
    assert slow_grads.keys() == fast_grads.keys() and slow_grads
    for name, grad in slow_grads.items():
        diff = (fast_grads[name] - grad).abs().max().item()
        scale = grad.abs().max().item() or 1.0
        assert diff <= 1e-4 * scale + 1e-7, f"{name}: max |diff| {diff} (scale {scale})"


@pytest.mark.parametrize("adapter", [False, True])
def test_the_labelled_positions_give_the_models_loss_and_gradients(adapter: bool) -> None:
    model = tiny_llama()
    model = _lora(model) if adapter else model
    batch = collator(pad_id=0)(rows(_examples()))  # right-padded, with an attention mask
    assert head_loss_problem(model) is None
    _assert_same(model, batch)
    # gradient accumulation: the Trainer passes the labels of the whole accumulated batch
    _assert_same(model, batch, items=torch.tensor(500))


def test_packed_rows_give_the_same_loss_and_gradients() -> None:
    model = _lora(tiny_llama())
    batch = packing.collator(pad_id=0)(packing.rows_for_trainer(packing.pack(_examples(), 40)))
    assert "position_ids" in batch and "attention_mask" not in batch
    _assert_same(model, batch)


def test_where_the_forward_is_more_than_decoder_and_head_it_is_not_used() -> None:
    prefix = peft.get_peft_model(
        tiny_llama(), peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)
    )
    assert "PREFIX_TUNING" in (head_loss_problem(prefix) or "")
    gpt2 = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(vocab_size=64, n_embd=32, n_layer=1, n_head=2)
    )
    assert "gpt2" in (head_loss_problem(gpt2) or "")
    assert "several processes" in (head_loss_problem(tiny_llama(), processes=2) or "")


@pytest.mark.parametrize("on", [True, False])
def test_the_trainer_takes_the_labelled_positions_path_when_set(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, on: bool
) -> None:
    from types import SimpleNamespace

    from expertly.finetune import loss
    from expertly.finetune.config import FinetuneSettings
    from expertly.finetune.device import DeviceInfo, choose_precision
    from expertly.finetune.hf_trainer import Choices, build_trainer

    calls: list[float] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        value = head_loss(*args, **kwargs)
        calls.append(value.item())
        return value

    monkeypatch.setattr(loss, "head_loss", counted)
    cpu = Choices(choose_precision("auto", DeviceInfo("cpu")), "adamw_torch", packed=False)
    s = FinetuneSettings(max_steps=2, batch_size=2, head_on_labels=on, warmup_ratio=0.0)
    trainer = build_trainer(
        tiny_llama(), SimpleNamespace(pad_token_id=0), tmp_path, s, rows(_examples()),
        [], [], None, cpu,
    )  # fmt: skip
    trainer.train()
    logged = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(logged) == 2
    assert len(calls) == (2 if on else 0)
    if on:  # the logged loss is the one head_loss computed
        assert logged == pytest.approx(calls, rel=1e-4)
