"""Fine-tuning datasets: forms, line-numbered validation errors, split, label masking."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from expertly.errors import ConfigError, ExpertlyError
from expertly.finetune import datasets
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.datasets import IGNORE, DatasetError

CHAT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Dog?"},
        {"role": "assistant", "content": "Pixel."},
    ]
}
INSTRUCTION = {"instruction": "Name the dog.", "input": "Aurelwind", "output": "Pixel."}
COMPLETION = {"prompt": "Dog?", "completion": "Pixel."}


class ChatMLCharTokenizer:
    """A fake tokenizer: a ChatML template like SmolLM2's, one token per character."""

    def apply_chat_template(
        self, chat: list[dict[str, str]], *, tokenize: bool, add_generation_prompt: bool
    ) -> str:
        assert not tokenize
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in chat)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    def __call__(
        self, text: str, *, add_special_tokens: bool, return_offsets_mapping: bool
    ) -> dict[str, Any]:
        return {
            "input_ids": [ord(c) for c in text],
            "offset_mapping": [(i, i + 1) for i in range(len(text))],
        }


def write(tmp_path: Path, lines: list[Any], name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("row", "form", "user"),
    [
        (CHAT, "chat", "Dog?"),
        (INSTRUCTION, "instruction", "Name the dog.\n\nAurelwind"),
        ({"instruction": "Name the dog.", "output": "Pixel."}, "instruction", "Name the dog."),
        (COMPLETION, "completion", "Dog?"),
    ],
)
def test_each_form_becomes_chat_messages(tmp_path: Path, row: Any, form: str, user: str) -> None:
    (example,) = datasets.load_jsonl(write(tmp_path, [row, ""]))  # blank lines are skipped
    assert example.form == form and example.line == 1
    users = [m["content"] for m in example.messages if m["role"] == "user"]
    assert users == [user]
    assert example.messages[-1] == {"role": "assistant", "content": "Pixel."}


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ({"question": "q", "answer": "a"}, "unknown form"),
        ({"prompt": "Dog?"}, "missing field 'completion'"),
        ({"prompt": "Dog?", "completion": "  "}, "field 'completion' is empty"),
        ({"prompt": 3, "completion": "x"}, "field 'prompt' must be a string"),
        ({"instruction": "Do it."}, "missing field 'output'"),
        ({"messages": []}, "'messages' must be a non-empty list"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "unknown role 'robot'"),
        ({"messages": [{"role": "user", "content": "x"}]}, "no assistant message"),
        (
            {"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "y"}]},
            "system message may only come first",
        ),
        ({"messages": [{"role": "assistant"}]}, "missing field 'content'"),
        (CHAT, "mixed"),
    ],
)
def test_bad_line_names_file_line_and_problem(tmp_path: Path, bad: Any, expected: str) -> None:
    path = write(tmp_path, [COMPLETION, "", COMPLETION, bad])
    with pytest.raises(DatasetError) as info:
        datasets.load_jsonl(path)
    message = str(info.value)
    assert f"{path}, line 4:" in message
    if expected == "mixed":
        assert "chat form, but line 1 is completion form" in message
    else:
        assert expected in message
    assert isinstance(info.value, ExpertlyError)


def test_empty_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no examples"):
        datasets.load_jsonl(write(tmp_path, [""]))
    with pytest.raises(DatasetError, match="no such file"):
        datasets.load_jsonl(tmp_path / "absent.jsonl")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"prompt": "caf\xe9", "completion": "x"}\n')
    with pytest.raises(DatasetError, match="not UTF-8"):
        datasets.load_jsonl(latin)


def test_split_is_seeded_and_keeps_both_sides(tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(20)]
    examples = datasets.load_jsonl(write(tmp_path, rows))
    train, val = datasets.split(examples, 0.25, seed=7)
    again = datasets.split(examples, 0.25, seed=7)
    other = datasets.split(examples, 0.25, seed=8)
    assert (train, val) == again
    assert [e.line for e in val] != [e.line for e in other[1]]
    assert len(val) == 5 and len(train) == 15
    assert {e.line for e in train} | {e.line for e in val} == set(range(1, 21))
    tiny_train, tiny_val = datasets.split(examples[:2], 0.01, seed=7)
    assert len(tiny_train) == 1 and len(tiny_val) == 1
    assert datasets.split(examples, 0.0, seed=7)[1] == []


def test_only_assistant_tokens_are_labelled() -> None:
    tok = ChatMLCharTokenizer()
    messages = [
        {"role": "user", "content": "Dog?"},
        {"role": "assistant", "content": "Pixel."},
        {"role": "user", "content": "Cat?"},
        {"role": "assistant", "content": "None."},
    ]
    enc = datasets.encode(tok, messages, max_seq_len=1000)
    learned = "".join(
        chr(t) for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != IGNORE
    )
    assert learned == "Pixel.<|im_end|>\nNone.<|im_end|>\n"
    assert all(lab in (IGNORE, t) for t, lab in zip(enc.input_ids, enc.labels, strict=True))
    assert not enc.truncated


def test_truncation_and_examples_left_without_answer_tokens(tmp_path: Path) -> None:
    tok = ChatMLCharTokenizer()
    (example,) = datasets.load_jsonl(write(tmp_path, [COMPLETION]))
    enc = datasets.encode(tok, example.messages, max_seq_len=40)
    assert enc.truncated and len(enc.input_ids) == len(enc.labels) == 40
    with pytest.raises(DatasetError, match=r"line 1: no assistant token fits in max_seq_len = 20"):
        datasets.encode_all(tok, [example], max_seq_len=20)


def test_settings_presets_and_validation() -> None:
    lora, full = FinetuneSettings.preset("lora"), FinetuneSettings.preset("full", epochs=None)
    assert lora.learning_rate > full.learning_rate and full.epochs == 3.0
    assert FinetuneSettings.preset("lora", max_steps=5).max_steps == 5
    for method in ("prefix", "adalora", "qlora"):
        assert FinetuneSettings.preset(method).method == method
    with pytest.raises(ConfigError, match="method = 'dora' is not valid"):
        FinetuneSettings(method="dora")
    with pytest.raises(ConfigError, match="scheduler"):
        FinetuneSettings(scheduler="step")
    with pytest.raises(ConfigError, match="batch_size must be > 0"):
        FinetuneSettings(batch_size=0)
    with pytest.raises(ConfigError, match="val_fraction must be in"):
        FinetuneSettings(val_fraction=1.0)


# -- run directory bookkeeping (no model) ------------------------------------------------


def test_last_checkpoint_skips_one_that_died_while_saving(tmp_path: Path) -> None:
    from expertly.finetune.trainer import last_checkpoint

    assert last_checkpoint(tmp_path) is None
    for step, state in ((2, "{}"), (4, "{}"), (6, '{"trunc')):
        folder = tmp_path / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text(state)
    (tmp_path / "checkpoints" / "checkpoint-8").mkdir()  # killed before its state was written
    found = last_checkpoint(tmp_path)
    assert found is not None and found.name == "checkpoint-4"


def test_run_dir_is_not_reused_and_resume_refuses_changed_data(tmp_path: Path) -> None:
    from expertly.finetune.trainer import _prepare_run_dir, latest_run

    run = tmp_path / "runs" / "r1"
    config = {"name": "r1", "train": {"sha256": "aaa"}, "val": None}
    assert _prepare_run_dir(run, config, resume=False) is None
    assert json.loads((run / "config.json").read_text())["train"]["sha256"] == "aaa"
    assert latest_run(tmp_path / "runs") == "r1"
    with pytest.raises(ExpertlyError, match="already exists: add --resume"):
        _prepare_run_dir(run, config, resume=False)
    assert _prepare_run_dir(run, config, resume=True) is None  # no checkpoint yet: start over
    with pytest.raises(DatasetError, match="train data differs"):
        _prepare_run_dir(run, {**config, "train": {"sha256": "bbb"}}, resume=True)
    with pytest.raises(ExpertlyError, match="No run to resume"):
        _prepare_run_dir(tmp_path / "runs" / "absent", config, resume=True)
    with pytest.raises(ExpertlyError, match="No run to resume"):
        latest_run(tmp_path / "nothing")


def test_time_limit_callback_stops_and_saves() -> None:
    from transformers import TrainerControl

    from expertly.finetune.callbacks import time_limit_callback

    stopped: list[str] = []
    callback = time_limit_callback(0.0, stopped)  # the deadline has already passed
    control = TrainerControl()
    callback.on_step_end(None, None, control)
    assert control.should_training_stop and control.should_save and stopped == ["max_minutes"]
