"""The served embedders against vLLM's, Ollama's and TEI's reply shapes.

``openai`` (``/v1/embeddings``) is tested on all three servers; ``tei`` (TEI's native
``/embed``) on TEI. Each embedder is built from settings (``create_embedder``) and talks to
a ``FakeServer`` on a real local socket.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from expertly.config import EmbedderSettings
from expertly.embed.registry import create_embedder
from expertly.embed.remote import OpenAICompatEmbedder, TEIEmbedder
from expertly.errors import ExpertlyTimeout, LLMError, LLMTimeoutError
from tests.unit.served.fake_server import FLAVOURS, FakeServer, Reply, closed_port_url, shapes

TEXTS = ["paid parental leave", "sick leave policy"]
OPENAI_PATH = "/v1/embeddings"


def served_embedder(url: str, backend: str = "openai", **settings: Any) -> OpenAICompatEmbedder:
    """The embedder as ``embedder.backend = backend`` builds it (fast retries unless asked)."""
    settings.setdefault("retry_backoff_s", 0.01)
    settings.setdefault("dim", 8)
    base = f"{url}/v1" if backend == "openai" else url
    embedder = create_embedder(
        EmbedderSettings(backend=backend, model="m", base_url=base, cache=False, **settings)
    )
    assert isinstance(embedder, OpenAICompatEmbedder)
    return embedder


def route_errors(flavour: str) -> dict[str, Any]:
    """The error replies of the flavour's ``/v1/embeddings`` route (TEI's differ from its
    native ``/embed``'s)."""
    shape = shapes(flavour)
    errors: dict[str, Any] = shape.get("openai_errors", shape["errors"])
    return errors


def expected(flavour: str) -> np.ndarray:
    """The flavour's recorded vectors, normalised."""
    raw = np.asarray([d["embedding"] for d in shapes(flavour)["embeddings"]["data"]], np.float32)
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def embedder(fake_server: FakeServer) -> Iterator[OpenAICompatEmbedder]:
    built = served_embedder(fake_server.url)
    yield built
    built.close()


def test_float_vectors_are_read_in_order_and_normalised(
    fake_server: FakeServer, flavour: str, embedder: OpenAICompatEmbedder
) -> None:
    reply = shapes(flavour)["embeddings"]
    reply["data"].reverse()  # the index, not the order, says which text a vector is for
    fake_server.queue(OPENAI_PATH, Reply(body=reply))
    vectors = embedder.embed(TEXTS, kind="passage")
    assert vectors.dtype == np.float32 and vectors.shape == (2, 8)
    np.testing.assert_allclose(vectors, expected(flavour), rtol=1e-6)
    assert fake_server.received[0].body == {"model": "m", "input": TEXTS}


def test_base64_vectors_are_asked_for_and_decoded(fake_server: FakeServer, flavour: str) -> None:
    """vLLM and TEI answer base64 when asked; Ollama's recorded reply is float lists even
    then, which is read as well."""
    embedder = served_embedder(fake_server.url, encoding_format="base64")
    shape = shapes(flavour)
    reply = shape.get("embeddings_base64", shape["embeddings"])
    assert isinstance(reply["data"][0]["embedding"], str) == (flavour != "ollama")
    fake_server.queue(OPENAI_PATH, Reply(body=reply))
    vectors = embedder.embed(TEXTS, kind="query")
    np.testing.assert_allclose(vectors, expected(flavour), rtol=1e-6)
    body = fake_server.received[0].body
    assert (body["encoding_format"], body["input"]) == ("base64", TEXTS)


def test_prefixes_and_batches_reach_the_server(fake_server: FakeServer) -> None:
    embedder = served_embedder(fake_server.url, batch_size=1, query_prefix="query: ")
    one = shapes("vllm")["embeddings"]
    one["data"] = one["data"][:1]
    fake_server.queue(OPENAI_PATH, Reply(body=one), Reply(body=one))
    vectors = embedder.embed(TEXTS, kind="query")
    assert [r.body["input"] for r in fake_server.received] == [
        ["query: paid parental leave"],
        ["query: sick leave policy"],
    ]
    np.testing.assert_allclose(vectors[1], vectors[0])


def test_tei_native_embed_route(fake_server: FakeServer) -> None:
    embedder = served_embedder(fake_server.url, backend="tei")
    assert isinstance(embedder, TEIEmbedder)
    fake_server.queue("/embed", Reply(body=shapes("tei")["embed"]))
    vectors = embedder.embed(TEXTS, kind="passage")
    np.testing.assert_allclose(vectors, expected("tei"), rtol=1e-6)
    assert fake_server.received[0].body == {"inputs": TEXTS, "normalize": True, "truncate": True}


def test_tei_batch_over_its_limit_says_to_lower_the_batch_size(fake_server: FakeServer) -> None:
    embedder = served_embedder(fake_server.url, backend="tei")
    fake_server.queue("/embed", Reply.error(shapes("tei")["errors"]["batch_too_large"]))
    with pytest.raises(
        LLMError, match=r"HTTP 413: 'batch size 64 > maximum allowed batch size 32'"
    ):
        embedder.embed(TEXTS, kind="passage")
    assert len(fake_server.received) == 1


@pytest.mark.parametrize(("backend", "path"), [("openai", OPENAI_PATH), ("tei", "/embed")])
def test_an_overloaded_tei_is_retried(fake_server: FakeServer, backend: str, path: str) -> None:
    embedder = served_embedder(fake_server.url, backend=backend)
    tei = shapes("tei")
    ok = tei["embeddings"] if backend == "openai" else tei["embed"]
    errors = tei["openai_errors"] if backend == "openai" else tei["errors"]
    fake_server.queue(path, Reply.error(errors["overloaded"]), Reply(body=ok))
    np.testing.assert_allclose(embedder.embed(TEXTS, kind="query"), expected("tei"), rtol=1e-6)
    assert len(fake_server.received) == 2


def test_a_503_then_vectors_succeeds(fake_server: FakeServer, flavour: str) -> None:
    embedder = served_embedder(fake_server.url)
    ok = shapes(flavour)["embeddings"]
    fake_server.queue(
        OPENAI_PATH, Reply.error(route_errors(flavour)["unavailable"]), Reply(body=ok)
    )
    np.testing.assert_allclose(embedder.embed(TEXTS, kind="query"), expected(flavour), rtol=1e-6)


def test_a_persistent_500_fails_after_the_retries(fake_server: FakeServer, flavour: str) -> None:
    embedder = served_embedder(fake_server.url, retries=2)
    error = route_errors(flavour)["server_error"]
    fake_server.queue(OPENAI_PATH, *[Reply.error(error) for _ in range(3)])
    with pytest.raises(LLMError, match=r"HTTP 500 \(after 3 attempts; embedder.retries = 2\)"):
        embedder.embed(TEXTS, kind="query")
    assert len(fake_server.received) == 3


@pytest.mark.parametrize(
    ("flavour_", "error", "expected"),
    [
        (
            "vllm",
            "model_not_found",
            r"HTTP 404: 'The model `myrun2` does not exist.*embedder.model",
        ),
        ("ollama", "model_not_found", r"HTTP 404: 'model \"llama9\" not found"),
        ("tei", "validation", r"HTTP 422: 'Input validation error: `inputs` cannot be empty'"),
    ],
)
def test_client_errors_quote_the_server_and_are_not_retried(
    fake_server: FakeServer, flavour_: str, error: str, expected: str
) -> None:
    embedder = served_embedder(fake_server.url)
    fake_server.queue(OPENAI_PATH, Reply.error(route_errors(flavour_)[error]))
    with pytest.raises(LLMError, match=expected):
        embedder.embed(TEXTS, kind="query")
    assert len(fake_server.received) == 1


def test_a_server_that_is_down_gives_an_error_naming_the_url() -> None:
    embedder = served_embedder(closed_port_url())
    with pytest.raises(LLMError, match=r"Cannot connect to the embedding endpoint http://127\.0"):
        embedder.embed(TEXTS, kind="query")


def test_a_slow_server_is_a_clear_timeout_error(fake_server: FakeServer) -> None:
    embedder = served_embedder(fake_server.url, timeout_s=0.3)
    fake_server.queue(OPENAI_PATH, Reply(body=shapes("tei")["embeddings"], delay_s=1.5))
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError, match=r"did not answer within 0\.3 s.*embedder\.timeout_s"):
        embedder.embed(TEXTS, kind="query")
    assert time.monotonic() - started < 1.2
    assert issubclass(LLMTimeoutError, ExpertlyTimeout)


@pytest.mark.parametrize(
    "data",
    [
        [{"index": 0, "embedding": [0.1] * 8}],  # one vector for two texts
        [{"index": 0, "embedding": "not base64!"}, {"index": 1, "embedding": [0.1] * 8}],
        [{"index": 0, "embedding": {"x": 1}}, {"index": 1, "embedding": [0.1] * 8}],
    ],
)
def test_malformed_replies_are_reported(fake_server: FakeServer, data: list[Any]) -> None:
    embedder = served_embedder(fake_server.url)
    fake_server.queue(OPENAI_PATH, Reply(body={"object": "list", "data": data}))
    with pytest.raises(LLMError, match=r"sent a malformed reply"):
        embedder.embed(TEXTS, kind="query")


def test_a_wrong_dimension_names_the_setting(fake_server: FakeServer) -> None:
    embedder = served_embedder(fake_server.url, dim=384)
    fake_server.queue(OPENAI_PATH, Reply(body=shapes("tei")["embeddings"]))
    with pytest.raises(
        LLMError, match=r"8-d vectors but embedder.dim = 384: set embedder.dim to 8"
    ):
        embedder.embed(TEXTS, kind="query")


def test_a_tei_backend_failure_quotes_the_server_and_is_not_retried(
    fake_server: FakeServer,
) -> None:
    embedder = served_embedder(fake_server.url, backend="tei")
    fake_server.queue("/embed", Reply.error(shapes("tei")["errors"]["backend"]))
    with pytest.raises(LLMError, match=r"/embed answered HTTP 424: 'Backend error: CUDA out of"):
        embedder.embed(TEXTS, kind="passage")
    assert len(fake_server.received) == 1
