"""Answerers: every route (rag, closed-book, hybrid, agent, router) answers alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

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


def batch_note(size: int, wall_s: float) -> dict[str, Any]:
    """The trace detail of a generation shared by ``size`` answers in ``wall_s`` seconds."""
    return {
        "batch_size": size,
        "batch_wall_s": round(wall_s, 4),
        "seconds": "the batch's wall time / batch size",
    }
