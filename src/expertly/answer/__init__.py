"""Answerers: every route (rag, closed-book, hybrid, agent, router) answers alike."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from expertly.types import Answer, Principal


@runtime_checkable
class Answerer(Protocol):
    def answer(self, question: str, *, principal: Principal | None = None) -> Answer: ...
