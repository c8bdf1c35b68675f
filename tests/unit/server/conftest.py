"""Fixtures for the server's unit tests: the app on a fake workspace (hashing embedder,
scripted LLM), driven by FastAPI's TestClient with its lifespan (models load at start)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from expertly.server.app import create_app
from expertly.server.settings import ServerSettings
from expertly.types import Message
from expertly.workspace import Workspace
from tests.unit.helpers import fake_workspace, write_corpus

Replies = Sequence[str] | Callable[[Sequence[Message]], str]


def wait_ready(client: TestClient) -> None:
    """Poll /readyz until the models are loaded (the fakes load in milliseconds)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.02)
    raise AssertionError(f"never ready: {client.get('/readyz').json()}")


def indexed_workspace(tmp_path: Path, replies: Replies) -> Workspace:
    ws = fake_workspace(tmp_path, replies)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    return ws


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """``serve(replies, **settings)`` → a started client on the sample corpus."""
    clients: list[TestClient] = []

    def start(
        replies: Replies = ("Employees get 20 weeks of paid parental leave [1].",),
        workspace: Workspace | None = None,
        **settings: object,
    ) -> TestClient:
        ws = workspace or indexed_workspace(tmp_path, replies)
        client = TestClient(create_app(ws, ServerSettings(**settings)))  # type: ignore[arg-type]
        client.__enter__()
        clients.append(client)
        wait_ready(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def ask(question: Any = "How long is parental leave?", **fields: Any) -> dict[str, Any]:
    """A chat completion request body."""
    return {"model": "expertly-rag", "messages": [{"role": "user", "content": question}], **fields}
