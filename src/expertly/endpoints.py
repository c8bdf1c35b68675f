"""HTTP calls to served models (vLLM, Ollama, TEI, any OpenAI-compatible server).

The LLM and embedder backends that talk to a server share this: one request, retried with
backoff when the server says it is busy or failing, and the server's own error message
read out of whichever JSON shape it uses.

Retried: HTTP 408, 429, 500, 502, 503 and 504 — a busy queue (vLLM and TEI answer 429 or
503 when overloaded, Ollama 503 when ``OLLAMA_MAX_QUEUE`` is full), a restarting worker.
A ``Retry-After`` header (seconds or an HTTP date) is honoured: the wait is never shorter
than it asks; a server asking for longer than ``max_wait_s`` is not waited for. Otherwise
the waits are ``backoff_s``, twice that, four times that... each capped at ``max_wait_s``.

Not retried: any other status (400 bad request, 401, 404 model not found: asking again
gives the same answer), a refused connection (the server is down: saying so at once beats
waiting), and a time-out (a reply slower than the time-out would be as slow again).
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is repeated.

    Args:
        retries: attempts after the first one (0 = never retry).
        backoff_s: the first wait; each further wait doubles it.
        max_wait_s: the longest single wait; a ``Retry-After`` asking for more ends the
            retries at once (the error says how long the server asked for).
    """

    retries: int = 2
    backoff_s: float = 0.5
    max_wait_s: float = 30.0

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_s < 0 or self.max_wait_s < 0:
            raise ValueError("retries, backoff_s and max_wait_s must be >= 0")

    def wait_s(self, attempt: int, response: httpx.Response) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` after ``response`` failed on
        attempt ``attempt`` (1-based); None when it must not be retried."""
        if response.status_code not in RETRY_STATUSES or attempt > self.retries:
            return None
        backoff = min(self.backoff_s * 2 ** (attempt - 1), self.max_wait_s)
        asked = retry_after_s(response)
        if asked is None:
            return backoff
        if asked > self.max_wait_s:
            return None
        return max(asked, backoff)


@dataclass
class Outcome:
    """The last response of a request (the caller checks its status) and what it took."""

    response: httpx.Response
    attempts: int
    retry_after_s: float | None  # what the last response asked for, if anything


def send(
    client: httpx.Client,
    request: httpx.Request,
    policy: RetryPolicy,
    *,
    stream: bool = False,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Send ``request``, repeating it as ``policy`` allows while the server answers with a
    retryable status. A failed response is read in full (and closed) before the next try;
    the returned one is open when ``stream`` is true, and the caller closes it. Transport
    errors (refused connection, time-out) propagate at once, as ``httpx`` raises them.

    ``deadline`` (a ``time.monotonic()`` value) is a caller's time budget: no wait that
    would end after it is started, and the last response is returned instead."""
    attempt = 1
    while True:
        response = client.send(request, stream=stream)
        if response.is_success:
            return Outcome(response, attempt, None)
        if stream:
            try:
                response.read()
            finally:
                response.close()
        wait = policy.wait_s(attempt, response)
        if wait is None or (deadline is not None and time.monotonic() + wait >= deadline):
            return Outcome(response, attempt, retry_after_s(response))
        sleep(wait)
        attempt += 1


def retry_after_s(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (a number, or an HTTP date), if present and
    readable; never negative."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def server_message(response: httpx.Response) -> str:
    """The server's own error message, from whichever JSON shape it uses:
    ``{"error": {"message": ...}}`` (OpenAI, Ollama, later vLLM releases),
    ``{"object": "error", "message": ...}`` (earlier vLLM), ``{"message": ..., "type": ...}``
    (TEI's OpenAI route), ``{"error": "..."}`` (TEI's ``/embed``, Ollama's native API),
    ``{"detail": ...}`` (FastAPI); else the body's start."""
    text = response.text
    try:
        data: Any = json.loads(text)
    except ValueError:
        return text[:300].strip() or f"(empty body, HTTP {response.status_code})"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if isinstance(error, str) and error:
            return error[:500]
        for key in ("message", "detail"):
            if data.get(key):
                return str(data[key])[:500]
    return text[:300]


def attempts_note(outcome: Outcome, policy: RetryPolicy, setting: str) -> str:
    """How many tries the failure took, for error messages (``setting``: e.g. ``llm``)."""
    if outcome.response.status_code not in RETRY_STATUSES:
        return ""
    asked = outcome.retry_after_s
    if asked is not None and asked > policy.max_wait_s:
        return (
            f" (it asked to retry after {asked:g} s, longer than {setting}.retry_max_wait_s = "
            f"{policy.max_wait_s:g}; not waited for)"
        )
    tries = "1 attempt" if outcome.attempts == 1 else f"{outcome.attempts} attempts"
    return f" (after {tries}; {setting}.retries = {policy.retries})"
