"""Limits: body size (413), rate limit per key (429), the generation queue (503), readiness
and metrics — each answered in OpenAI's error shape with Retry-After where it applies."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from fastapi.testclient import TestClient

from expertly.server.app import create_app
from expertly.server.errors import APIError
from expertly.server.limits import RateLimiter
from expertly.types import Message
from tests.unit.helpers import fake_workspace
from tests.unit.server.conftest import ask

Serve = Callable[..., TestClient]


def test_body_over_the_limit_is_413(serve: Serve) -> None:
    client = serve(max_body_bytes=2_000)
    response = client.post("/v1/chat/completions", json=ask("x " * 2_000))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert client.post("/v1/chat/completions", json=ask()).status_code == 200


def test_body_without_content_length_is_counted_while_read(serve: Serve) -> None:
    client = serve(max_body_bytes=2_000)

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "expertly-rag", "messages": [{"role": "user", "content": "'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}]}'

    response = client.post(
        "/v1/chat/completions", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_rate_limit_is_429_with_retry_after(serve: Serve) -> None:
    client = serve(rate_per_minute=1, burst=2)
    assert [client.get("/v1/models").status_code for _ in range(2)] == [200, 200]
    refused = client.get("/v1/models")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert client.get("/healthz").status_code == 200  # probes are not rate limited
    assert 'expertly_rejected_total{reason="rate_limited"} 1.0' in client.get("/metrics").text


def test_token_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=1, clock=lambda: now[0])
    limiter.check("k")
    try:
        limiter.check("k")
        raise AssertionError("second request within a second must be refused")
    except APIError as exc:
        assert exc.status == 429 and exc.headers["Retry-After"] == "1"
    limiter.check("other")  # buckets are per caller
    now[0] = 1.0
    limiter.check("k")


def test_full_queue_answers_503_and_search_does_not_wait(serve: Serve, tmp_path: Path) -> None:
    release, entered = threading.Event(), threading.Event()

    def slow(messages: Sequence[Message]) -> str:
        entered.set()
        assert release.wait(20), "the test never released the model"
        return "Employees get 20 weeks [1]."

    client = serve(slow, concurrency=1, max_waiting=0)
    results: list[int] = []
    first = threading.Thread(
        target=lambda: results.append(
            client.post("/v1/chat/completions", json=ask(temperature=0.5)).status_code
        )
    )
    first.start()
    try:
        assert entered.wait(20)
        busy = client.post("/v1/chat/completions", json=ask(temperature=0.5))
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "2"
        assert busy.json()["error"]["code"] == "queue_full"
        # generation holds the only slot; search, models and probes still answer
        assert client.post("/v1/search", json={"query": "leave"}).status_code == 200
        assert client.get("/v1/models").status_code == 200
        metrics = client.get("/metrics").text
        assert "expertly_queue_running 1.0" in metrics
    finally:
        release.set()
        first.join(20)
    assert results == [200]


def test_not_ready_before_the_models_load(tmp_path: Path) -> None:
    app = create_app(fake_workspace(tmp_path))
    client = TestClient(app)  # no lifespan: the models never load
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    refused = client.post("/v1/chat/completions", json=ask())
    assert refused.status_code == 503 and refused.headers["retry-after"]
    assert refused.json()["error"]["code"] == "not_ready"


def test_metrics_count_requests_tokens_and_latency(serve: Serve) -> None:
    client = serve()
    client.post("/v1/chat/completions", json=ask())
    text = client.get("/metrics").text
    route = 'route="/v1/chat/completions"'
    assert f'expertly_requests_total{{method="POST",{route},status="200"}} 1.0' in text
    assert f"expertly_request_seconds_count{{{route}}} 1.0" in text
    assert 'expertly_tokens_total{kind="completion",route="rag"}' in text
    assert "expertly_queue_waiting 0.0" in text


def test_cors_is_off_unless_origins_are_given(serve: Serve) -> None:
    origin = {"Origin": "https://chat.example.org"}
    closed = serve().get("/v1/models", headers=origin)
    assert "access-control-allow-origin" not in closed.headers
    opened = serve(cors_origins=("https://chat.example.org",))
    preflight = opened.options(
        "/v1/chat/completions",
        headers={**origin, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"},
    )  # fmt: skip
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://chat.example.org"
    other = opened.get("/v1/models", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in other.headers
