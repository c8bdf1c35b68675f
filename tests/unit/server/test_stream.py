"""Streamed chat completions: pieces leave as the model generates them, join to the
non-streamed answer, honour stop strings across pieces, hold the generation slot for the
whole stream and give it back (stopping the model) when the client goes away.

The timing-sensitive tests drive the app as an ASGI callable on their own event loop
(no socket, no buffering test client): the scripted model waits on a gate between words,
which the test opens only once it has *received* an event, so a stream that did not
send pieces before the generation ended would time out on the gate.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from expertly.config import AnswerSettings
from expertly.generate.scripted import ScriptedLLM
from expertly.server.app import create_app
from expertly.server.settings import ServerSettings
from tests.unit.helpers import fake_workspace, write_corpus
from tests.unit.server.conftest import ask
from tests.unit.server.test_chat import sse_events

Serve = Callable[..., TestClient]
REPLY = "Employees get 20 weeks of paid parental leave [1]."


def chunks_of(response_text: str) -> list[dict[str, Any]]:
    events = sse_events(response_text)
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def content(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def finishing(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    return next(c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"])


# ---------------------------------------------------------------- through the test client


def test_stream_equals_the_answer_in_text_usage_citations_and_trace(serve: Serve) -> None:
    client = serve([REPLY])
    for model in ("expertly-rag", "expertly-base"):
        whole = client.post("/v1/chat/completions", json=ask(model=model, temperature=0.5)).json()
        streamed = client.post(
            "/v1/chat/completions",
            json=ask(model=model, temperature=0.5, stream=True,
                     stream_options={"include_usage": True}),
        )  # fmt: skip
        chunks = chunks_of(streamed.text)
        assert (
            len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) > 3
        )
        assert content(chunks) == whole["choices"][0]["message"]["content"]
        end = finishing(chunks)
        assert end["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
        ext = end["expertly"]
        assert ext["text"] == content(chunks) and ext["revised"] is False
        assert ext["citations"] == whole["expertly"]["citations"]
        assert [s["name"] for s in ext["trace"]] == [s["name"] for s in whole["expertly"]["trace"]]
        assert chunks[-1]["usage"] == whole["usage"]


def test_a_cached_answer_streams_in_pieces(serve: Serve) -> None:
    client = serve([REPLY])
    first = chunks_of(client.post("/v1/chat/completions", json=ask(stream=True)).text)
    again = chunks_of(client.post("/v1/chat/completions", json=ask(stream=True)).text)
    assert not finishing(first)["expertly"]["cached"] and finishing(again)["expertly"]["cached"]
    assert content(again) == content(first)
    assert len([c for c in again if c["choices"] and c["choices"][0]["delta"].get("content")]) > 3


def test_a_stop_string_spanning_pieces_cuts_the_stream(serve: Serve) -> None:
    client = serve(["Employees get 20 weeks [1]. Every employee gets paid parental leave [1]."])
    stop = {"stop": ["[1]. Every"], "temperature": 0.5}  # the words "[1]. " and "Every "
    whole = client.post("/v1/chat/completions", json=ask(**stop)).json()
    chunks = chunks_of(client.post("/v1/chat/completions", json=ask(stream=True, **stop)).text)
    text = content(chunks)
    assert text == whole["choices"][0]["message"]["content"]
    assert "Every" not in text and text.endswith("20 weeks ")
    assert finishing(chunks)["choices"][0]["finish_reason"] == "stop"


def test_a_withdrawn_draft_is_said_in_the_text_and_the_extension(
    tmp_path: Path, serve: Serve
) -> None:
    ws = fake_workspace(
        tmp_path,
        ["Employees get 25 weeks of paid parental leave [1]."],
        answer=AnswerSettings(extract_min_score=2.0, extract_figure_min_score=2.0),
    )  # fmt: skip  (no source sentence is extracted instead: the route abstains)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    client = serve(workspace=ws)
    whole = client.post("/v1/chat/completions", json=ask(temperature=0.5)).json()
    final = whole["choices"][0]["message"]["content"]
    assert final == "The documents do not say."  # 25 is in no source: the check abstains
    chunks = chunks_of(
        client.post("/v1/chat/completions", json=ask(stream=True, temperature=0.5)).text
    )
    text = content(chunks)
    assert "25 weeks" in text  # the draft went out as it was generated ...
    assert text.endswith(
        f"(withdrawn: the draft states figures none of its sources contains (25)) {final}"
    )
    ext = finishing(chunks)["expertly"]
    assert ext["text"] == final and ext["revised"] is True and ext["abstained"] is True


def test_a_draft_replaced_by_a_source_sentence_ends_on_that_sentence(
    tmp_path: Path, serve: Serve
) -> None:
    """A draft the support check rejects, replaced by the source sentence that answers
    (``answer.fallback = "extract"``): a client reading only the streamed text still ends
    on the answer, after a note saying why the draft went."""
    ws = fake_workspace(
        tmp_path,
        ["1], employees get paid parental leave from the office manager."],
        answer=AnswerSettings(extract_min_score=0.0, extract_figure_min_score=0.0),
    )  # fmt: skip
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    client = serve(workspace=ws)
    whole = client.post("/v1/chat/completions", json=ask(temperature=0.5)).json()
    final = whole["choices"][0]["message"]["content"]
    assert "20 weeks" in final and "office manager" not in final
    chunks = chunks_of(
        client.post("/v1/chat/completions", json=ask(stream=True, temperature=0.5)).text
    )
    text = content(chunks)
    assert text.startswith("According to source [1], employees get paid parental leave")
    assert text.endswith(
        f"(withdrawn: no sentence of the draft is supported by its sources) {final}"
    )
    ext = finishing(chunks)["expertly"]
    assert ext["text"] == final and ext["revised"] is True and ext["abstained"] is False


def test_a_draft_cut_to_its_supported_sentences_says_so(tmp_path: Path, serve: Serve) -> None:
    reply = "Employees get 20 weeks of paid parental leave [1]. They also get a company car."
    ws = fake_workspace(tmp_path, [reply], answer=AnswerSettings(prefill=""))
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    client = serve(workspace=ws)
    chunks = chunks_of(
        client.post("/v1/chat/completions", json=ask(stream=True, temperature=0.5)).text
    )
    final = finishing(chunks)["expertly"]["text"]
    assert final == "Employees get 20 weeks of paid parental leave [1]."
    assert content(chunks) == (
        f"{reply}\n\n(revised: the sentences of the draft that no source supports were left "
        f"out) {final}"
    )


def test_an_attributed_marker_is_in_the_final_text_only(tmp_path: Path, serve: Serve) -> None:
    ws = fake_workspace(
        tmp_path, ["Employees get 20 weeks of paid parental leave."],
        answer=AnswerSettings(prefill=""),
    )  # fmt: skip
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    client = serve(workspace=ws)
    whole = client.post("/v1/chat/completions", json=ask(temperature=0.5)).json()
    final = whole["choices"][0]["message"]["content"]
    assert final == "Employees get 20 weeks of paid parental leave [1]."
    chunks = chunks_of(
        client.post("/v1/chat/completions", json=ask(stream=True, temperature=0.5)).text
    )
    assert content(chunks) == "Employees get 20 weeks of paid parental leave."
    ext = finishing(chunks)["expertly"]
    assert ext["text"] == final and ext["revised"] is True
    assert ext["citations"][0]["method"] == "attributed"


def test_an_error_before_the_first_piece_keeps_its_status(serve: Serve) -> None:
    from expertly.errors import LLMError

    def down(messages: object) -> str:
        raise LLMError("The endpoint http://gpu:8000 refused the connection: is it running?")

    response = serve(down).post("/v1/chat/completions", json=ask(stream=True))
    assert response.status_code == 502
    assert "is it running" in response.json()["error"]["message"]


# ------------------------------------------------------------- on the app's own event loop


class Gate:
    """What the scripted model does between words: wait until the test opens the gate,
    and remember whether it was opened (True) or timed out (False)."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.waited: list[bool] = []

    def __call__(self) -> None:
        self.waited.append(self.open.wait(10))


class Exchange:
    """One request to the ASGI app: the events it sent so far, and a way to hang up."""

    def __init__(self, app: FastAPI, body: dict[str, Any]) -> None:
        self.sent: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        raw = json.dumps(body).encode()
        self._body: list[bytes] = [raw]
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(raw)).encode()), (b"host", b"local")],
        }  # fmt: skip
        self.task = asyncio.create_task(app(scope, self._receive, self.sent.put))

    async def _receive(self) -> dict[str, Any]:
        if self._body:
            return {"type": "http.request", "body": self._body.pop(), "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def next_data(self) -> str:
        """The next ``data:`` payload the app sent."""
        while True:
            message = await asyncio.wait_for(self.sent.get(), 20)
            if message["type"] == "http.response.start":
                assert message["status"] == 200, message
                continue
            body = message.get("body", b"").decode()
            if body:
                return body.removeprefix("data: ").strip()


def _run(tmp_path: Path, replies: list[str], test: Callable[..., Any], **settings: Any) -> None:
    gate = Gate()
    ws = fake_workspace(tmp_path, replies)
    ws.ingestor.ingest([write_corpus(tmp_path / "docs")])
    assert isinstance(ws.llm, ScriptedLLM)
    ws.llm.between_words = gate
    app = create_app(ws, ServerSettings(**settings))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            service = app.state.service
            for _ in range(400):
                if service.ready:
                    break
                await asyncio.sleep(0.05)
            assert service.ready
            await test(app, service, gate)

    asyncio.run(main())


def test_pieces_leave_while_the_model_is_still_generating(tmp_path: Path) -> None:
    async def check(app: FastAPI, service: Any, gate: Gate) -> None:
        exchange = Exchange(app, ask(stream=True, temperature=0.5))
        role = json.loads(await exchange.next_data())
        assert role["choices"][0]["delta"]["role"] == "assistant"
        first = json.loads(await exchange.next_data())
        assert first["choices"][0]["delta"]["content"]
        assert not gate.waited  # the model is held before its second word ...
        gate.open.set()  # ... and goes on only now that the first piece has arrived
        payloads = [first]
        while (data := await exchange.next_data()) != "[DONE]":
            payloads.append(json.loads(data))
        await exchange.task
        assert gate.waited and all(gate.waited)
        assert content(payloads) == finishing(payloads)["expertly"]["text"]

    _run(tmp_path, [REPLY], check)


def test_a_client_that_goes_away_frees_the_slot_and_stops_the_model(tmp_path: Path) -> None:
    async def check(app: FastAPI, service: Any, gate: Gate) -> None:
        llm = service.workspace.llm
        exchange = Exchange(app, ask(stream=True, temperature=0.5))
        await exchange.next_data()  # role
        await exchange.next_data()  # the first word; the model now waits on the gate
        assert service.queue.slots.locked()  # the stream holds the only slot
        exchange.gone.set()  # the client hangs up
        await asyncio.wait_for(exchange.task, 20)
        gate.open.set()  # the model's next word finds the stream closed
        for _ in range(200):
            if not service.queue.slots.locked():
                break
            await asyncio.sleep(0.05)
        assert not service.queue.slots.locked()
        assert llm.abandoned == 1  # the generation was stopped, not run to its end
        again = Exchange(app, ask(temperature=0.5))
        body = json.loads(await again.next_data())
        assert body["choices"][0]["message"]["content"]

    _run(tmp_path, [REPLY], check, concurrency=1, max_waiting=0)


def test_the_note_names_the_weightiest_reason_the_draft_gave_way() -> None:
    from expertly.server.streaming import revision_note
    from expertly.types import Answer, TraceStep

    def note(*steps: TraceStep, abstained: bool = False) -> str:
        return revision_note(Answer("q", "a", trace=steps, abstained=abstained))

    support = TraceStep("support", {"dropped": ["It closes at 23:00."], "draft": "..."})
    extract = TraceStep("extract", {"answer": "Opens at 9:00 [1]."})
    cut = TraceStep("unfinished", {"cut": "and then"})
    verify = TraceStep("verify", {"unsupported_figures": ["23"]})
    assert note(cut, support) == (
        "revised: the sentences of the draft that no source supports were left out"
    )
    assert note(support, extract) == (
        "withdrawn: no sentence of the draft is supported by its sources"
    )
    assert note(cut, verify, support) == (
        "withdrawn: the draft states figures none of its sources contains (23)"
    )
    assert note(extract).startswith("replaced: the draft gave no answer")
    weak = TraceStep("extract", {"answer": "", "best": "Opens at 9:00 [1]."})  # below the bar
    assert note(weak, abstained=True) == "withdrawn: the draft was replaced"
    assert note(cut) == "revised: the draft's unfinished last sentence was cut"
    assert note() == "withdrawn: the draft was replaced"
