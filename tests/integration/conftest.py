"""Integration fixtures: one converted copy of the packaged LLM for the whole session.

Converting the packaged GGUF file into a transformers directory takes 25–80 s; every
workspace would otherwise pay it once. ``EXPERTLY_LLM__CACHE_DIR`` points all workspaces of
the session (in-process and CLI subprocesses, which inherit the environment) at one cache.
Tests that check the conversion itself pass their own ``cache_dir``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


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
