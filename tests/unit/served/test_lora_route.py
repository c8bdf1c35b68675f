"""A fine-tuned LoRA adapter served by vLLM is chosen by the request's ``model`` field.

``vllm serve BASE --enable-lora --lora-modules myrun=runs/myrun/adapter`` serves the base
model under ``BASE`` and the adapter under ``myrun``. With ``llm.backend = 'openai'``,
the base and rag routes ask for ``llm.model``; the finetuned and hybrid routes ask for the
name given with ``--model`` (``Workspace.answerer(model=...)``) or ``router.model``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from expertly import Workspace
from expertly.config import EmbedderSettings, LLMSettings, RouterSettings, Settings
from expertly.errors import ConfigError, LLMError
from tests.unit.served.fake_server import FakeServer, Reply, shapes

PATH = "/v1/chat/completions"
BASE = "Qwen/Qwen2.5-0.5B-Instruct"
QUESTION = "How many weeks of paid parental leave do employees get?"


def served_workspace(root: Path, url: str, **sections: object) -> Workspace:
    settings = Settings(
        embedder=EmbedderSettings(backend="hashing", dim=64),
        llm=LLMSettings(backend="openai", model=BASE, base_url=f"{url}/v1", retry_backoff_s=0.01),
        **sections,  # type: ignore[arg-type]
    )
    return Workspace(root / "ws", settings)


def test_the_finetuned_route_asks_for_the_adapter_by_name(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    vllm = shapes("vllm")
    fake_server.queue(PATH, Reply(body=vllm["chat_lora"]), Reply(body=vllm["chat"]))
    ws = served_workspace(tmp_path, fake_server.url)
    try:
        tuned = ws.answerer("finetuned", model="myrun", cache=False).answer(QUESTION)
        base = ws.answerer("base", cache=False).answer(QUESTION)
    finally:
        ws.close()
    lora_request, base_request = (r.body for r in fake_server.received)
    assert lora_request["model"] == "myrun"
    assert base_request["model"] == BASE
    assert lora_request["messages"][-1] == {"role": "user", "content": QUESTION}
    assert lora_request == {**base_request, "model": "myrun"}  # only the model differs
    assert (lora_request["max_tokens"], lora_request["temperature"]) == (160, 0.0)
    assert lora_request["stream"] is False
    assert tuned.text == base.text == "Employees get 20 weeks of paid parental leave."
    assert tuned.model == "myrun"


def test_router_model_names_the_adapter_when_no_model_is_given(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    fake_server.queue(PATH, Reply(body=shapes("vllm")["chat_lora"]))
    ws = served_workspace(tmp_path, fake_server.url, router=RouterSettings(model="myrun"))
    try:
        ws.answerer("finetuned", cache=False).answer(QUESTION)
    finally:
        ws.close()
    assert fake_server.received[0].body["model"] == "myrun"


def test_the_finetuned_route_on_an_endpoint_needs_a_model_name(tmp_path: Path) -> None:
    ws = served_workspace(tmp_path, "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"--model NAME or set router.model.*--lora-modules"):
        ws.answerer("finetuned", cache=False)


def test_an_adapter_the_server_does_not_serve_is_a_clear_error(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    fake_server.queue(PATH, Reply.error(shapes("vllm")["errors"]["model_not_found"]))
    ws = served_workspace(tmp_path, fake_server.url)
    try:
        with pytest.raises(LLMError, match=r"HTTP 404: 'The model `myrun2` does not exist.*--lora"):
            ws.answerer("finetuned", model="myrun2", cache=False).answer(QUESTION)
    finally:
        ws.close()


def test_the_expertly_server_forwards_a_finetuned_request_to_the_adapter(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    """``expertly serve`` in front of vLLM: a client asking for ``expertly-finetuned:myrun``
    gets the adapter's answer, and vLLM is asked for ``model: myrun``."""
    from fastapi.testclient import TestClient

    from expertly.server.app import create_app
    from expertly.server.settings import ServerSettings
    from tests.unit.server.conftest import wait_ready

    fake_server.queue(PATH, Reply(body=shapes("vllm")["chat_lora"]))
    ws = served_workspace(tmp_path, fake_server.url, router=RouterSettings(model="myrun"))
    with TestClient(create_app(ws, ServerSettings(warmup=False))) as client:
        wait_ready(client)
        reply = client.post(
            "/v1/chat/completions",
            json={
                "model": "expertly-finetuned:myrun",
                "messages": [{"role": "user", "content": QUESTION}],
            },
        )
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"].startswith("Employees get 20 weeks")
    (sent,) = fake_server.received
    assert sent.body["model"] == "myrun"
    assert sent.body["messages"][-1] == {"role": "user", "content": QUESTION}


@pytest.mark.parametrize(("router_model", "routes"), [("", {"rag", "base"}), ("myrun", None)])
def test_auto_offers_the_served_finetuned_route_only_when_it_is_named(
    tmp_path: Path, router_model: str, routes: set[str] | None
) -> None:
    from expertly.answer.router import Router

    router = RouterSettings(routes=["rag", "finetuned", "base"], model=router_model)
    ws = served_workspace(tmp_path, "http://127.0.0.1:9", router=router)
    try:
        auto = ws.answerer("auto", cache=False)
    finally:
        ws.close()
    assert isinstance(auto, Router)
    assert set(auto.answerers) == (routes or {"rag", "finetuned", "base"})


def test_cached_answers_are_kept_apart_per_served_adapter(
    tmp_path: Path, fake_server: FakeServer
) -> None:
    other = shapes("vllm")["chat_lora"]  # a fresh copy
    other["choices"][0]["message"]["content"] = "Sixteen weeks."
    fake_server.queue(PATH, Reply(body=shapes("vllm")["chat_lora"]), Reply(body=other))
    ws = served_workspace(tmp_path, fake_server.url)
    try:
        first = ws.answerer("finetuned", model="myrun").answer(QUESTION)
        again = ws.answerer("finetuned", model="myrun").answer(QUESTION)
        second = ws.answerer("finetuned", model="myrun-v2").answer(QUESTION)
    finally:
        ws.close()
    assert first.text == again.text != second.text == "Sixteen weeks."
    assert [r.body["model"] for r in fake_server.received] == ["myrun", "myrun-v2"]
