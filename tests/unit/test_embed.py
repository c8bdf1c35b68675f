from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from expertly.config import EmbedderSettings
from expertly.embed import Embedder
from expertly.embed.cache import CachedEmbedder, EmbeddingCache
from expertly.embed.hashing import HashingEmbedder
from expertly.embed.registry import create_embedder, register_embedder
from expertly.embed.remote import OpenAICompatEmbedder
from expertly.errors import ConfigError, LLMError


def test_hashing_embedder_is_deterministic_normalised_and_topical() -> None:
    emb = HashingEmbedder(64)
    a, b, c = emb.embed(
        ["parental leave policy", "parental leave policy", "sensor price"], kind="passage"
    )
    assert np.allclose(a, b)
    assert np.isclose(np.linalg.norm(a), 1.0)
    q = emb.embed(["leave policy"], kind="query")[0]
    assert q @ a > q @ c
    assert isinstance(emb, Embedder)


def test_cache_embeds_each_text_once(tmp_path: Path) -> None:
    cached = CachedEmbedder(HashingEmbedder(32), EmbeddingCache(tmp_path / "cache.sqlite"))
    first = cached.embed(["a b", "c d", "a b"], kind="passage")
    assert cached.misses == 2  # duplicates within a batch are embedded once
    again = cached.embed(["c d", "a b", "e f"], kind="passage")
    assert cached.misses == 3
    assert np.allclose(again[0], first[1]) and np.allclose(again[1], first[0])
    reopened = CachedEmbedder(HashingEmbedder(32), EmbeddingCache(tmp_path / "cache.sqlite"))
    reopened.embed(["a b", "c d", "e f"], kind="passage")
    assert reopened.misses == 0


def test_registry_names_valid_backends_and_accepts_plugins() -> None:
    with pytest.raises(ConfigError, match="sentence-transformers"):
        create_embedder(EmbedderSettings(backend="nope"))
    register_embedder("tiny", lambda s: HashingEmbedder(8))
    assert create_embedder(EmbedderSettings(backend="tiny")).dim == 8
    with pytest.raises(ConfigError, match=r"embedder\.base_url"):
        create_embedder(EmbedderSettings(backend="openai"))


def _endpoint(status: int = 200, dim: int = 3) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/embeddings")
        texts = json.loads(request.content)["input"]
        if status != 200:
            return httpx.Response(status, text="denied")
        data = [
            {"index": i, "embedding": [float(len(t)), 1.0, 0.0][:dim] + [0.0] * (dim - 3)}
            for i, t in reversed(list(enumerate(texts)))
        ]
        return httpx.Response(200, json={"data": data})

    return httpx.MockTransport(handler)


def test_openai_compatible_embedder_orders_and_normalises() -> None:
    emb = OpenAICompatEmbedder(
        "m", base_url="http://x/v1", dim=3, transport=_endpoint(), batch_size=2
    )
    out = emb.embed(["a", "bbb", "cc"], kind="passage")
    assert out.shape == (3, 3)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    assert out[1][0] > out[2][0] > out[0][0]


def test_openai_compatible_embedder_errors_say_what_to_check() -> None:
    with pytest.raises(LLMError, match="401"):
        OpenAICompatEmbedder("m", base_url="http://x/v1", dim=3, transport=_endpoint(401)).embed(
            ["a"], kind="query"
        )
    with pytest.raises(LLMError, match=r"embedder\.dim"):
        OpenAICompatEmbedder("m", base_url="http://x/v1", dim=5, transport=_endpoint(dim=3)).embed(
            ["a"], kind="query"
        )


def test_a_retrained_model_in_the_same_folder_gets_a_new_name(tmp_path: Path) -> None:
    from expertly.embed.local import weights_id

    folder = tmp_path / "my-embedder"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\x00" * 3_000_000)
    before = weights_id(folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 2_999_999 + b"\x01")
    assert weights_id(folder) != before
    assert weights_id(folder) == weights_id(folder)


def test_a_repeated_query_is_embedded_once(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    class Counting(HashingEmbedder):
        def embed(self, texts, *, kind):
            calls.append(list(texts))
            return super().embed(texts, kind=kind)

    cached = CachedEmbedder(Counting(dim=16), EmbeddingCache(tmp_path / "c.sqlite"), 2)
    first = cached.embed(["a question"], kind="query")
    again = cached.embed(["a question", "another"], kind="query")
    assert calls == [["a question"], ["another"]]
    assert np.array_equal(first[0], again[0])
    cached.embed(["third"], kind="query")  # evicts the least recent ("a question")
    cached.embed(["a question"], kind="query")
    assert calls[-1] == ["a question"]
