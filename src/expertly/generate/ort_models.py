"""The onnx backend's model copy: its packages, where the copy lives and its one-time build.

The model is converted once per workspace (or shared ``llm.cache_dir``) with onnxruntime-genai's
own model builder, from the transformers directory (the GGUF conversion of
``expertly.generate.models`` first, when the source is a GGUF file), into
``<cache_dir>/onnx/<source>-<precision>/``, atomically like that conversion. Kept apart from
``expertly.generate.ort``, which generates with the copy, as ``expertly.generate.models`` is
from the transformers backend.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from expertly.errors import LLMError, MissingDependencyError
from expertly.generate import models

PRECISIONS = ("fp32", "int8", "int4")
PACKAGES = ("onnxruntime_genai", "onnx", "onnx_ir")  # the runtime, and what its builder needs


def available() -> bool:
    """Whether the runtime and its model builder are installed (``pip install expertly[fast]``)."""
    return all(importlib.util.find_spec(p) is not None for p in PACKAGES)


def need_packages() -> None:
    """Raises ``MissingDependencyError`` naming the ``fast`` extra when a package is missing."""
    for package in PACKAGES:
        if importlib.util.find_spec(package) is None:
            raise MissingDependencyError(
                package.replace("_", "-"), "fast", "the onnx LLM backend (llm.backend = 'onnx')"
            )


def onnx_dir(source: models.ModelSource, cache_dir: Path, precision: str) -> Path:
    """Where the ONNX copy of ``source`` at ``precision`` lives (whether or not it exists).

    Keyed by the source's fingerprint: a GGUF file's conversion slug, or for a model
    directory its path and its weight files' sizes and modification times (a re-export
    into the same folder makes a new copy).
    """
    if source.kind == "gguf":
        slug = models.cache_slug(source)
    else:
        digest = hashlib.sha256(str(source.path).encode())
        for weights in [*sorted(source.path.glob("*.safetensors")), source.path / "config.json"]:
            stat = weights.stat()
            digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        slug = f"{source.name}-{digest.hexdigest()[:12]}"
    return cache_dir / "onnx" / f"{slug}-{precision}"


def convert_onnx(source: models.ModelSource, cache_dir: Path, precision: str) -> Path:
    """Build the ONNX copy of ``source`` once (~20–40 s for SmolLM2-135M); return its dir.

    A GGUF source goes through its transformers conversion first (cached too). Atomic as
    ``models.build_once`` is: an interrupted build leaves nothing that a later run trusts.
    """
    need_packages()
    hf = models.hf_dir(source, cache_dir)
    refuse_adapter(hf)

    def write(tmp: Path) -> None:
        # The builder runs in a child process: it needs ~2 GB for a 135M model, prints
        # progress, and its Python API expects its own CLI's option parsing first.
        work = tmp / ".build-cache"  # the builder's scratch space, removed before the rename
        command = [
            sys.executable, "-m", "onnxruntime_genai.models.builder",
            "-i", str(hf), "-o", str(tmp), "-p", precision, "-e", "cpu", "-c", str(work),
            "--extra_options", "hf_token=false",
        ]  # fmt: skip
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        shutil.rmtree(work, ignore_errors=True)
        if done.returncode != 0 or not (tmp / "genai_config.json").is_file():
            tail = (done.stderr or done.stdout).strip()[-1500:]
            raise LLMError(f"onnxruntime-genai's model builder failed on {hf}:\n{tail}")

    target = onnx_dir(source, cache_dir, precision)
    marker = {"source": str(source.path), "from": str(hf), "precision": precision}
    return models.build_once(target, write, marker)


def refuse_adapter(folder: Path | None) -> None:
    """A PEFT adapter cannot be converted on its own: it needs its base merged in."""
    if folder is not None and (folder / "adapter_config.json").is_file():
        raise LLMError(
            f"{folder} is a PEFT adapter: the onnx backend cannot apply adapters. Merge it "
            "into its base (`expertly finetune export RUN --merge`) and point llm.model at "
            "the export, or use llm.backend = 'transformers'."
        )
