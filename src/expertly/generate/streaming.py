"""Streaming a reply with its exact ``Completion``, from any model.

``stream_completion`` is the one way callers stream a reply they must account for: a
``CompletionStreaming`` model streams as it generates; any other model generates the whole
reply and it is handed on in word pieces (the caller's code is the same either way).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from expertly.generate import CompletionStreaming
from expertly.types import Completion, Message

if TYPE_CHECKING:
    from expertly.generate import LLM

_PIECES = re.compile(r"\S+\s*|\s+")


def word_pieces(text: str) -> list[str]:
    """``text`` cut into words with their trailing white space; joined, they are ``text``."""
    return _PIECES.findall(text)


def stream_completion(
    llm: LLM,
    messages: Sequence[Message],
    *,
    max_tokens: int,
    temperature: float = 0.0,
    stop: Sequence[str] = (),
) -> Iterator[str | Completion]:
    """Text pieces, then the ``Completion`` (always the last item, exactly once)."""
    if isinstance(llm, CompletionStreaming):
        yield from llm.stream_completion(
            messages, max_tokens=max_tokens, temperature=temperature, stop=stop
        )
        return
    completion = llm.generate(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
    yield from word_pieces(completion.text)
    yield completion


def joined(items: Iterator[str | Completion]) -> tuple[list[str], Completion]:
    """Every piece of a ``stream_completion`` and its ``Completion`` (for tests and tools
    that consume a stream whole)."""
    pieces: list[str] = []
    for item in items:
        if isinstance(item, Completion):
            return pieces, item
        pieces.append(item)
    raise ValueError("the stream ended without its Completion")
