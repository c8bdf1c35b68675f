"""Answerers: every route (rag, closed-book, hybrid, agent, router) answers alike."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from expertly.generate.streaming import word_pieces
from expertly.types import Answer, Principal


@runtime_checkable
class Answerer(Protocol):
    def answer(self, question: str, *, principal: Principal | None = None) -> Answer: ...


@runtime_checkable
class BatchAnswering(Protocol):
    """An answerer that answers several questions with one batched generation.

    The answers are those ``answer`` gives one by one, in order. When the model generated
    them together, each answer's ``generate`` time is the batch's wall time divided by the
    batch size, and its trace step says so (``batch_note``). ``generates_in_batches`` is
    False when the model cannot batch: ``answer_batch`` then answers one by one, and a
    caller timing each answer should call ``answer`` instead.
    """

    def generates_in_batches(self) -> bool: ...

    def answer_batch(
        self, questions: Sequence[str], *, principal: Principal | None = None
    ) -> list[Answer]: ...


@runtime_checkable
class StreamAnswering(Protocol):
    """An answerer that hands out its reply as the model generates it.

    ``stream`` yields text pieces, then (the last item, exactly once) the ``Answer`` that
    ``answer`` would have returned: same citations, usage, trace and finish reason. The
    pieces are the model's *draft*; post-processing (an abstention, an attributed
    citation marker) may make ``Answer.text`` differ from their join, and a caller that
    shows the pieces must say so (the server does, in its last chunk). Closing the
    iterator early stops the generation.
    """

    def stream(
        self, question: str, *, principal: Principal | None = None
    ) -> Iterator[str | Answer]: ...


def stream_answer(
    answerer: Answerer, question: str, *, principal: Principal | None = None
) -> Iterator[str | Answer]:
    """``answerer.stream`` when it streams; otherwise the whole answer, then its text in
    word pieces (the agent's answer is known only when its loop ends), then the Answer."""
    if isinstance(answerer, StreamAnswering):
        yield from answerer.stream(question, principal=principal)
        return
    answer = answerer.answer(question, principal=principal)
    yield from word_pieces(answer.text)
    yield answer


class Trimmed:
    """Streamed text with its leading and trailing white space removed, as ``str.strip``
    removes it from the whole reply: white space is held back until more text follows."""

    def __init__(self) -> None:
        self.started = False
        self.held = ""

    def feed(self, piece: str) -> str:
        """What may be shown now of the text so far."""
        if not self.started:
            piece = piece.lstrip()
            self.started = bool(piece)
        text = self.held + piece
        body = text.rstrip()
        self.held = text[len(body) :]
        return body


def batch_note(size: int, wall_s: float) -> dict[str, Any]:
    """The trace detail of a generation shared by ``size`` answers in ``wall_s`` seconds."""
    return {
        "batch_size": size,
        "batch_wall_s": round(wall_s, 4),
        "seconds": "the batch's wall time / batch size",
    }
