"""Builders for unit tests: a workspace on the hashing embedder and a scripted LLM."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from expertly.config import (
    AnswerSettings,
    EmbedderSettings,
    LLMSettings,
    RetrievalSettings,
    Settings,
)
from expertly.generate.scripted import ScriptedLLM
from expertly.types import Message
from expertly.workspace import Parts, Workspace


def fake_workspace(
    root: Path,
    replies: Sequence[str] | Callable[[Sequence[Message]], str] = ("ok",),
    **sections: object,
) -> Workspace:
    """A Workspace with the hashing embedder (no model) and a scripted LLM."""
    # The hashing embedder's similarities are lower than a real model's: don't abstain on them.
    sections.setdefault("retrieval", RetrievalSettings(min_relevance=0.0))
    # Nor take an answer for off-topic on them (answer.min_similarity is calibrated for a
    # real model): a test of that check sets a value other than the default.
    answer = sections.get("answer", AnswerSettings())
    assert isinstance(answer, AnswerSettings)
    if answer.min_similarity == AnswerSettings().min_similarity:
        sections["answer"] = replace(answer, min_similarity=0.0)
    settings = Settings(
        embedder=EmbedderSettings(backend="hashing", dim=64),
        llm=LLMSettings(backend="scripted"),
        **sections,  # type: ignore[arg-type]
    )
    return Workspace(root / "ws", settings, overrides=Parts(llm=ScriptedLLM(replies)))


def write_corpus(folder: Path) -> Path:
    """Three small text documents with distinct facts."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "leave.md").write_text(
        "# Leave policy\n\n## Parental leave\n\nEmployees get 20 weeks of paid parental leave.\n\n"
        "## Vacation\n\nEveryone gets 28 days of vacation per calendar year.\n",
        encoding="utf-8",
    )
    (folder / "prices.csv").write_text(
        "sku,product,price_eur\nHX-100,Humidity sensor,149\nTX-200,Temperature logger,89\n",
        encoding="utf-8",
    )
    (folder / "security.txt").write_text(
        "Passwords must have at least 14 characters.\n\nRotate API tokens every 90 days.\n",
        encoding="utf-8",
    )
    return folder


def tiny_llama(attn: str = "sdpa") -> Any:
    """A 2-layer random-weight Llama (vocabulary 256, seed 0) in eval mode, with the
    attention implementation ``attn`` ("eager" or "sdpa"): a stand-in for the real model
    wherever only the architecture's arithmetic matters."""
    import torch
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    config._attn_implementation = attn
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config).eval()
