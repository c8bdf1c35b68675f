"""Structured logs: one JSON object per line, with the request id and the extras."""

from __future__ import annotations

import json
import logging

from expertly.server.observe import JsonFormatter, request_id


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("expertly.server", logging.INFO, __file__, 1, message, (), None)
    made.__dict__.update(extra)
    return made


def test_a_line_is_json_with_request_id_and_extras() -> None:
    token = request_id.set("req-42")
    try:
        line = JsonFormatter().format(record("POST /v1/search 200", status=200, color_message="x"))
    finally:
        request_id.reset(token)
    data = json.loads(line)
    assert data["message"] == "POST /v1/search 200" and data["request_id"] == "req-42"
    assert data["status"] == 200 and data["level"] == "info"
    assert "color_message" not in data and data["time"].endswith("Z")


def test_an_exception_is_kept_in_the_line() -> None:
    try:
        raise ValueError("bad thing")
    except ValueError:
        import sys

        made = record("failed")
        made.exc_info = sys.exc_info()
    data = json.loads(JsonFormatter().format(made))
    assert "ValueError: bad thing" in data["error"] and data["request_id"] == "-"
