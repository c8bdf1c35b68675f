"""Data-parallel fine-tuning on two CPU processes (gloo) against one process.

A tiny random-weight Llama with a byte-level tokenizer and a ChatML template is written to
disk once; the same LoRA run (same data, seed and effective batch) trains on one process
in-process and on two through ``launch`` (accelerate launch, torchrun underneath). The two
see the same batches and exchange gradients, so losses, gradient norms and adapters agree
to float rounding; only one run dir and one adapter are written. 25-55 s on 2 cores.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from expertly.errors import ExpertlyError
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.launch import launch
from expertly.finetune.trainer import run_finetune

pytestmark = [pytest.mark.integration]

if importlib.util.find_spec("peft") is None or importlib.util.find_spec("accelerate") is None:
    pytest.skip("needs the finetune extra (peft, accelerate)", allow_module_level=True)

TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_model(module_tmp: Callable[[str], Path]) -> Iterator[Path]:
    """A 2-layer Llama (hidden 32) with a byte-level tokenizer: one token per byte."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = module_tmp("tiny-llama")
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
    )
    fast.chat_template = TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
    )  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    yield folder
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data(module_tmp: Callable[[str], Path]) -> Path:
    folder = module_tmp("data")
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is item {i}?"},
                {"role": "assistant", "content": f"Item {i} is widget {i * 7}, {'red' * (i % 3)}."},
            ]
        }
        for i in range(16)
    ]
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (folder / "val.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:4]) + "\n")
    return folder


SETTINGS = FinetuneSettings.preset(
    "lora", batch_size=4, max_steps=4, lora_dropout=0.0, learning_rate=1e-3, warmup_ratio=0.0,
    forgetting_check=False, eval_every=2, early_stopping_patience=0, max_seq_len=64,
)  # fmt: skip


def grad_norms(run_dir: Path) -> list[float]:
    """The gradient norm of every step, from the run's last checkpoint."""
    last = max((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name[11:]))
    history = json.loads((last / "trainer_state.json").read_text())["log_history"]
    return [h["grad_norm"] for h in history if "grad_norm" in h]


def test_two_processes_train_like_one(tiny_model: Path, data: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    common: dict[str, Any] = {
        "settings": SETTINGS,
        "models_dir": tmp_path / "models",
        "base_model": str(tiny_model),
        "val_path": data / "val.jsonl",
    }
    one = run_finetune(data / "train.jsonl", runs_dir=tmp_path / "one", threads=1, **common)
    two = launch(data / "train.jsonl", runs_dir=tmp_path / "two", processes=2, threads=2, **common)

    assert (two.processes, two.batch_size, two.grad_accum, two.effective_batch) == (2, 2, 1, 4)
    assert (one.processes, one.batch_size, one.effective_batch) == (1, 4, 4)
    assert two.status == "finished" and two.steps == one.steps == 4
    assert two.tokens == one.tokens  # every token seen once, counted over both processes
    assert [s for s, _ in two.train_loss] == [s for s, _ in one.train_loss] == [1, 2, 3, 4]
    # the two processes exchange gradients (DistributedDataParallel): every step, loss and
    # gradient norm is the one process's to float rounding, and so is the adapter. (An
    # evaluation before training once left the model unwrapped: each process then stepped on
    # its own half, with gradient norms 3 % apart and adapters 4.6e-3 apart.)
    for (_, a), (_, b) in zip(one.train_loss, two.train_loss, strict=True):
        assert b == pytest.approx(a, rel=1e-5)
    for (_, a), (_, b) in zip(one.val_loss, two.val_loss, strict=True):
        assert b == pytest.approx(a, rel=1e-5)
    norms = [grad_norms(Path(r.output_dir).parent) for r in (one, two)]
    assert len(norms[0]) == 4 and norms[1] == pytest.approx(norms[0], rel=1e-5)
    first = load_file(Path(one.output_dir) / "adapter_model.safetensors")
    second = load_file(Path(two.output_dir) / "adapter_model.safetensors")
    assert first.keys() == second.keys()
    for key, tensor in first.items():
        assert (second[key] - tensor).abs().max().item() < 1e-5, key
    # one run dir, one adapter, no leftover temporary outputs from the second process
    (run,) = [p for p in (tmp_path / "two").iterdir() if not p.name.startswith(".")]
    assert run.name == two.name and sorted(p.name for p in run.iterdir() if p.name[0] != ".") == [
        "adapter", "checkpoints", "config.json", "loss.png", "metrics.json",
    ]  # fmt: skip
    assert not [p for p in run.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert json.loads((run / "config.json").read_text())["processes"] == 2


def test_a_batch_that_does_not_split_is_refused_before_anything_starts(
    tiny_model: Path, data: Path, tmp_path: Path
) -> None:
    with pytest.raises(ExpertlyError, match="cannot be split evenly across 3 processes"):
        launch(
            data / "train.jsonl", settings=SETTINGS, runs_dir=tmp_path, models_dir=tmp_path,
            processes=3, base_model=str(tiny_model),
        )  # fmt: skip
    assert not list(tmp_path.iterdir())


def test_an_error_on_the_processes_is_raised_not_hung(
    tiny_model: Path, data: Path, tmp_path: Path
) -> None:
    """The run exists already: rank 0 refuses it, rank 1 stops with it, the launcher raises
    rank 0's message (no process waits for the one that failed)."""
    (tmp_path / "runs" / "taken").mkdir(parents=True)
    with pytest.raises(ExpertlyError, match="already exists"):
        launch(
            data / "train.jsonl", settings=SETTINGS, runs_dir=tmp_path / "runs",
            models_dir=tmp_path / "models", processes=2, base_model=str(tiny_model),
            name="taken", launcher="torchrun",
        )  # fmt: skip
