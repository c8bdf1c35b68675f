from __future__ import annotations

import re
from pathlib import Path

import pytest

from expertly.config import Settings, describe, resolve_workspace
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
    ("toml", "needle"),
    [
        ("[retrieval]\nmode = 'magic'\n", "hybrid, dense, sparse"),
        ("[retrieval]\nk = 0\n", "retrieval.k"),
        ("[nope]\nx = 1\n", "Unknown settings section"),
        ("[retrieval]\nkk = 1\n", "retrieval.kk"),
        ("[retrieval]\nk = 'ten'\n", "retrieval.k must be int"),
        ("[retrieval\n", "not valid TOML"),
        ("[chunking]\nmax_tokens = 10\noverlap_tokens = 10\n", "overlap_tokens"),
    ],
)
def test_bad_settings_say_what_to_fix(tmp_path: Path, toml: str, needle: str) -> None:
    (tmp_path / "expertly.toml").write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        Settings.load(tmp_path, env={})


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"retrieval\.k"):
        Settings.load(None, env={"EXPERTLY_RETRIEVAL__K": "many"})
    with pytest.raises(ConfigError, match="EXPERTLY_BOGUS__X"):
        Settings.load(None, env={"EXPERTLY_BOGUS__X": "1"})


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
