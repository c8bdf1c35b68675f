"""LoRA's dropout with its CPU mask drawn from numpy's PCG64 (finetune/dropout.py): the
distribution of ``nn.Dropout``, seeded by torch, and swapped into a PEFT model."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from expertly.finetune.dropout import Dropout, use_fast_dropout  # noqa: E402


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_the_mask_keeps_one_minus_p_independently_and_scales_as_nn_dropout(p: float) -> None:
    torch.manual_seed(0)
    x = torch.ones(2_000, 1_000)
    out = Dropout(p).train()(x)
    kept = out != 0
    n = x.numel()
    share = kept.float().mean().item()
    assert abs(share - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)  # five standard errors
    assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
    # neighbours (two 16-bit halves of one 64-bit draw included) are independent
    a, b = kept.flatten()[:-1].float(), kept.flatten()[1:].float()
    both = (a * b).mean().item()
    assert abs(both - (1 - p) ** 2) < 5 * math.sqrt((1 - p) ** 2 * (1 - (1 - p) ** 2) / n)
    # the next call draws another mask
    assert not torch.equal(Dropout(p).train()(x) != 0, kept)


def test_the_mask_follows_torchs_seed_and_the_gradient_is_the_mask() -> None:
    layer = Dropout(0.1).train()
    x = torch.randn(64, 32, requires_grad=True)
    torch.manual_seed(7)
    first = layer(x)
    torch.manual_seed(7)
    again = layer(x)
    assert torch.equal(first, again)
    torch.manual_seed(8)
    assert not torch.equal(layer(x), first)
    first.sum().backward()
    assert x.grad is not None
    assert torch.allclose(x.grad, (first != 0).float() / 0.9)


def test_eval_mode_and_p_zero_are_the_identity() -> None:
    x = torch.randn(8, 8)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(1.0)


def test_every_lora_dropout_of_a_peft_model_is_swapped_and_it_trains() -> None:
    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2,
    )  # fmt: skip
    torch.manual_seed(0)
    lora = peft.LoraConfig(r=2, lora_alpha=4, lora_dropout=0.1, target_modules="all-linear")
    model = peft.get_peft_model(transformers.LlamaForCausalLM(config), lora)
    assert use_fast_dropout(model) == 2 * 7  # q, k, v, o, gate, up, down in each layer
    assert not any(type(m) is torch.nn.Dropout for m in model.modules())
    model.train()
    ids = torch.randint(0, 64, (2, 12))
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_A" in n]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    none = peft.get_peft_model(
        transformers.LlamaForCausalLM(config),
        peft.LoraConfig(r=2, lora_alpha=4, lora_dropout=0.0, target_modules="all-linear"),
    )
    assert use_fast_dropout(none) == 0  # nothing to draw: PEFT uses an identity
