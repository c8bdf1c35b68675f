"""How one ``expertly serve`` process behaves: limits, queue, rate limits, CORS, and how
many worker processes serve the port beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ServerSettings:
    """Limits of one server process.

    Args:
        max_body_bytes: largest request body accepted; larger ones get 413.
        max_upload_bytes: largest upload (``POST /v1/uploads``, all files together).
        concurrency: generations run at once (one local model answers one at a time best).
        max_waiting: generation requests allowed to wait for a slot; more get 503 with
            ``Retry-After``.
        retry_after_s: the ``Retry-After`` seconds sent with 503 (queue full).
        rate_per_minute: requests each API key (or the anonymous user) may make per minute,
            refilled continuously; 0 turns rate limiting off.
        burst: requests a key may make at once before the rate applies.
        cors_origins: origins allowed by CORS; empty (the default) sends no CORS headers.
        warmup: load and warm up the models at start (``/readyz`` turns 200 only then).
        report: the compare report ``GET /v1/reports/latest`` serves: a ``report.html``
            or the folder holding one (``expertly compare --out``); ``None`` (the default)
            serves the newest ``report.html`` in the workspace or one folder below it.
        workers: processes serving the same port (``expertly serve --workers``); above 1
            the rate-limit buckets are kept in the workspace's ``server.sqlite`` so that a
            key has one limit, not one per process. Queue and concurrency stay per process.
        max_batch: most chat requests answered by one batched generation; 0 (the default)
            takes the size measured fastest per route (8 closed-book; rag and hybrid 8 on
            a GPU, 1 on a CPU), 1 turns batching off.
        batch_window_ms: how long a request that finds the model free waits for others
            to batch with (only where batching is on).
    """

    max_body_bytes: int = 1_000_000
    max_upload_bytes: int = 50_000_000
    concurrency: int = 1
    max_waiting: int = 32
    retry_after_s: int = 2
    rate_per_minute: float = 120.0
    burst: int = 20
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    warmup: bool = True
    report: Path | None = None
    workers: int = 1
    max_batch: int = 0
    batch_window_ms: float = 10.0

    def __post_init__(self) -> None:
        bad = [
            name
            for name, value in (
                ("max_body_bytes", self.max_body_bytes),
                ("max_upload_bytes", self.max_upload_bytes),
                ("concurrency", self.concurrency),
                ("burst", self.burst),
                ("retry_after_s", self.retry_after_s),
                ("workers", self.workers),
            )
            if value < 1
        ]
        negative = ("max_waiting", "rate_per_minute", "max_batch", "batch_window_ms")
        bad += [n for n in negative if getattr(self, n) < 0]
        if bad:
            raise ValueError(f"ServerSettings: {', '.join(bad)} must be positive")
