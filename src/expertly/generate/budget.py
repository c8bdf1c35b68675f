"""Fit as much context as the model's window allows, measured in the model's own tokens."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from expertly.errors import ContextLengthError
from expertly.generate import LLM
from expertly.types import Message

T = TypeVar("T")


def fit_items(
    items: Sequence[T],
    build: Callable[[Sequence[T]], list[Message]],
    llm: LLM,
    *,
    answer_tokens: int,
) -> tuple[list[Message], list[T]]:
    """The prompt built from the longest prefix of ``items`` that fits, and that prefix.

    ``items`` arrive best first, so dropping from the end loses the least relevant context.
    The prompt must fit ``llm.context_window - answer_tokens`` by ``llm.count_tokens``.
    Counting tokens is the expensive step, so the prefix length is found by binary search
    (about log2(len(items)) + 2 counts) assuming a longer prefix never gives a shorter prompt.

    Raises:
        ContextLengthError: when even the prompt without any item (the question and system prompt)
            does not fit the window.
    """
    limit = llm.context_window - answer_tokens
    built: dict[int, list[Message]] = {}
    counted: dict[int, int] = {}

    def fits(n: int) -> bool:
        built[n] = build(items[:n])
        counted[n] = llm.count_tokens(built[n])
        return counted[n] <= limit

    if not fits(0):
        raise ContextLengthError(
            f"The question and system prompt alone take {counted[0]} tokens, "
            f"more than the {limit} that {llm.name}'s context window of {llm.context_window} "
            f"leaves after reserving {answer_tokens} for the answer: shorten the question or "
            "the system prompt, lower answer.answer_tokens, or use a model with a larger window."
        )
    if fits(len(items)):
        return built[len(items)], list(items)
    good, bad = 0, len(items)  # invariant: prefix `good` fits, prefix `bad` does not
    while bad - good > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return built[good], list(items[:good])
