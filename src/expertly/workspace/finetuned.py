"""How a Workspace opens a fine-tuned model: loaded locally, or served by an endpoint.

``Workspace.finetuned_llm`` keeps the models it opened by name; what it takes to open one
lives here. A local run (``llm.backend = 'transformers'`` or another local backend) is
found among the workspace's runs and exports and loaded with the workspace's device and
thread settings; on an OpenAI-compatible endpoint (``llm.backend = 'openai'``) the name is
the model id the endpoint serves it under, sent as each request's ``model``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from expertly.config import LLMSettings

if TYPE_CHECKING:
    from expertly.generate import LLM


def check_finetuned(llm: LLMSettings, name: str | None) -> None:
    """``ConfigError`` where the fine-tuned model ``name`` cannot run with the ``llm``
    settings: a backend that loads no adapters, or an endpoint without a model id."""
    from expertly.errors import ConfigError
    from expertly.generate.registry import LOCAL_BACKENDS

    if llm.backend == "openai":
        if not name:
            raise ConfigError(
                "The finetuned and hybrid routes on an endpoint (llm.backend = 'openai') need "
                "the model id it serves the fine-tuned model under: pass --model NAME or set "
                "router.model (EXPERTLY_ROUTER__MODEL), e.g. the NAME of vLLM's "
                "--lora-modules NAME=runs/RUN/adapter."
            )
        return
    if llm.backend not in LOCAL_BACKENDS:
        raise ConfigError(
            f"Fine-tuned models run locally (llm.backend = 'transformers') or on an "
            f"OpenAI-compatible endpoint (llm.backend = 'openai'), not with {llm.backend!r}."
        )


def open_finetuned(root: Path, llm: LLMSettings, name: str | None, *, models_dir: Path) -> LLM:
    """The fine-tuned model ``name`` (None: the newest run of ``root``), as
    ``check_finetuned`` allowed it: the endpoint's model ``name`` (a LoRA adapter vLLM
    serves, a merged export...), or the run loaded locally."""
    if llm.backend == "openai":
        from expertly.generate.registry import create_llm

        assert name, "check_finetuned refuses an endpoint without a model id"
        return create_llm(replace(llm, model=name), cache_dir=models_dir)
    from expertly.finetune.registry import resolve_model
    from expertly.generate.local import TransformersLLM

    return TransformersLLM.from_ref(
        resolve_model(root, name),
        cache_dir=models_dir,
        device=llm.device,
        threads=llm.threads,
        context_window=llm.context_window,
    )
