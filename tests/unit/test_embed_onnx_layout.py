"""Which sentence-transformers folders the ONNX copy covers (``embed.onnx.read_layout``),
read from the folder's files alone, and the reason given for the others."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from expertly.config import EmbedderSettings
from expertly.embed import onnx
from expertly.errors import ConfigError

T, P, N = (f"sentence_transformers.models.{k}" for k in ("Transformer", "Pooling", "Normalize"))


def _folder(
    tmp_path: Path,
    modules: list[str] = [T, P, N],  # noqa: B006 - read only
    pooling: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    tokenizer: bool = True,
) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    paths = {T: "", P: "1_Pooling", N: "2_Normalize"}
    listed = [{"idx": i, "type": m, "path": paths.get(m, f"{i}_x")} for i, m in enumerate(modules)]
    (tmp_path / "modules.json").write_text(json.dumps(listed))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps(pooling or {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False})
    )
    (tmp_path / "sentence_bert_config.json").write_text(
        json.dumps(config or {"max_seq_length": 256, "do_lower_case": False})
    )
    if tokenizer:
        (tmp_path / "tokenizer.json").write_text("{}")
    return tmp_path


def test_mean_and_cls_layouts_are_read(tmp_path: Path) -> None:
    assert onnx.read_layout(_folder(tmp_path / "a")) == onnx.EncoderLayout("mean", True, 256)
    cls = {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}
    layout = onnx.read_layout(_folder(tmp_path / "b", [T, P], pooling=cls))
    assert layout == onnx.EncoderLayout("cls", False, 256)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"modules": [T, P, "sentence_transformers.models.Dense", N]}, "its modules are"),
        ({"pooling": {"pooling_mode_max_tokens": True}}, "not exactly one of mean or CLS"),
        (
            {"pooling": {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": True}},
            "not exactly one",
        ),
        ({"config": {"max_seq_length": 128, "do_lower_case": True}}, "lower-cases"),
        ({"config": {"do_lower_case": False}}, "no max_seq_length"),
        ({"tokenizer": False}, "no tokenizer.json"),
    ],
)
def test_other_layouts_keep_torch_with_a_reason(
    tmp_path: Path, kwargs: dict[str, Any], reason: str
) -> None:
    result = onnx.read_layout(_folder(tmp_path, **kwargs))
    assert isinstance(result, str) and reason in result


def test_a_folder_without_modules_json_is_refused(tmp_path: Path) -> None:
    assert "no readable modules.json" in str(onnx.read_layout(tmp_path))


def test_copy_dir_names_model_and_weights(tmp_path: Path) -> None:
    folder = onnx.copy_dir(tmp_path, "my model@/v2", "abc123")
    assert folder == tmp_path / "onnx-embed" / "my-model-v2-abc123"


def test_runtime_setting_is_checked() -> None:
    assert EmbedderSettings().runtime == "auto"
    with pytest.raises(ConfigError, match=r"embedder\.runtime"):
        EmbedderSettings(runtime="tensorrt")
