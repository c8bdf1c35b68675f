"""Fine-tuning methods, settings, the forgetting check's bookkeeping, the loss plot: no model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from expertly.errors import ConfigError, MissingDependencyError
from expertly.finetune import forgetting, methods
from expertly.finetune.config import METHODS, PRESETS, FinetuneSettings
from expertly.finetune.forgetting import GeneralScore


def test_every_method_has_a_preset_with_a_suitable_learning_rate() -> None:
    assert set(PRESETS) == set(METHODS)
    lr = {m: FinetuneSettings.preset(m).learning_rate for m in METHODS}
    assert lr["prefix"] > lr["adalora"] > lr["lora"] == lr["qlora"] > lr["full"]
    assert FinetuneSettings.preset("prefix", prefix_tokens=7).prefix_tokens == 7


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"method": "prefix", "prefix_tokens": 0}, "prefix_tokens must be > 0"),
        ({"method": "adalora", "adalora_target_r": 16}, "adalora_target_r must be > 0 and <="),
        ({"method": "adalora", "adalora_warmup": 0.5, "adalora_final": 0.5}, "must be < 1"),
        ({"method": "qlora", "lora_r": 0}, "lora_r and lora_alpha must be > 0"),
        ({"method": "prefix", "gradient_checkpointing": True}, "does not work with method prefix"),
        ({"forgetting_max_ppl_increase": -0.1}, "forgetting_max_ppl_increase must be >= 0"),
    ],
)
def test_contradictory_settings_name_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FinetuneSettings(**fields)


def test_planned_steps_counts_like_the_trainer() -> None:
    assert methods.planned_steps(100, FinetuneSettings(max_steps=7)) == 7
    # 10 examples, batch 4 → 3 batches per epoch; 2 epochs → 6 steps
    assert methods.planned_steps(10, FinetuneSettings(batch_size=4, epochs=2)) == 6
    # gradient accumulation 2 → 2 optimiser steps per epoch (the last one partial)
    assert methods.planned_steps(10, FinetuneSettings(batch_size=4, grad_accum=2, epochs=1)) == 2
    assert methods.planned_steps(1, FinetuneSettings(batch_size=8, epochs=0.5)) == 1


def test_adalora_schedule_leaves_a_budgeting_phase() -> None:
    s = FinetuneSettings(method="adalora")  # warm-up 10 %, final 20 %
    assert methods.adalora_schedule(100, s) == (10, 20, 7)
    tinit, tfinal, delta = methods.adalora_schedule(3, s)
    assert tinit < 3 - tfinal and delta >= 1  # PEFT rejects a schedule without one


def test_qlora_without_bitsandbytes_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "bitsandbytes" else real(name, *a),
    )
    with pytest.raises(MissingDependencyError, match=r"bitsandbytes.*expertly\[finetune\]"):
        methods.build_model(Path("unused"), FinetuneSettings(method="qlora"), total_steps=1)


def test_shipped_probes_are_well_formed() -> None:
    texts, questions = forgetting.general_texts(), forgetting.general_questions()
    assert len(texts) >= 30 and all(20 <= len(t.split()) <= 80 for t in texts)
    assert len(questions) >= 20 and all(q.answers and q.question.endswith("?") for q in questions)
    assert len({q.question for q in questions}) == len(questions)


def test_answers_match_whole_words_in_any_case() -> None:
    assert forgetting.is_correct("The capital is PARIS.", ["Paris"])
    assert forgetting.is_correct("A spider has 8 legs", ["eight", "8"])
    assert not forgetting.is_correct("about 18 legs", ["8"])
    assert not forgetting.is_correct("Parisian food", ["Paris"])


def score(ppl: float, correct: int, questions: int = 20) -> GeneralScore:
    return GeneralScore(ppl, correct / questions, correct, questions, 1.0)


def test_forgetting_warns_past_each_threshold_only() -> None:
    limits = {"max_ppl_increase": 0.2, "max_accuracy_drop": 0.1}
    calm = forgetting.compare(score(20.0, 20), score(23.0, 19), **limits)
    assert calm.perplexity_change == pytest.approx(0.15) and calm.accuracy_change == -0.05
    assert calm.warnings == []
    bad = forgetting.compare(score(20.0, 20), score(30.0, 14), **limits)
    assert len(bad.warnings) == 2
    assert "+50%" in bad.warnings[0] and "20.00 → 30.00" in bad.warnings[0]
    assert "from 100% to 70%" in bad.warnings[1]
    assert "replies" not in json.dumps(bad.to_dict())


def test_baseline_is_measured_once_per_key(tmp_path: Path) -> None:
    cache = tmp_path / "runs" / ".forgetting-baseline.json"
    calls: list[int] = []

    def measure() -> GeneralScore:
        calls.append(1)
        return score(21.5, 19)

    first = forgetting.cached(cache, {"base": "a"}, measure)
    again = forgetting.cached(cache, {"base": "a"}, measure)
    other = forgetting.cached(cache, {"base": "b"}, measure)
    assert first == again == other and len(calls) == 2
    cache.write_text("{not json")  # a damaged cache is measured again, not trusted
    assert forgetting.cached(cache, {"base": "a"}, measure) == first and len(calls) == 3


def test_loss_curve_is_a_png(tmp_path: Path) -> None:
    from expertly.finetune.plots import loss_curve

    path = loss_curve([(1, 2.0), (2, 1.5), (3, 1.2)], [(0, 2.2), (3, 1.4)], tmp_path / "loss.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000
    empty = loss_curve([], [], tmp_path / "empty.png")  # a run stopped before its first log
    assert empty.is_file() and not list(tmp_path.glob(".*"))


def test_speed_options_reach_the_trainer(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from transformers import LlamaConfig, LlamaForCausalLM

    from expertly.finetune.datasets import Encoded
    from expertly.finetune.device import DeviceInfo, choose_precision
    from expertly.finetune.hf_trainer import Choices as _Choices
    from expertly.finetune.hf_trainer import build_trainer as _trainer
    from expertly.finetune.hf_trainer import rows as _rows

    tiny = LlamaConfig(
        vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2,
    )  # fmt: skip
    rows = _rows(
        [Encoded([1, 2, 3], [-100, 2, 3], False), Encoded([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], False)]
    )
    tok = SimpleNamespace(pad_token_id=0)
    cpu = _Choices(choose_precision("auto", DeviceInfo("cpu")), "adamw_torch", packed=False)
    fast = FinetuneSettings(group_by_length=True, gradient_checkpointing=True)
    trainer = _trainer(LlamaForCausalLM(tiny), tok, tmp_path, fast, rows, [], [], None, cpu)
    args = trainer.args
    assert (
        getattr(args, "train_sampling_strategy", None) == "group_by_length" or args.group_by_length
    )
    assert args.activation_checkpointing or args.gradient_checkpointing
    plain = _trainer(
        LlamaForCausalLM(tiny), tok, tmp_path, FinetuneSettings(), rows, [], [], None, cpu
    )
    assert getattr(plain.args, "train_sampling_strategy", "random") == "random"


@pytest.mark.parametrize("method", ["lora", "prefix"])
def test_a_saved_adapter_is_continued_trainable_with_its_weights(
    tmp_path: Path, method: str
) -> None:
    """A tiny random Llama stands in for the base; the adapter saved after one change of
    its weights comes back trainable and unchanged (what compare's retraining relies on)."""
    pytest.importorskip("peft")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path / "base")
    s = FinetuneSettings(method=method, prefix_tokens=3, lora_r=2, lora_alpha=4)
    first = methods.build_model(tmp_path / "base", s, total_steps=1)
    with torch.no_grad():
        for p in first.parameters():
            if p.requires_grad:
                p.add_(0.5)
    first.save_pretrained(tmp_path / "adapter")
    saved = {n: p.detach().clone() for n, p in first.named_parameters() if p.requires_grad}

    again = methods.continue_adapter(tmp_path / "base", s, tmp_path / "adapter")
    trainable = {n: p for n, p in again.named_parameters() if p.requires_grad}
    assert trainable and set(trainable) == set(saved)
    assert all(torch.equal(trainable[n].detach(), saved[n]) for n in saved)


def test_only_lora_and_prefix_adapters_can_be_continued(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot continue a saved adapter"):
        methods.continue_adapter(tmp_path, FinetuneSettings(method="adalora"), tmp_path)
