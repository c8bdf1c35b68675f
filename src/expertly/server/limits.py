"""Limits that keep one model serving many clients: a token bucket per API key, and a
bounded queue in front of generation (the bottleneck) that answers 503 when full."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from expertly.server.errors import APIError
from expertly.server.observe import Metrics
from expertly.server.state import SharedState

T = TypeVar("T")


class RateLimiter:
    """A token bucket per caller: ``burst`` requests at once, then ``per_minute``.

    ``check(who)`` takes one token or raises a 429 whose ``Retry-After`` is the whole
    seconds until the next token. ``per_minute = 0`` lets everything through. The buckets
    live in this process (``SharedRateLimiter`` keeps them where several processes see them).
    """

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # who -> (tokens, last time)
        self._lock = threading.Lock()

    def check(self, who: str) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = self.clock()
            tokens, wait = self._take(self._buckets.get(who), now)
            self._buckets[who] = (tokens, now)
        if wait:
            raise _limited(wait)

    def _take(self, bucket: tuple[float, float] | None, now: float) -> tuple[float, float]:
        """(tokens left, seconds to wait: 0 when a token was taken) for a bucket that held
        (tokens, last refill time), refilled up to ``now``."""
        tokens, last = bucket or (self.burst, now)
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        if tokens >= 1.0:
            return tokens - 1.0, 0.0
        return tokens, (1.0 - tokens) / self.rate


class SharedRateLimiter(RateLimiter):
    """The same buckets kept in ``server.sqlite``, for several worker processes on one
    port: a key gets one limit whichever worker answers, not one per worker.

    Each check is one short write transaction (measured in docs/server.md); the clock is
    wall time, which every process shares.
    """

    def __init__(
        self,
        state: SharedState,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(per_minute, burst, clock)
        self.state = state

    def check(self, who: str) -> None:
        if self.rate <= 0:
            return
        with self.state.transaction() as conn:
            now = self.clock()
            row = conn.execute("SELECT tokens, last FROM buckets WHERE who = ?", (who,)).fetchone()
            tokens, wait = self._take(None if row is None else (row[0], row[1]), now)
            conn.execute(
                "INSERT OR REPLACE INTO buckets(who, tokens, last) VALUES (?, ?, ?)",
                (who, tokens, now),
            )
        if wait:
            raise _limited(wait)


def _limited(wait: float) -> APIError:
    return APIError(
        429,
        f"Rate limit reached for this API key: retry in {math.ceil(wait)} s (the server "
        "allows a burst, then a steady number of requests per minute).",
        code="rate_limit_exceeded",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


class GenerationQueue:
    """At most ``concurrency`` generations at once and ``max_waiting`` waiting; a request
    beyond that gets 503 with ``Retry-After`` at once instead of piling up."""

    def __init__(self, concurrency: int, max_waiting: int, retry_after_s: int, metrics: Metrics):
        self.slots = asyncio.Semaphore(concurrency)
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self.metrics = metrics
        self.waiting = 0

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` when a slot is free (it should hand blocking calls to a thread)."""
        await self.enter()
        try:
            return await work()
        finally:
            self.leave()

    async def enter(self) -> None:
        """Take a slot, waiting in line for one; 503 at once when the line is full. The
        caller must ``leave`` once its generation has ended (a stream: its last piece)."""
        if self.slots.locked() and self.waiting >= self.max_waiting:
            self.metrics.rejected.labels("queue_full").inc()
            raise APIError(
                503,
                f"The server is busy ({self.waiting} requests wait for the model): retry "
                f"in {self.retry_after_s} s.",
                code="queue_full",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        self.waiting += 1
        self.metrics.waiting.inc()
        try:
            await self.slots.acquire()
        finally:
            self.waiting -= 1
            self.metrics.waiting.dec()
        self.metrics.running.inc()

    def leave(self) -> None:
        """Give back the slot ``enter`` took (on the event loop's thread)."""
        self.metrics.running.dec()
        self.slots.release()
