"""Retry policy, Retry-After and server error messages (``expertly.endpoints``), and the
settings that configure them."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from expertly.config import EmbedderSettings, LLMSettings
from expertly.endpoints import RetryPolicy, retry_after_s, send, server_message
from expertly.errors import ConfigError


def _response(status: int, headers: dict[str, str] | None = None, text: str = "") -> httpx.Response:
    return httpx.Response(status, headers=headers, text=text)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("", None), ("soon", None), ("nan", None)],
)
def test_retry_after_reads_seconds(header: str, expected: float | None) -> None:
    headers = {"Retry-After": header} if header else {}
    assert retry_after_s(_response(429, headers)) == expected


def test_retry_after_reads_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    seconds = retry_after_s(_response(503, {"Retry-After": when}))
    assert seconds is not None and 8.0 <= seconds <= 10.0
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert retry_after_s(_response(503, {"Retry-After": past})) == 0.0


def test_the_policy_backs_off_doubling_and_honours_retry_after() -> None:
    policy = RetryPolicy(retries=3, backoff_s=0.5, max_wait_s=1.5)
    busy = _response(503)
    assert [policy.wait_s(n, busy) for n in (1, 2, 3, 4)] == [0.5, 1.0, 1.5, None]
    assert policy.wait_s(1, _response(429, {"Retry-After": "1.2"})) == 1.2
    assert policy.wait_s(3, _response(429, {"Retry-After": "0"})) == 1.5  # never below backoff
    assert policy.wait_s(1, _response(429, {"Retry-After": "2"})) is None  # longer than max
    for status in (400, 401, 404, 422):
        assert policy.wait_s(1, _response(status)) is None


def test_send_repeats_until_success_and_counts_attempts() -> None:
    statuses = iter([503, 502, 200])
    waits: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(next(statuses))))
    outcome = send(
        client, client.build_request("POST", "http://x/"), RetryPolicy(2, 0.1), sleep=waits.append
    )
    assert (outcome.response.status_code, outcome.attempts, waits) == (200, 3, [0.1, 0.2])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error": {"message": "model not found", "type": "x"}}', "model not found"),
        ('{"object": "error", "message": "old vllm", "code": 404}', "old vllm"),
        ('{"error": "Model is overloaded", "error_type": "Overloaded"}', "Model is overloaded"),
        ('{"detail": "Not Found"}', "Not Found"),
        ("<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        ("", "(empty body, HTTP 500)"),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_server_message_reads_each_servers_error_shape(body: str, expected: str) -> None:
    assert server_message(_response(500, text=body)) == expected


@pytest.mark.parametrize(
    ("section", "changes", "message"),
    [
        (LLMSettings, {"retries": -1}, "llm.retries must be between 0 and 10"),
        (LLMSettings, {"retry_backoff_s": -0.1}, "llm.retry_backoff_s must be >= 0"),
        (LLMSettings, {"retry_max_wait_s": -1.0}, "llm.retry_max_wait_s must be >= 0"),
        (LLMSettings, {"timeout_s": 0.0}, "llm.timeout_s must be > 0"),
        (EmbedderSettings, {"retries": 11}, "embedder.retries must be between 0 and 10"),
        (EmbedderSettings, {"timeout_s": -1.0}, "embedder.timeout_s must be > 0"),
        (EmbedderSettings, {"encoding_format": "int8"}, "embedder.encoding_format = 'int8'"),
    ],
)
def test_retry_and_timeout_settings_are_validated(
    section: type, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        section(**changes)
