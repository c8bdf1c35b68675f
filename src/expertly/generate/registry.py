"""Builds an LLM from settings; backends are looked up by name and imported lazily."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

from expertly.config import LLMSettings
from expertly.errors import ConfigError, MissingDependencyError
from expertly.generate import LLM
from expertly.plugins import LLMS, load_entry_point, valid_names

Factory = Callable[[LLMSettings, Path], LLM]
LOCAL_BACKENDS = ("transformers", "onnx", "auto")  # run the model in this process


def _require(package: str, purpose: str) -> None:
    """Fail at construction, not at the first question, when a backend's package is absent."""
    if importlib.util.find_spec(package) is None:
        raise MissingDependencyError(package, purpose=purpose)


def _transformers(s: LLMSettings, cache_dir: Path) -> LLM:
    for package in ("torch", "transformers"):
        _require(package, "the local LLM (llm.backend = 'transformers')")
    from expertly.generate.local import TransformersLLM

    return TransformersLLM(
        s.model,
        cache_dir=cache_dir,
        device=s.device,
        threads=s.threads,
        context_window=s.context_window,
    )


def _onnx(s: LLMSettings, cache_dir: Path) -> LLM:
    from expertly.generate import ort

    if not ort.available():
        missing = [p for p in ort.PACKAGES if importlib.util.find_spec(p) is None]
        raise MissingDependencyError(
            missing[0].replace("_", "-"), "fast", "the onnx LLM backend (llm.backend = 'onnx')"
        )
    if s.device not in ("auto", "cpu"):
        raise ConfigError(f"llm.backend = 'onnx' runs on the CPU; llm.device is {s.device!r}")
    for package in ("torch", "transformers"):  # the tokenizer and the one-time conversion
        _require(package, "the onnx LLM backend's tokenizer and conversion")
    return ort.OnnxLLM(
        s.model,
        cache_dir=cache_dir,
        precision=s.precision,
        threads=s.threads,
        context_window=s.context_window,
    )


def _auto(s: LLMSettings, cache_dir: Path) -> LLM:
    """``onnx`` on the CPU when its packages are installed; ``transformers`` otherwise
    (a GPU, or the ``fast`` extra not installed)."""
    from expertly.generate import ort

    if ort.available() and s.device in ("auto", "cpu") and not _gpu_in_use(s.device):
        return _onnx(s, cache_dir)
    return _transformers(s, cache_dir)


def _gpu_in_use(device: str) -> bool:
    """Whether ``llm.device = auto`` would put the transformers model on a GPU."""
    if device == "cpu" or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available() or torch.backends.mps.is_available())


def _openai(s: LLMSettings, cache_dir: Path) -> LLM:
    if not s.base_url:
        raise ConfigError(
            "llm.backend = 'openai' needs llm.base_url (EXPERTLY_LLM__BASE_URL), "
            "e.g. http://localhost:11434/v1 for Ollama"
        )
    if not s.model:
        raise ConfigError(
            "llm.backend = 'openai' needs llm.model (EXPERTLY_LLM__MODEL): the model name "
            "the endpoint serves"
        )
    _require("httpx", "an OpenAI-compatible LLM endpoint")
    from expertly.endpoints import RetryPolicy
    from expertly.generate.openai_compat import OpenAICompatLLM

    return OpenAICompatLLM(
        s.model,
        base_url=s.base_url,
        api_key=os.environ.get(s.api_key_env),  # local servers need none
        timeout_s=s.timeout_s,
        context_window=s.context_window,
        retry=RetryPolicy(s.retries, s.retry_backoff_s, s.retry_max_wait_s),
    )


def _scripted(s: LLMSettings, cache_dir: Path) -> LLM:
    from expertly.generate.scripted import ScriptedLLM

    return ScriptedLLM(context_window=s.context_window or 2048)


_BACKENDS: dict[str, Factory] = {
    "transformers": _transformers,
    "onnx": _onnx,
    "auto": _auto,
    "openai": _openai,
    "scripted": _scripted,
}


def register_llm(name: str, factory: Factory) -> None:
    """Add an LLM backend (plugins and tests use the same path as the built-ins)."""
    _BACKENDS[name] = factory


def create_llm(settings: LLMSettings, *, cache_dir: Path) -> LLM:
    """The LLM named by ``settings.backend``; ``cache_dir`` holds converted local models.

    A name no ``register_llm`` call added is looked up among the ``expertly.llms`` entry
    points of installed packages (``expertly.plugins``)."""
    factory = _BACKENDS.get(settings.backend)
    if factory is None:
        factory = load_entry_point(LLMS, settings.backend)
        if factory is None:
            valid = valid_names(_BACKENDS, LLMS)
            raise ConfigError(f"llm.backend = {settings.backend!r} is unknown; valid: {valid}")
        register_llm(settings.backend, factory)
    return factory(settings, Path(cache_dir))
