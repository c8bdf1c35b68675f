"""What the OpenAPI schema (``/openapi.json``) must say beyond what FastAPI derives from the
route signatures: a chat completion answers JSON, or server-sent events with
``"stream": true``. Clients and schema-driven tests (schemathesis) read the schema, so a
content type the server sends must be documented there."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

STREAMED = ("/v1/chat/completions",)
"""POST routes whose 200 answer is ``text/event-stream`` when the request asks to stream."""
EVENTS = {
    "schema": {  # before OpenAPI 3.2 (FastAPI writes 3.1), ``schema`` describes each event
        "type": "object",
        "properties": {
            "data": {
                "type": "string",
                "description": "a chat.completion.chunk as JSON; the last event is [DONE]",
            },
            "event": {"type": "string"},
        },
        "required": ["data"],
    }
}


def document_streams(app: FastAPI) -> None:
    """Make ``app.openapi()`` list ``text/event-stream`` beside JSON for ``STREAMED``."""
    derive = app.openapi

    def openapi() -> dict[str, Any]:
        schema = derive()  # built once and kept by FastAPI; the change below is idempotent
        for path in STREAMED:
            answer = schema["paths"][path]["post"]["responses"]["200"]
            answer.setdefault("content", {}).setdefault("text/event-stream", EVENTS)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
