"""POST /v1/chat/completions: OpenAI's shapes, exact usage, SSE framing, refusals by name."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from expertly.config import AnswerSettings, EmbedderSettings, LLMSettings, RouterSettings, Settings
from expertly.generate.scripted import ScriptedLLM
from expertly.workspace import Parts, Workspace
from tests.unit.helpers import fake_workspace, write_corpus
from tests.unit.server.conftest import ask

Serve = Callable[..., TestClient]


def sse_events(text: str) -> list[str]:
    """The ``data:`` payloads of a server-sent event stream, checking its framing."""
    assert text.endswith("\n\n")
    blocks = text.split("\n\n")[:-1]
    assert all(b.startswith("data: ") and "\n" not in b for b in blocks), blocks
    return [b.removeprefix("data: ") for b in blocks]


def test_completion_shape_usage_and_extension(serve: Serve) -> None:
    client = serve()
    response = client.post("/v1/chat/completions", json=ask())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "expertly-rag"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert "20 weeks" in choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    llm = client.app.state.service.workspace.llm  # type: ignore[attr-defined]
    prompt = llm.count_tokens(llm.calls[-1])
    assert body["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": 9,  # the scripted reply's words
        "total_tokens": prompt + 9,
    }
    ext = body["expertly"]
    assert ext["route"] == "rag" and not ext["abstained"] and not ext["cached"]
    assert ext["citations"][0]["doc_id"] == "leave.md"
    assert ext["citations"][0]["number"] == 1
    assert [s["name"] for s in ext["trace"]][-1] == "generate"


def test_an_abstention_names_the_closest_passages(serve: Serve, tmp_path: Path) -> None:
    ws = fake_workspace(
        tmp_path,
        ("The documents do not say.",),
        answer=AnswerSettings(extract_min_score=2.0, extract_figure_min_score=1.9),
    )
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    client = serve(workspace=ws)
    body = client.post("/v1/chat/completions", json=ask("What does the HX-100 cost?")).json()
    ext = body["expertly"]
    assert ext["abstained"] and ext["citations"] == []
    (lead,) = ext["leads"]
    assert lead["doc_id"] == "prices.csv" and "149" in lead["quote"] and lead["number"] >= 1


def test_request_id_is_echoed_or_made(serve: Serve) -> None:
    client = serve()
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 32


def test_second_identical_question_comes_from_the_cache(serve: Serve) -> None:
    client = serve()
    first = client.post("/v1/chat/completions", json=ask()).json()
    second = client.post("/v1/chat/completions", json=ask()).json()
    assert not first["expertly"]["cached"] and second["expertly"]["cached"]
    assert second["choices"][0]["message"] == first["choices"][0]["message"]


def _stream(client: TestClient, **fields: Any) -> list[dict[str, Any]]:
    response = client.post("/v1/chat/completions", json=ask(stream=True, **fields))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_stream_joins_to_the_same_text(serve: Serve) -> None:
    client = serve()
    whole = client.post("/v1/chat/completions", json=ask(temperature=0)).json()
    chunks = _stream(client, temperature=0)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == whole["choices"][0]["message"]["content"]
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["expertly"]["citations"] == whole["expertly"]["citations"]
    assert all("usage" not in c for c in chunks)  # not asked for


def test_stream_include_usage_ends_with_a_usage_chunk(serve: Serve) -> None:
    client = serve()
    chunks = _stream(client, stream_options={"include_usage": True})
    *body, last = chunks
    assert last["choices"] == [] and last["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in body)
    assert body[-1]["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_cuts_with_finish_reason_length(serve: Serve) -> None:
    client = serve(["one two three four five six seven"])
    body = client.post("/v1/chat/completions", json=ask(max_tokens=3)).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3


def test_stop_sequence_cuts_the_answer(serve: Serve) -> None:
    client = serve(["Employees get 20 weeks [1]. Ask HR for details."])
    body = client.post("/v1/chat/completions", json=ask(stop=["Ask HR"])).json()
    text = body["choices"][0]["message"]["content"]
    assert "Ask HR" not in text and "20 weeks" in text
    assert body["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 2),
        ("tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        ("functions", [{"name": "f", "parameters": {}}]),
        ("function_call", {"name": "f"}),
        ("logprobs", True),
        ("top_logprobs", 2),
        ("logit_bias", {"42": 10}),
        ("response_format", {"type": "json_object"}),
        ("top_p", 0.5),
        ("presence_penalty", 0.5),
    ],
)
def test_unsupported_parameter_is_refused_by_name(serve: Serve, field: str, value: Any) -> None:
    client = serve()
    response = client.post("/v1/chat/completions", json=ask(**{field: value}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == field and error["code"] == "unsupported_parameter"
    assert f"'{field}'" in error["message"] and error["type"] == "invalid_request_error"


def test_seed_is_refused_only_when_sampling(serve: Serve) -> None:
    client = serve()
    assert client.post("/v1/chat/completions", json=ask(seed=1)).status_code == 200
    refused = client.post("/v1/chat/completions", json=ask(seed=1, temperature=0.7))
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "seed"


def test_harmless_fields_are_accepted(serve: Serve) -> None:
    client = serve()
    fields = {"user": "u1", "n": 1, "top_p": 1, "tool_choice": "none", "metadata": {"a": "b"}}
    response = client.post("/v1/chat/completions", json=ask(**fields))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}, 404, "model"),
        ({"model": "expertly-rag", "messages": []}, 400, "messages"),
        ({"model": "expertly-rag"}, 400, "messages"),
        (
            {"model": "expertly-rag", "messages": [{"role": "assistant", "content": "hi"}]},
            400,
            "messages",
        ),
        (ask(max_tokens=0), 400, "max_tokens"),
        (ask(temperature=3), 400, "temperature"),
        (ask(stop=["a", "b", "c", "d", "e"]), 400, "stop"),
        (ask("   "), 400, "messages"),
    ],
)
def test_bad_requests_get_openai_errors(
    serve: Serve, body: dict[str, Any], status: int, param: str
) -> None:
    client = serve()
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"]
    assert set(error) == {"message", "type", "param", "code"}


def test_malformed_json_is_a_400(serve: Serve) -> None:
    client = serve()
    response = client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]


def test_image_parts_are_refused_text_parts_read(serve: Serve) -> None:
    client = serve()
    text_parts = [{"type": "text", "text": "How long is parental leave?"}]
    ok = client.post("/v1/chat/completions", json=ask(text_parts))
    assert ok.status_code == 200, ok.text
    image = [{"type": "image_url", "image_url": {"url": "data:,"}}]
    refused = client.post("/v1/chat/completions", json=ask(image))
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "messages.content"


def test_models_lists_one_id_per_route(serve: Serve) -> None:
    client = serve()
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids == ["expertly-rag", "expertly-base", "expertly-auto", "expertly-agent",
                   "expertly-embed"]  # fmt: skip
    base = client.post("/v1/chat/completions", json=ask(model="expertly-base")).json()
    assert base["expertly"]["route"] == "base"
    tuned = client.post("/v1/chat/completions", json=ask(model="expertly-finetuned"))
    assert tuned.status_code == 404  # no fine-tuned run in this workspace


def test_a_bug_is_a_logged_500_with_the_request_id(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(messages: object) -> str:
        raise RuntimeError("boom")

    client = serve(broken)
    caplog.set_level("ERROR", logger="expertly.server")
    response = client.post("/v1/chat/completions", json=ask(), headers={"X-Request-ID": "r-1"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "r-1"
    assert response.json()["error"]["type"] == "server_error"
    assert "boom" not in response.text  # details stay in the log
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert any("boom" in str(exc) for exc in logged)


def test_a_failing_model_is_a_502(serve: Serve) -> None:
    from expertly.errors import LLMError

    def down(messages: object) -> str:
        raise LLMError("The endpoint http://gpu:8000 refused the connection: is it running?")

    response = serve(down).post("/v1/chat/completions", json=ask())
    assert response.status_code == 502
    assert "is it running" in response.json()["error"]["message"]


def test_finetuned_runs_are_offered_as_models(serve: Serve, tmp_path: Path) -> None:
    client = serve()
    root = client.app.state.service.workspace.root  # type: ignore[attr-defined]
    run = root / "runs" / "lora-1"
    (run / "adapter").mkdir(parents=True)
    (run / "adapter" / "adapter_config.json").write_text("{}")
    (run / "config.json").write_text(json.dumps({"settings": {"method": "lora"}}))
    (run / "metrics.json").write_text(json.dumps({"status": "finished"}))
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert {"expertly-finetuned", "expertly-finetuned:lora-1", "expertly-hybrid",
            "expertly-hybrid:lora-1"} <= set(ids)  # fmt: skip
    service = client.app.state.service  # type: ignore[attr-defined]
    assert service.route_of("expertly-hybrid:lora-1") == ("hybrid", "lora-1")
    assert service.route_of("expertly-finetuned") == ("finetuned", None)
    assert service.route_of("expertly-finetuned:other") is None


def test_the_fine_tuned_model_an_endpoint_serves_is_offered(serve: Serve, tmp_path: Path) -> None:
    settings = Settings(
        embedder=EmbedderSettings(backend="hashing", dim=64),
        llm=LLMSettings(backend="openai", model="base", base_url="http://127.0.0.1:9/v1"),
        router=RouterSettings(model="myrun"),  # e.g. vLLM's --lora-modules myrun=...
    )
    ws = Workspace(tmp_path / "served", settings, overrides=Parts(llm=ScriptedLLM(["ok"])))
    client = serve(workspace=ws)
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert {"expertly-finetuned", "expertly-finetuned:myrun", "expertly-hybrid:myrun"} <= set(ids)
    service = client.app.state.service  # type: ignore[attr-defined]
    assert service.route_of("expertly-finetuned:myrun") == ("finetuned", "myrun")


def test_auto_says_which_route_answered_and_why(serve: Serve) -> None:
    body = serve().post("/v1/chat/completions", json=ask(model="expertly-auto")).json()
    ext = body["expertly"]
    assert ext["route"] in ("rag", "base", "agent") and ext["reason"]
    assert body["model"] == "expertly-auto"


def test_max_completion_tokens_is_max_tokens(serve: Serve) -> None:
    client = serve(["one two three four five six seven"])
    body = client.post("/v1/chat/completions", json=ask(max_completion_tokens=2)).json()
    assert body["usage"]["completion_tokens"] == 2
    assert body["choices"][0]["finish_reason"] == "length"
