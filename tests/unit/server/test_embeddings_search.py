"""POST /v1/embeddings (float and base64, token ids refused by name) and POST /v1/search."""

from __future__ import annotations

import base64
from collections.abc import Callable

import numpy as np
from fastapi.testclient import TestClient

Serve = Callable[..., TestClient]


def embed(client: TestClient, **fields: object) -> dict:
    response = client.post("/v1/embeddings", json={"model": "expertly-embed", **fields})
    assert response.status_code == 200, response.text
    return response.json()


def test_float_and_base64_are_the_same_vectors(serve: Serve) -> None:
    client = serve()
    floats = embed(client, input=["parental leave", "API tokens"])
    packed = embed(client, input=["parental leave", "API tokens"], encoding_format="base64")
    assert [d["index"] for d in floats["data"]] == [0, 1]
    for f, b in zip(floats["data"], packed["data"], strict=True):
        decoded = np.frombuffer(base64.b64decode(b["embedding"]), dtype="<f4")
        assert decoded.shape == (64,)
        np.testing.assert_allclose(decoded, np.array(f["embedding"], dtype=np.float32))
    expected = client.app.state.service.workspace.embedder.embed(  # type: ignore[attr-defined]
        ["parental leave"], kind="passage"
    )[0]
    np.testing.assert_allclose(np.array(floats["data"][0]["embedding"]), expected, rtol=1e-6)
    assert floats["usage"]["prompt_tokens"] > 0
    assert floats["usage"]["total_tokens"] == floats["usage"]["prompt_tokens"]


def test_a_single_string_is_one_vector(serve: Serve) -> None:
    assert len(embed(serve(), input="parental leave")["data"]) == 1


def test_token_ids_and_bad_inputs_are_refused(serve: Serve) -> None:
    client = serve()
    for value, param in (([[101, 2054]], "input"), ([101, 2054], "input"), ([], "input"),
                         ([""], "input")):  # fmt: skip
        response = client.post("/v1/embeddings", json={"model": "expertly-embed", "input": value})
        assert response.status_code == 400, value
        assert response.json()["error"]["param"] == param
    tokens = client.post("/v1/embeddings", json={"model": "expertly-embed", "input": [[1, 2]]})
    assert "check_embedding_ctx_length" in tokens.json()["error"]["message"]
    wrong = client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"})
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "model_not_found"
    dims = client.post(
        "/v1/embeddings", json={"model": "expertly-embed", "input": "x", "dimensions": 8}
    )
    assert dims.status_code == 400 and dims.json()["error"]["param"] == "dimensions"


def test_search_ranks_hits(serve: Serve) -> None:
    client = serve()
    body = client.post("/v1/search", json={"query": "parental leave weeks", "k": 2}).json()
    assert body["mode"] == "hybrid" and len(body["data"]) == 2
    assert body["data"][0]["doc_id"] == "leave.md" and body["data"][0]["rank"] == 1
    sparse = client.post("/v1/search", json={"query": "API tokens", "mode": "sparse"}).json()
    assert sparse["mode"] == "sparse" and sparse["data"][0]["doc_id"] == "security.txt"
    bad = client.post("/v1/search", json={"query": "x", "mode": "fuzzy"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "mode"
    unknown = client.post("/v1/search", json={"query": "x", "k": 2, "colour": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "colour"
