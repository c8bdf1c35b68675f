"""What the server tells its operator: JSON log lines with a request id and the process id,
and Prometheus metrics (requests, latency, tokens, queue depth) on a registry of its own
per app. With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set, as
``expertly serve --workers N`` does) each process writes its values to files in that
folder and ``/metrics`` sums them all, whichever worker answers."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from expertly.server.errors import error_body

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
log = logging.getLogger("expertly.server")
UPLOAD_PATH = "/v1/uploads"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_BUG = "Internal error: the server log holds the details under this response's X-Request-ID."
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extras."""

    _skip = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
        "message",
        "color_message",  # uvicorn's copy of the message with terminal colours
    }

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
            "pid": record.process,  # which worker process, with --workers
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in self._skip})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def configure_logging(level: int = logging.INFO) -> None:
    """Send expertly's and uvicorn's logs to stderr as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    for name in ("expertly", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


class Metrics:
    """The server's Prometheus metrics, on a registry of its own (one per app).

    In multiprocess mode the gauges add up the live processes' values (``livesum``): the
    requests waiting and running in all workers together.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "expertly_requests",
            "HTTP requests answered, by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "expertly_request_seconds",
            "Time to answer an HTTP request (to the last byte of a stream), by route.",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.tokens = Counter(
            "expertly_tokens",
            "Tokens the model read (prompt) and wrote (completion), by route.",
            ["kind", "route"],
            registry=self.registry,
        )
        self.waiting = Gauge(
            "expertly_queue_waiting",
            "Generation requests waiting for the model.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.running = Gauge(
            "expertly_queue_running",
            "Generation requests being answered now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.batch_size = Histogram(
            "expertly_batch_size",
            "Chat requests answered together by one batched generation.",
            buckets=(1, 2, 4, 8, 16, 32),
            registry=self.registry,
        )
        self.rejected = Counter(
            "expertly_rejected",
            "Requests refused by a limit, by reason (queue_full, rate_limited, too_large).",
            ["reason"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text ``/metrics`` answers: this process's registry, or with several worker
        processes the sum over all of them (read from ``PROMETHEUS_MULTIPROC_DIR``)."""
        folder = os.environ.get(MULTIPROC_ENV)
        if not folder:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=folder)
        return generate_latest(registry)

    def close(self) -> None:
        """At the end of a worker process: drop its gauge files, so that the live sums no
        longer count it (its counters and histograms stay in the totals)."""
        folder = os.environ.get(MULTIPROC_ENV)
        if folder:
            mark_process_dead(os.getpid(), path=folder)


class RequestMiddleware:
    """Per request: a request id (the client's ``X-Request-ID`` when sane, else a new one)
    echoed in the response, a body size limit (413), the metrics and one access log line."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, max_body_bytes: int, max_upload_bytes: int
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes
        self.max_upload = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        rid = given if _GOOD_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        status_sent = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status = message["status"]
                status_sent = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        limit = self.max_upload if scope["path"] == UPLOAD_PATH else self.max_body
        try:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                status = 413
                await self._too_large(send_with_id, limit)
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        self.metrics.rejected.labels("too_large").inc()
                        raise HTTPException(413, _too_large(limit), {"connection": "close"})
                return message

            try:
                await self.app(scope, limited_receive, send_with_id)
            except Exception:
                # a bug: logged with this request's id, answered in OpenAI's shape (unless
                # the response had begun: then the connection is cut)
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if status_sent:
                    raise
                status = 500
                await _send_json(send_with_id, 500, error_body(500, _BUG))
        finally:
            route = _route_of(scope)
            seconds = time.perf_counter() - started
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(seconds)
            log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={"status": status, "route": route, "ms": round(seconds * 1000, 1)},
            )
            request_id.reset(token)

    async def _too_large(self, send: Send, limit: int) -> None:
        self.metrics.rejected.labels("too_large").inc()
        await _send_json(send, 413, error_body(413, _too_large(limit), code="request_too_large"))


async def _send_json(send: Send, status: int, data: dict[str, Any]) -> None:
    body = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return (
        f"The request body is larger than {limit} bytes: send less (fewer or smaller "
        "inputs or files), or raise the server's --max-body-bytes / --max-upload-bytes."
    )


def _route_of(scope: Scope) -> str:
    """The matched route's template (bounded label values), or "unmatched"."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
