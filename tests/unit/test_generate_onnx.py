"""The onnx backend without the runtime: choosing it, keying and building its copy atomically.

The real model's behaviour (the same tests as the transformers backend) is in
tests/integration/test_local_llm.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from expertly.config import LLMSettings
from expertly.errors import ConfigError, LLMError, MissingDependencyError
from expertly.generate import models, ort, registry
from expertly.generate.local import TransformersLLM
from expertly.generate.models import resolve_model
from expertly.generate.registry import create_llm


def _model_dir(tmp_path: Path, name: str = "my-model") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 2048}))
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def test_onnx_backend_is_cheap_to_build_and_imports_nothing_heavy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ort, "available", lambda: True)
    before = set(sys.modules)
    settings = LLMSettings(backend="onnx", model=str(_model_dir(tmp_path)), precision="int4")
    llm = create_llm(settings, cache_dir=tmp_path / "cache")
    assert isinstance(llm, ort.OnnxLLM)
    assert (llm.name, llm.context_window, llm.precision, llm.exact_tokens) == (
        "my-model",
        2048,
        "int4",
        True,
    )
    assert not {"torch", "transformers", "onnxruntime_genai"} & (set(sys.modules) - before)


def test_onnx_backend_names_the_extra_when_its_packages_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ort, "available", lambda: False)
    real = registry.importlib.util.find_spec
    monkeypatch.setattr(
        registry.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime_genai" else real(name, *a),
    )
    with pytest.raises(MissingDependencyError, match=r"expertly\[fast\]"):
        create_llm(LLMSettings(backend="onnx"), cache_dir=tmp_path)


def test_auto_picks_onnx_on_the_cpu_when_installed_and_transformers_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = str(_model_dir(tmp_path))
    monkeypatch.setattr(ort, "available", lambda: True)
    cpu = LLMSettings(backend="auto", model=model, device="cpu")
    assert isinstance(create_llm(cpu, cache_dir=tmp_path), ort.OnnxLLM)
    monkeypatch.setattr(registry, "_gpu_in_use", lambda device: True)
    gpu = LLMSettings(backend="auto", model=model, device="auto")
    assert isinstance(create_llm(gpu, cache_dir=tmp_path), TransformersLLM)
    monkeypatch.setattr(ort, "available", lambda: False)
    assert isinstance(create_llm(cpu, cache_dir=tmp_path), TransformersLLM)
    with pytest.raises(ConfigError, match="runs on the CPU"):
        monkeypatch.setattr(ort, "available", lambda: True)
        create_llm(LLMSettings(backend="onnx", model=model, device="cuda"), cache_dir=tmp_path)


def test_precision_is_checked_and_adapters_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"llm\.precision"):
        LLMSettings(precision="int3")
    with pytest.raises(ConfigError, match="valid: fp32, int8, int4"):
        ort.OnnxLLM(str(_model_dir(tmp_path)), cache_dir=tmp_path, precision="fp16")
    adapter = tmp_path / "run" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(LLMError, match=r"cannot apply adapters.*--merge"):
        ort.OnnxLLM(str(adapter), cache_dir=tmp_path)


def test_onnx_copy_is_keyed_by_source_weights_and_precision(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path)
    source, cache = resolve_model(str(folder)), tmp_path / "cache"
    int8 = ort.onnx_dir(source, cache, "int8")
    assert int8.parent == cache / "onnx" and int8.name.startswith("my-model-")
    assert ort.onnx_dir(source, cache, "int4") != int8
    assert ort.onnx_dir(source, cache, "int8") == int8  # stable
    (folder / "model.safetensors").write_bytes(b"re-exported weights")
    assert ort.onnx_dir(source, cache, "int8") != int8


def _builder(calls: list[list[str]], *, fail: bool) -> Any:
    """A stand-in for the model builder's process: writes some files, then fails or not."""

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        out = Path(command[command.index("-o") + 1])
        (out / "model.onnx").write_bytes(b"half" if fail else b"onnx")
        if not fail:
            (out / "genai_config.json").write_text(json.dumps({"model": {"eos_token_id": 2}}))
        return subprocess.CompletedProcess(command, 1 if fail else 0, "", "boom: out of memory")

    return run


def test_onnx_conversion_is_atomic_and_runs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ort, "_need_packages", lambda: None)
    source, cache = resolve_model(str(_model_dir(tmp_path))), tmp_path / "cache"
    calls: list[list[str]] = []
    monkeypatch.setattr(ort.subprocess, "run", _builder(calls, fail=True))
    with pytest.raises(LLMError, match=r"(?s)model builder failed.*out of memory"):
        ort.convert_onnx(source, cache, "int8")
    assert list((cache / "onnx").iterdir()) == []  # the half-written copy is gone

    def interrupted(command: list[str], **kwargs: Any) -> None:
        (Path(command[command.index("-o") + 1]) / "model.onnx").write_bytes(b"half")
        raise KeyboardInterrupt  # Ctrl-C (or a kill) while the builder runs

    monkeypatch.setattr(ort.subprocess, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ort.convert_onnx(source, cache, "int8")
    assert list((cache / "onnx").iterdir()) == []

    monkeypatch.setattr(ort.subprocess, "run", _builder(calls, fail=False))
    folder = ort.convert_onnx(source, cache, "int8")
    assert folder == ort.onnx_dir(source, cache, "int8")
    assert list((cache / "onnx").iterdir()) == [folder]
    assert {p.name for p in folder.iterdir()} == {"model.onnx", "genai_config.json", models.MARKER}
    marker = json.loads((folder / models.MARKER).read_text())
    assert marker["precision"] == "int8" and marker["from"] == str(source.path)
    assert calls[-1][calls[-1].index("-p") + 1] == "int8"
    assert ort.convert_onnx(source, cache, "int8") == folder
    assert len(calls) == 2  # the finished copy is reused, not rebuilt
