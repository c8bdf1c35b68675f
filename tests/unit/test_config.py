from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from expertly.config import Settings, describe, resolve_workspace
from expertly.config.hub import offline_hub
from expertly.errors import ConfigError
from expertly.workspace import Workspace, default_config_text


def test_defaults_are_valid_and_documented() -> None:
    s = Settings()
    assert s.retrieval.mode == "hybrid"
    rows = describe()
    assert all(help_text for _key, _typ, _default, help_text in rows), "every field needs help"
    assert {"llm.backend", "embedder.model", "retrieval.k"} <= {r[0] for r in rows}


def test_env_overrides_file(tmp_path: Path) -> None:
    (tmp_path / "expertly.toml").write_text("[retrieval]\nk = 3\nmode = 'dense'\n")
    s = Settings.load(
        tmp_path, env={"EXPERTLY_RETRIEVAL__K": "9", "EXPERTLY_ANSWER__ATTRIBUTE_UNCITED": "no"}
    )
    assert s.retrieval.k == 9
    assert s.retrieval.mode == "dense"
    assert s.answer.attribute_uncited is False


@pytest.mark.parametrize(
    ("toml", "needles"),
    [
        ("[retrieval]\nmode = 'magic'\n", ["retrieval.mode", "hybrid, dense, sparse"]),
        ("[retrieval]\nk = 0\n", ["retrieval.k must be > 0", "expertly.toml: retrieval.k"]),
        ("[nope]\nx = 1\n", ["unknown settings section [nope]", "valid sections: embedder"]),
        ("[retrieval]\nkk = 1\n", ["retrieval.kk", "did you mean 'k'?", "valid: candidates"]),
        (
            "[retrieval]\nk = 'ten'\n",
            ["expertly.toml: retrieval.k = 'ten': expected a whole number, e.g. 3"],
        ),
        ("[retrieval]\nk = 2.5\n", ["retrieval.k = 2.5: expected a whole number"]),
        ("[answer]\nverify_figures = 1\n", ["answer.verify_figures = 1: expected true or false"]),
        ("[agent]\ntools = 42\n", ["agent.tools = 42: expected a list of strings"]),
        ("[agent]\ntools = ['42']\n", ["'42' is not a tool name", "search_docs"]),
        ("[agent]\ntools = [1, 2]\n", ["agent.tools = [1, 2]: expected a list of strings"]),
        ("retrieval = 3\n", ["retrieval = 3 is not a section", "[retrieval]"]),
        ("[retrieval\n", ["not valid TOML"]),
        ("[chunking]\nmax_tokens = 10\noverlap_tokens = 10\n", ["overlap_tokens"]),
    ],
)
def test_bad_settings_say_what_to_fix(tmp_path: Path, toml: str, needles: list[str]) -> None:
    (tmp_path / "expertly.toml").write_text(toml)
    with pytest.raises(ConfigError) as caught:
        Settings.load(tmp_path, env={})
    for needle in needles:
        assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        (
            {"EXPERTLY_RETRIEVAL__K": "many"},
            ["EXPERTLY_RETRIEVAL__K = 'many': expected a whole number, e.g. 3 (the default)"],
        ),
        ({"EXPERTLY_AGENT__TOOLS": "42"}, ["'42' is not a tool name", "EXPERTLY_AGENT__TOOLS"]),
        ({"EXPERTLY_AGENT__MAX_STEPS": "0"}, ["agent.max_steps", "EXPERTLY_AGENT__MAX_STEPS"]),
        ({"EXPERTLY_LLM__DEVICE": "gpu"}, ["auto, cpu, cuda, mps", "EXPERTLY_LLM__DEVICE"]),
        ({"EXPERTLY_EMBEDDER__CACHE": "maybe"}, ["EXPERTLY_EMBEDDER__CACHE", "true or false"]),
        ({"EXPERTLY_LLM__TEMPERATURE": "warm"}, ["EXPERTLY_LLM__TEMPERATURE", "a number"]),
        ({"EXPERTLY_BOGUS__X": "1"}, ["EXPERTLY_BOGUS__X", "valid sections: embedder"]),
        ({"EXPERTLY_RETRIEVL__K": "1"}, ["did you mean 'retrieval'?"]),
        ({"EXPERTLY_AGENT__TOOLZ": "x"}, ["EXPERTLY_AGENT__TOOLZ", "did you mean 'tools'?"]),
        ({"EXPERTLY_LLM_BACKEND": "openai"}, ["two underscores", "EXPERTLY_LLM__BACKEND"]),
    ],
)
def test_bad_env_value_names_the_variable(env: dict[str, str], needles: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(None, env=env)
    for needle in needles:
        assert needle in str(caught.value)


def test_env_values_are_converted_to_the_field_types() -> None:
    s = Settings.load(
        None,
        env={
            "EXPERTLY_AGENT__TOOLS": "search_docs, sql",
            "EXPERTLY_LLM__TEMPERATURE": "1",
            "EXPERTLY_EMBEDDER__CACHE": "off",
            "EXPERTLY_WORKSPACE": "/elsewhere",
            "EXPERTLY_SCIFACT_EVAL": "1",
        },
    )
    assert s.agent.tools == ["search_docs", "sql"]
    assert s.llm.temperature == 1.0 and isinstance(s.llm.temperature, float)
    assert s.embedder.cache is False


def test_from_dict_names_the_key() -> None:
    with pytest.raises(ConfigError, match=re.escape("store.hnsw_m = 'x': expected a whole")):
        Settings.from_dict({"store": {"hnsw_m": "x"}})
    assert Settings.from_dict({"store": {"hnsw_m": "4"}}).store.hnsw_m == 4


def test_default_config_text_round_trips(tmp_path: Path) -> None:
    text = default_config_text()
    setting = re.compile(r"^# [a-z_]+ = ")
    uncommented = "\n".join(line[2:] if setting.match(line) else line for line in text.splitlines())
    (tmp_path / "expertly.toml").write_text(uncommented)
    assert Settings.load(tmp_path, env={}) == Settings()


def test_workspace_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPERTLY_WORKSPACE", str(tmp_path / "ws"))
    assert resolve_workspace() == (tmp_path / "ws").resolve()
    assert resolve_workspace(tmp_path / "other") == (tmp_path / "other").resolve()
    ws = Workspace(tmp_path / "x")
    path = ws.init()
    assert path.read_text().startswith("# expertly workspace settings")


@pytest.mark.parametrize(
    ("env", "toml", "needles"),
    [
        ({"EXPERTLY_AGENT__TOOLS": "42"}, "", ["EXPERTLY_AGENT__TOOLS", "not a tool name"]),
        ({}, "[agent]\ntools = 42\n", ["agent.tools = 42", '["search_docs", "calculator"]']),
        ({}, "[agent]\ntool = ['sql']\n", ["[agent] has no setting 'tool'", "'tools'?"]),
        ({}, "[agnet]\ntools = ['sql']\n", ["unknown settings section [agnet]"]),
    ],
)
def test_the_cli_exits_non_zero_on_a_bad_setting(
    tmp_path: Path, env: dict[str, str], toml: str, needles: list[str]
) -> None:
    if toml:
        (tmp_path / "expertly.toml").write_text(toml)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EXPERTLY_")}
    result = subprocess.run(
        [sys.executable, "-m", "expertly", "-w", str(tmp_path), "status"],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=120,
    )
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr


def test_offline_hub_drops_only_the_kernel_trust_notice(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline_hub()
    offline_hub()  # idempotent: one filter, however often backends call it
    logger = logging.getLogger("kernels._internals.hf_hub")
    assert len(logger.filters) == 1
    with caplog.at_level(logging.WARNING):
        logger.warning("Skipping publisher trust check for 'kernels-community/x' because ...")
        logger.warning("a kernel failed to load")
    assert [r.getMessage() for r in caplog.records] == ["a kernel failed to load"]
