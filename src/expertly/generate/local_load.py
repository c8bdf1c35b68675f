"""Loading for the transformers backend: torch, the device, the tokenizer, the weights and a
PEFT adapter on top of them.

Kept apart from ``expertly.generate.local``, which generates with what is loaded here, so
that the one-time work (and its errors: a missing package, a device torch cannot see, a
folder that is not an adapter) reads in one place. Where a model comes from, and its GGUF
conversion, is ``expertly.generate.models``. Everything heavy is imported inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expertly.config.hub import offline_hub
from expertly.errors import ConfigError, MissingDependencyError, ModelNotFoundError
from expertly.generate import models


def resolve_device(device: str) -> str:
    """``auto`` → cuda if available, else mps if available, else cpu; checks explicit ones."""
    import torch

    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if device == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (device == "cuda" and not cuda) or (device == "mps" and not mps):
        raise ConfigError(f"llm.device = {device!r} but torch sees no such device; use auto or cpu")
    return device


def load_tokenizer(source: models.ModelSource, cache_dir: Path) -> Any:
    """The tokenizer alone: from the model directory, or the GGUF file before conversion."""
    offline_hub()
    import_torch()
    folder = models.ready_dir(source, cache_dir)
    if folder is None:
        return models.load_gguf_tokenizer(source.path)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


def load_model(folder: Path, device: str, adapter: Path | None) -> Any:
    """The model in ``folder`` on ``device`` (a resolved one), in eval mode: float32, or on
    CUDA bfloat16 where supported and float16 otherwise; ``adapter`` applied if given."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.float32
    if device == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True)
    if adapter is not None:
        model = with_adapter(model, adapter)
    return model.to(device).eval()


def check_adapter(adapter: str | Path) -> Path:
    """``adapter`` resolved, once it is known to be a PEFT adapter directory."""
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ModelNotFoundError(
            f"{path} is not a PEFT adapter directory (no adapter_config.json); point at a "
            "fine-tuning run's adapter/ folder (`expertly finetune models` lists them)"
        )
    return path.resolve()


def with_adapter(model: Any, adapter: Path) -> Any:
    """``model`` with the PEFT adapter applied; LoRA-type adapters are merged in."""
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise MissingDependencyError("peft", "finetune", "loading a fine-tuned adapter") from exc
    tuned: Any = PeftModel.from_pretrained(model, adapter)
    if tuned.peft_config["default"].is_prompt_learning:
        return tuned  # prefix tuning: virtual tokens, nothing to merge
    return tuned.merge_and_unload()


def import_torch() -> Any:
    """torch, once it and transformers are known to be installed (else an error naming the
    missing package)."""
    try:
        import torch
        import transformers  # noqa: F401  (checked here so the error names the package)
    except ImportError as exc:
        raise MissingDependencyError(
            exc.name or "torch", purpose="the local transformers LLM backend"
        ) from exc
    return torch
