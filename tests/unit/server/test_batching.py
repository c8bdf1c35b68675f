"""Chat requests that wait for the model together are answered by one batched generation,
each with its own answer and exact usage; routes measured slower in batches are not batched."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi.testclient import TestClient

from expertly.generate.scripted import ScriptedLLM
from expertly.types import Message
from tests.unit.server.conftest import ask

Serve = Callable[..., TestClient]


def echo(messages: Sequence[Message]) -> str:
    """A reply that names its question, so that each request can check it got its own."""
    return f"You asked: {messages[-1].content}"


def until(condition: Callable[[], bool]) -> None:
    """Wait (up to 20 s) until ``condition()`` holds."""
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        time.sleep(0.01)


def _concurrently(client: TestClient, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [{} for _ in bodies]

    def send(i: int) -> None:
        response = client.post("/v1/chat/completions", json=bodies[i])
        assert response.status_code == 200, response.text
        results[i] = response.json()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_requests_become_one_batch_each_with_its_answer(serve: Serve) -> None:
    client = serve(echo, max_batch=4, batch_window_ms=2000)
    llm: ScriptedLLM = client.app.state.service.workspace.llm  # type: ignore[attr-defined]
    first = client.post("/v1/chat/completions", json=ask("Warm up?", model="expertly-base"))
    assert first.status_code == 200  # builds the answerer, alone (nothing to batch with yet)
    assert llm.batches == []
    questions = [f"Question number {i}{' really' * i}?" for i in range(4)]
    replies = _concurrently(client, [ask(q, model="expertly-base") for q in questions])
    assert llm.batches == [4]  # one generation answered all four
    for question, reply in zip(questions, replies, strict=True):
        text = reply["choices"][0]["message"]["content"]
        assert text == f"You asked: {question}"
        prompt = llm.count_tokens([Message("user", question)])
        words = len(text.split())
        assert reply["usage"] == {
            "prompt_tokens": prompt,
            "completion_tokens": words,
            "total_tokens": prompt + words,
        }
        note = reply["expertly"]["trace"][-1]["detail"]
        assert note["batch_size"] == 4
    metrics = client.get("/metrics").text
    assert "expertly_batch_size_count 1.0" in metrics


def test_cached_answers_in_a_batch_come_from_the_cache(serve: Serve) -> None:
    client = serve(echo, max_batch=4, batch_window_ms=2000)
    llm: ScriptedLLM = client.app.state.service.workspace.llm  # type: ignore[attr-defined]
    client.post("/v1/chat/completions", json=ask("Asked before?", model="expertly-base"))
    replies = _concurrently(
        client, [ask(q, model="expertly-base") for q in ("Asked before?", "New one?", "Other?")]
    )
    assert llm.batches == [2]  # the cached question did not reach the model
    assert [r["expertly"]["cached"] for r in replies] == [True, False, False]
    assert replies[1]["choices"][0]["message"]["content"] == "You asked: New one?"


def test_rag_is_not_batched_on_a_cpu_by_default(serve: Serve) -> None:
    client = serve(echo)
    service = client.app.state.service  # type: ignore[attr-defined]
    assert service.batch_size("base") == 8
    import torch

    if torch.cuda.is_available():  # the default follows the device the model runs on
        assert service.batch_size("rag") == 8
        return
    assert service.batch_size("rag") == 1  # long prompts ran slower in batches on a CPU
    llm: ScriptedLLM = service.workspace.llm
    _concurrently(client, [ask(f"Leave question {i}?", temperature=0.5) for i in range(3)])
    assert llm.batches == []


def test_batched_requests_still_count_against_max_waiting(serve: Serve) -> None:
    release = threading.Event()
    client = serve(echo, max_batch=4, concurrency=1, max_waiting=1)
    llm: ScriptedLLM = client.app.state.service.workspace.llm  # type: ignore[attr-defined]
    client.post("/v1/chat/completions", json=ask("Warm up?", model="expertly-base"))

    def hold() -> None:  # the streamed answer below holds the model until released
        assert release.wait(20), "the test never released the model"

    llm.between_words = hold
    streaming = threading.Thread(
        target=client.post,
        args=("/v1/chat/completions",),
        kwargs={"json": ask("Hold it?", model="expertly-base", stream=True)},
    )
    streaming.start()
    service = client.app.state.service  # type: ignore[attr-defined]
    until(service.queue.slots.locked)
    statuses: list[int] = []
    waiting = threading.Thread(
        target=lambda: statuses.append(
            client.post(
                "/v1/chat/completions", json=ask("First?", model="expertly-base")
            ).status_code
        )
    )
    waiting.start()
    until(lambda: service.queue.waiting >= 1)
    refused = client.post("/v1/chat/completions", json=ask("Second?", model="expertly-base"))
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "queue_full"
    release.set()
    streaming.join(20)
    waiting.join(20)
    assert statuses == [200]
