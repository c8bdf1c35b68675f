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
from expertly.generate import models, ort, ort_models, registry
from expertly.generate.local import TransformersLLM
from expertly.generate.models import resolve_model
from expertly.generate.registry import create_llm
from expertly.types import Message


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
    int8 = ort_models.onnx_dir(source, cache, "int8")
    assert int8.parent == cache / "onnx" and int8.name.startswith("my-model-")
    assert ort_models.onnx_dir(source, cache, "int4") != int8
    assert ort_models.onnx_dir(source, cache, "int8") == int8  # stable
    (folder / "model.safetensors").write_bytes(b"re-exported weights")
    assert ort_models.onnx_dir(source, cache, "int8") != int8


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
    monkeypatch.setattr(ort_models, "need_packages", lambda: None)
    source, cache = resolve_model(str(_model_dir(tmp_path))), tmp_path / "cache"
    calls: list[list[str]] = []
    monkeypatch.setattr(ort_models.subprocess, "run", _builder(calls, fail=True))
    with pytest.raises(LLMError, match=r"(?s)model builder failed.*out of memory"):
        ort_models.convert_onnx(source, cache, "int8")
    assert list((cache / "onnx").iterdir()) == []  # the half-written copy is gone

    def interrupted(command: list[str], **kwargs: Any) -> None:
        (Path(command[command.index("-o") + 1]) / "model.onnx").write_bytes(b"half")
        raise KeyboardInterrupt  # Ctrl-C (or a kill) while the builder runs

    monkeypatch.setattr(ort_models.subprocess, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ort_models.convert_onnx(source, cache, "int8")
    assert list((cache / "onnx").iterdir()) == []

    monkeypatch.setattr(ort_models.subprocess, "run", _builder(calls, fail=False))
    folder = ort_models.convert_onnx(source, cache, "int8")
    assert folder == ort_models.onnx_dir(source, cache, "int8")
    assert list((cache / "onnx").iterdir()) == [folder]
    assert {p.name for p in folder.iterdir()} == {"model.onnx", "genai_config.json", models.MARKER}
    marker = json.loads((folder / models.MARKER).read_text())
    assert marker["precision"] == "int8" and marker["from"] == str(source.path)
    assert calls[-1][calls[-1].index("-p") + 1] == "int8"
    assert ort_models.convert_onnx(source, cache, "int8") == folder
    assert len(calls) == 2  # the finished copy is reused, not rebuilt


class _FakeGenerator:
    """Stands in for ``onnxruntime_genai.Generator``: yields scripted token ids."""

    def __init__(self, tokens: list[int], max_tokens: int) -> None:
        self.tokens, self.left, self.last = list(tokens), max_tokens, -1

    def is_done(self) -> bool:
        return self.left == 0 or not self.tokens or self.last == EOS

    def generate_next_token(self) -> None:
        self.last, self.left = self.tokens.pop(0), self.left - 1

    def get_next_tokens(self) -> list[int]:
        return [self.last]


EOS = 0
# Token 5 and 6 are the two halves of one character (an emoji split across tokens).
PIECES = {0: "", 1: "Red", 2: ",", 3: " green", 4: " and", 5: "", 6: "\N{RAINBOW}", 7: " blue"}


def _scripted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tokens: list[int]) -> ort.OnnxLLM:
    llm = ort.OnnxLLM(str(_model_dir(tmp_path)), cache_dir=tmp_path / "cache")
    llm._eos = {EOS}

    def decode(new: list[int]) -> str:
        text = "".join(PIECES[t] for t in new)
        if 5 in new and 6 not in new:
            return text + "\ufffd"  # half a character, as a byte-level tokenizer decodes it
        return text

    monkeypatch.setattr(llm, "_prompt", lambda messages, max_tokens: [9, 9, 9])
    monkeypatch.setattr(llm, "_decode", decode)
    monkeypatch.setattr(
        llm, "_batch_generator", lambda rows, max_tokens, t: _FakeGenerator(tokens, max_tokens)
    )
    return llm


def test_generation_counts_finishes_and_streams_like_transformers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from expertly.types import Message

    chat = [Message("user", "Colours?")]
    llm = _scripted(monkeypatch, tmp_path, [1, 2, 3, 4, 7, EOS])
    done = llm.generate(chat, max_tokens=10)
    assert (done.text, done.prompt_tokens, done.completion_tokens, done.finish_reason) == (
        "Red, green and blue",
        3,
        6,  # the end-of-sequence token counts, as with transformers
        "stop",
    )
    assert "".join(llm.stream(chat, max_tokens=10)) == done.text
    short = llm.generate(chat, max_tokens=3)
    assert (short.text, short.completion_tokens, short.finish_reason) == ("Red, green", 3, "length")
    # A stop string that spans two pieces (" green" + " and") ends generation there.
    stopped = llm.generate(chat, max_tokens=10, stop=["n and"])
    assert (stopped.text, stopped.completion_tokens, stopped.finish_reason) == (
        "Red, gree",
        4,
        "stop",
    )
    # Streamed, the last len("n and") - 1 characters are held back until they cannot start it.
    assert list(llm.stream(chat, max_tokens=10, stop=["n and"])) == ["Red, g", "ree"]


def test_half_a_character_waits_for_its_second_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from expertly.types import Message

    chat = [Message("user", "Colours?")]
    llm = _scripted(monkeypatch, tmp_path, [1, 5, 6, 7, EOS])
    pieces = list(llm.stream(chat, max_tokens=10))
    assert pieces == ["Red", "\N{RAINBOW}", " blue"]  # never a replacement character
    assert "".join(pieces) == llm.generate(chat, max_tokens=10).text
    # Cut off by max_tokens after half the character: shown as decoded, as generate has it.
    assert "".join(llm.stream(chat, max_tokens=2)) == llm.generate(chat, max_tokens=2).text
    assert llm.generate(chat, max_tokens=2).text == "Red\ufffd"


class _FakeBatch:
    """Stands in for a batched ``onnxruntime_genai.Generator``: one scripted row per prompt
    (a row that ran out repeats EOS, as the runtime pads a finished row)."""

    def __init__(self, scripts: list[list[int]], max_tokens: int) -> None:
        self.scripts, self.left, self.step = scripts, max_tokens, -1

    def is_done(self) -> bool:
        return self.left == 0

    def generate_next_token(self) -> None:
        self.step, self.left = self.step + 1, self.left - 1

    def get_next_tokens(self) -> list[int]:
        return [s[self.step] if self.step < len(s) else EOS for s in self.scripts]


def test_batch_rows_end_on_their_own_and_count_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per row: EOS ends it, a stop string ends it, else ``max_tokens``; a prompt ending
    with the pad token (only trailing pads are masked) is generated alone."""
    llm = _scripted(monkeypatch, tmp_path, [1, 2, 3, 7, EOS])  # what a lone generate gives
    llm._pad = 8
    prompts = {"eos": [9, 9], "stop": [9, 9, 9], "long": [9], "pad": [9, 8]}
    scripts = {"eos": [1, EOS], "stop": [1, 3, 4, 7], "long": [1, 3, 7, 7, 7, 7]}
    seen: list[list[list[int]]] = []

    def batch(rows: list[list[int]], max_tokens: int, t: float) -> Any:
        seen.append(rows)
        if len(rows) == 1:
            return _FakeGenerator([1, 2, 3, 7, EOS], max_tokens)
        return _FakeBatch([scripts[k] for k in prompts if prompts[k] in rows], max_tokens)

    monkeypatch.setattr(llm, "_load", lambda: None)
    monkeypatch.setattr(llm, "_prompt", lambda chat, max_tokens: prompts[chat[0].content])
    monkeypatch.setattr(llm, "_batch_generator", batch)
    chats = [[Message("user", k)] for k in prompts]
    out = llm.generate_batch(chats, max_tokens=4, stop=[" and"])
    assert seen == [[[9, 8]], [[9, 9], [9, 9, 9], [9]]]  # the pad-ended prompt alone
    assert [(c.text, c.completion_tokens, c.finish_reason) for c in out] == [
        ("Red", 2, "stop"),  # EOS
        ("Red green", 3, "stop"),  # the stop string, cut
        ("Red green blue blue", 4, "length"),  # max_tokens
        ("Red, green blue", 4, "length"),  # alone
    ]
    assert [c.prompt_tokens for c in out] == [2, 3, 1, 2]
    assert llm.generate_batch([], max_tokens=4) == []
    seen.clear()
    llm._pad = None  # a config without a pad token: every chat alone
    llm.generate_batch(chats[:3], max_tokens=4)
    assert seen == [[[9, 9]], [[9, 9, 9]], [[9]]]
