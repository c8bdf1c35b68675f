"""Streamed chat completions: each piece of the answer is sent as the model generates it.

An answerer's ``stream`` (``expertly.answer.stream_answer``) is a blocking iterator, so it
runs in a worker thread (``AnswerPump``) that hands its items to the event loop through an
``asyncio.Queue``. The generation queue's slot is held for the whole stream: it is taken
before the first piece and given back when the thread ends — after the last piece, or
after the client went away and the thread closed the iterator, which stops the model.

``sse_events`` turns the items into OpenAI's chunks. The pieces are the model's draft;
when post-processing changed the answer's text (an attributed citation marker, or an
abstention that withdraws the draft), the finishing chunk's ``expertly`` field carries
the final ``text`` and ``revised: true`` (see docs/server.md, Streaming).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from expertly.answer.citations import MARKER
from expertly.errors import ExpertlyError
from expertly.generate.stops import StopBuffer
from expertly.server.errors import APIError, error_body, from_expertly
from expertly.types import Answer

log = logging.getLogger("expertly.server")

Outcome = Callable[[Answer], tuple[str, str, dict[str, Any], dict[str, int]]]
"""An answer → (its text as sent, finish_reason, the ``expertly`` field, usage)."""
Item = tuple[str, Any]  # ("piece", str) | ("answer", Answer) | ("error", exc) | ("end", None)


class AnswerPump:
    """Runs ``items()`` (an answerer's stream) in a thread and queues what it yields.

    ``stop()`` asks the thread to close the iterator at its next item (the client is
    gone); ``release`` (giving back the generation slot) is called on the event loop once
    the thread has ended, whichever way it ended.
    """

    def __init__(
        self, items: Callable[[], Iterator[str | Answer]], release: Callable[[], None]
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.cancel = threading.Event()
        self.release = release
        self._items = items
        self.thread = threading.Thread(target=self._run, name="expertly-stream", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Ask the thread to close the stream at its next item (idempotent)."""
        self.cancel.set()

    async def next(self) -> Item:
        """The next item: ``("piece", str)``, ``("answer", Answer)``, ``("error", exc)``,
        and ``("end", None)`` last."""
        return await self.queue.get()

    def _put(self, item: Item) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def _run(self) -> None:
        try:
            iterator = self._items()
            try:
                for item in iterator:
                    if self.cancel.is_set():
                        break
                    self._put(("answer", item) if isinstance(item, Answer) else ("piece", item))
            finally:
                if isinstance(iterator, Generator):
                    iterator.close()  # the model stops generating
        except BaseException as exc:  # handed to the event loop, which answers with it
            self._put(("error", exc))
        finally:
            self._put(("end", None))
            self.loop.call_soon_threadsafe(self.release)


@dataclass
class StreamRequest:
    """What the chunks of one streamed completion need besides the answer."""

    ident: str
    created: int
    model: str
    stops: list[str]
    include_usage: bool


def revision_note(answer: Answer) -> str:
    """Why the draft that was streamed is not the answer, in words a reader of the stream
    sees: the weightiest reason the trace gives (a figure no source holds, another topic,
    what no document mentions, another figure than the best source row, sentences no
    source supports, a loop or an unfinished sentence cut)."""
    steps = {step.name: step.detail for step in reversed(answer.trace)}
    if "verify" in steps:
        figures = ", ".join(steps["verify"].get("unsupported_figures", ()))
        return f"withdrawn: the draft states figures none of its sources contains ({figures})"
    off_topic = steps.get("off_topic")
    if off_topic and "draft" in off_topic:
        return (
            "withdrawn: the draft speaks of something other than the question (match "
            f"{off_topic['similarity']:.2f}, below answer.min_similarity "
            f"{off_topic['min_similarity']})"
        )
    support = steps.get("support")
    if support and support.get("unheard"):
        words = ", ".join(support["unheard"])
        return f"withdrawn: the draft speaks of what no document mentions ({words})"
    if "contradicted" in steps:
        return (
            "withdrawn: the draft gives another figure than the source passage that "
            "answers the question best"
        )
    if support:
        if answer.abstained or "extract" in steps:
            return "withdrawn: no sentence of the draft is supported by its sources"
        return "revised: the sentences of the draft that no source supports were left out"
    if steps.get("extract", {}).get("answer"):  # the model abstained, a source answers
        return "replaced: the draft gave no answer; the source sentence that answers follows"
    if "repetition" in steps:
        return "revised: the draft repeated itself and was cut"
    if "unfinished" in steps:
        return "revised: the draft's unfinished last sentence was cut"
    return "withdrawn: the draft was replaced"


def _markers_only(text: str, streamed: str) -> bool:
    """Whether ``text`` is ``streamed`` with citation markers added or moved, and nothing
    else changed (``answer.attribute_uncited``): no note is then needed."""

    def bare(value: str) -> str:
        return " ".join(MARKER.sub(" ", value).split()).replace(" .", ".")

    return bare(text) == bare(streamed)


async def sse_events(
    pump: AnswerPump,
    first: Item,
    request: StreamRequest,
    finish: Outcome,
) -> AsyncIterator[str]:
    """Server-sent events: a role chunk, the pieces as they come (cut at the client's stop
    strings, which may span pieces), a chunk with the ``finish_reason`` and the
    ``expertly`` field, the usage chunk when asked, ``[DONE]``. ``finish(answer)`` gives
    (final text, finish reason, extension, usage) once the answer is known.

    A client that goes away closes this generator: the pump is stopped, which stops the
    model and frees the generation slot.
    """

    def chunk(choices: list[dict[str, Any]], **more: Any) -> str:
        data: dict[str, Any] = {
            "id": request.ident,
            "object": "chat.completion.chunk",
            "created": request.created,
            "model": request.model,
            "system_fingerprint": None,
            "choices": choices,
            **more,
        }
        if request.include_usage:
            data.setdefault("usage", None)
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    def delta(content: dict[str, Any], reason: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": content, "finish_reason": reason, "logprobs": None}]

    buffer = StopBuffer(request.stops)
    sent: list[str] = []
    try:
        yield chunk(delta({"role": "assistant", "content": ""}))
        kind, value = first
        while kind == "piece":
            out = "" if buffer.stopped else buffer.feed(value)
            if out:
                sent.append(out)
                yield chunk(delta({"content": out}))
            kind, value = await pump.next()
        if kind == "error":
            yield f"data: {json.dumps(_error(value), ensure_ascii=False)}\n\n"
            return
        if kind != "answer":
            raise RuntimeError(f"the answer stream ended without its Answer ({kind})")
        tail = buffer.flush()
        if tail:
            sent.append(tail)
            yield chunk(delta({"content": tail}))
        streamed = "".join(sent)
        text, reason, ext, usage = finish(value)
        revised = text != streamed
        if revised and text.startswith(streamed):
            yield chunk(delta({"content": text[len(streamed) :]}))
            revised = False
        elif revised and (value.abstained or not _markers_only(text, streamed)):
            # the draft was withdrawn or cut: say so in the text too, then give the answer
            yield chunk(delta({"content": f"\n\n({revision_note(value)}) {text}"}))
        yield chunk(delta({}, reason), expertly={**ext, "text": text, "revised": revised})
        if request.include_usage:
            yield chunk([], usage=usage)
        yield "data: [DONE]\n\n"
    finally:
        pump.stop()


def _error(exc: BaseException) -> dict[str, Any]:
    """An error event's body, as OpenAI sends one mid-stream; bugs are logged here."""
    if isinstance(exc, APIError):
        return exc.body()
    if isinstance(exc, ExpertlyError):
        return from_expertly(exc).body()
    log.error("streamed answer failed", exc_info=exc)
    return error_body(500, "The server failed while answering: see its log (request id).")
