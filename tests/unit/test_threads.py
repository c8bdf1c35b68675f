"""``expertly.config.threads``: CPU threads per operation, set in the calling thread only."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from expertly.config import EmbedderSettings, LLMSettings
from expertly.config.threads import POLICY, SMALL_BATCH, cores, threads_for, torch_threads
from expertly.errors import ConfigError

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _two_cores(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The reference machine's 2 cores, whatever this one has; the counts are restored."""
    monkeypatch.setattr("expertly.config.threads.cores", lambda: 2)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_zero_means_the_measured_default_and_a_positive_setting_wins() -> None:
    assert threads_for("query") == 1  # one query: 1 thread (benchmarks/threads.py)
    assert threads_for("batch") == 2  # a batch: every core
    assert threads_for("train") == 2
    assert threads_for("generate") == 1  # transformers' decoding
    assert threads_for("generate_onnx") == 2  # ONNX Runtime's
    assert POLICY["query"] == 1
    for operation in ("query", "batch", "generate", "generate_onnx", "train"):
        assert threads_for(operation, 3) == 3
    assert cores.__module__ == "expertly.config.threads"


def test_scope_sets_and_restores_this_threads_count_only() -> None:
    torch.set_num_threads(2)
    seen: dict[str, int] = {}
    ready, inside, done = threading.Event(), threading.Event(), threading.Event()

    def other() -> None:
        torch.ones(64, 64) @ torch.ones(64, 64)  # this thread's count is now its own
        seen["other_before"] = torch.get_num_threads()
        ready.set()
        inside.wait()
        seen["other_during"] = torch.get_num_threads()
        done.set()

    worker = threading.Thread(target=other)
    worker.start()
    ready.wait()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        inside.set()
        done.wait()
    worker.join()
    assert torch.get_num_threads() == 2
    assert seen == {"other_before": 2, "other_during": 2}  # a search never reaches a generation


def test_scope_restores_after_an_error_and_ignores_zero() -> None:
    torch.set_num_threads(2)
    with pytest.raises(RuntimeError), torch_threads(1):
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2
    with torch_threads(0):
        assert torch.get_num_threads() == 2


class _Recording:
    """A stand-in SentenceTransformer: records torch's thread count during each encode."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    device = torch.device("cpu")

    def encode(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        self.seen.append((len(texts), torch.get_num_threads()))
        return np.ones((len(texts), 8), dtype=np.float32)

    def preprocess(self, texts: Sequence[str]) -> dict[str, Any]:  # a query's direct path
        return {"input_ids": torch.zeros((len(texts), 3), dtype=torch.long)}

    def __call__(self, features: dict[str, Any]) -> dict[str, Any]:
        rows = len(features["input_ids"])
        self.seen.append((rows, torch.get_num_threads()))
        return {"sentence_embedding": torch.ones((rows, 8))}


def _embedder(tmp_path: Path, threads: int = 0) -> tuple[Any, _Recording]:
    from expertly.embed.local import SentenceTransformerEmbedder

    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"hidden_size": 8}), encoding="utf-8")
    embedder = SentenceTransformerEmbedder(str(folder), threads=threads)
    model = _Recording()
    embedder._model = model  # loaded: no real model needed
    return embedder, model


def test_a_query_is_embedded_with_one_thread_a_batch_with_every_core(tmp_path: Path) -> None:
    torch.set_num_threads(2)
    embedder, model = _embedder(tmp_path)
    embedder.embed(["one question"], kind="query")
    assert torch.get_num_threads() == 2  # restored
    embedder.embed(["a passage"] * (SMALL_BATCH + 1), kind="passage")
    assert model.seen == [(1, 1), (SMALL_BATCH + 1, 2)]


def test_a_search_embeds_its_query_with_the_policys_threads(tmp_path: Path) -> None:
    from expertly.config import RetrievalSettings
    from expertly.retrieve.hybrid import Retriever

    class NoStore:
        def search(self, query: Any, k: int) -> list[Any]:
            return []

    torch.set_num_threads(2)
    embedder, model = _embedder(tmp_path)
    Retriever(NoStore(), embedder, RetrievalSettings()).search("a question", k=5)  # type: ignore[arg-type]
    assert model.seen == [(1, 1)]
    assert torch.get_num_threads() == 2


def test_a_positive_embedder_setting_overrides_every_encoding(tmp_path: Path) -> None:
    torch.set_num_threads(2)
    embedder, model = _embedder(tmp_path, threads=3)
    embedder.embed(["one question"], kind="query")
    embedder.embed(["a passage"] * 10, kind="passage")
    assert model.seen == [(1, 3), (10, 3)]
    assert torch.get_num_threads() == 2


def test_the_registry_hands_the_setting_to_the_local_embedder() -> None:
    from expertly.embed.registry import create_embedder

    embedder = create_embedder(EmbedderSettings(threads=3))
    assert getattr(embedder, "threads", None) == 3


def test_generation_scope_follows_llm_threads() -> None:
    from expertly.generate.local import TransformersLLM

    torch.set_num_threads(2)
    llm = TransformersLLM.__new__(TransformersLLM)  # no model: only the scope is checked
    for setting, expected in ((0, threads_for("generate")), (1, 1), (3, 3)):
        llm.threads = setting
        with llm.cpu_threads():
            assert torch.get_num_threads() == expected
        assert torch.get_num_threads() == 2


def test_negative_thread_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"embedder\.threads"):
        EmbedderSettings(threads=-1)
    with pytest.raises(ConfigError, match=r"llm\.threads"):
        LLMSettings(threads=-1)


def test_blas_pools_hold_one_thread_while_any_search_is_inside() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from expertly.config.threads import blas_threads

    def blas() -> set[int]:
        return {
            p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"
        }

    before = blas()
    with blas_threads(1):
        with blas_threads(1):  # a second search beside the first
            assert blas() <= {1}
        assert blas() <= {1}  # still one search inside
    assert blas() == before
