"""Hostile request bodies never cause a 500: every field of a valid body of each JSON
endpoint is replaced in turn by values of the wrong type, size or content, and each answer
is either a success or an error in OpenAI's shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.server.conftest import ask

Serve = Callable[..., TestClient]

HOSTILE: list[Any] = [
    None, True, -1, 0, 10**12, 1e308, "", "\x00", "x" * 5_000, "\udcff", [], [None],
    [[1, 2]], {}, {"a": {"b": []}},
]  # fmt: skip

VALID: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": ask(
        max_tokens=5,
        temperature=0,
        stop=["\n"],
        stream=False,
        stream_options={"include_usage": True},
        n=1,
    ),
    "/v1/embeddings": {"model": "expertly-embed", "input": ["a"], "encoding_format": "float"},
    "/v1/search": {"query": "leave", "k": 3, "mode": "hybrid"},
}


def check(response: Any) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]


@pytest.mark.parametrize("path", sorted(VALID))
def test_no_field_value_causes_a_500(serve: Serve, path: str) -> None:
    client = serve(rate_per_minute=0)
    valid = VALID[path]
    check(client.post(path, json=valid))
    for field in [*valid, "unexpected_field"]:
        for value in HOSTILE:
            body = {**valid, field: value}
            try:
                response = client.post(path, json=body)
            except UnicodeEncodeError:  # "\udcff" cannot even be sent as JSON text
                continue
            check(response)


def test_message_shapes(serve: Serve) -> None:
    client = serve(rate_per_minute=0)
    shapes: list[Any] = [
        [{}],
        [{"role": "user"}],
        [{"role": "user", "content": None}],
        [{"role": "wizard", "content": "hi"}],
        [{"role": "user", "content": [{"type": "text"}]}],
        [{"role": "user", "content": [{"text": 5}]}],
        [{"role": "user", "content": {"text": "hi"}}],
        "hi",
        [{"role": "user", "content": "hi"}] * 500,
    ]
    for messages in shapes:
        check(client.post("/v1/chat/completions", json={**ask(), "messages": messages}))


def test_non_json_and_wrong_methods(serve: Serve) -> None:
    client = serve(rate_per_minute=0)
    for path in VALID:
        check(client.post(path, content=b"\xff\xfe", headers={"content-type": "text/plain"}))
        check(client.post(path, content=b"[]", headers={"content-type": "application/json"}))
        check(client.get(path))
    check(client.get("/v1/nothing-here"))
    check(
        client.post(
            "/v1/uploads",
            content=b"--x\r\n",
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
    )
