"""A scripted fake LLM for tests: canned replies, recorded prompts, a countable token rule."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from expertly.types import Completion, Message

Replies = Sequence[str] | Callable[[Sequence[Message]], str]


class ScriptedLLM:
    """Replies in order (the last one repeats), or computed by a function of the messages.

    Every call's messages are recorded in ``calls``, and each ``generate_batch``'s size in
    ``batches``. ``count_tokens`` is the number of whitespace-separated words plus 4 per
    message, so tests can work budgets out by hand; ``max_tokens`` likewise counts words.

    ``stream_completion`` hands out the reply word by word and calls ``between_words``
    (when given) before each word after the first, so that a test can hold the "model"
    mid-reply; a stream closed before its end is counted in ``abandoned``.
    """

    exact_tokens = True

    def __init__(
        self,
        replies: Replies = ("ok",),
        *,
        context_window: int = 2048,
        name: str = "scripted",
        between_words: Callable[[], None] | None = None,
    ) -> None:
        self.replies: Replies = (replies,) if isinstance(replies, str) else replies
        if not callable(self.replies) and not self.replies:
            raise ValueError("ScriptedLLM needs at least one reply")
        self.context_window = context_window
        self.name = name
        self.calls: list[list[Message]] = []
        self.batches: list[int] = []
        self.between_words = between_words
        self.abandoned = 0

    def continues_prefill(self) -> bool:
        """Always: a reply after a trailing assistant message continues it (``Prefilling``)."""
        return True

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m.content.split()) + 4 for m in messages)

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        self.calls.append(list(messages))
        if callable(self.replies):
            text = self.replies(messages)
        else:
            text = self.replies[min(len(self.calls), len(self.replies)) - 1]
        cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
        text = text[: min(cuts)] if cuts else text
        words = re.findall(r"\s*\S+\s*", text)
        finish = "length" if len(words) > max_tokens else "stop"
        text = "".join(words[:max_tokens]) if finish == "length" else text
        return Completion(
            text, self.count_tokens(messages), min(len(words), max_tokens), finish, self.name
        )

    def generate_batch(
        self,
        chats: Sequence[Sequence[Message]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> list[Completion]:
        """``generate`` for each chat in turn (``BatchGenerating``); each batch's size is
        recorded in ``batches`` so that tests can see how callers grouped their chats."""
        self.batches.append(len(chats))
        return [
            self.generate(c, max_tokens=max_tokens, temperature=temperature, stop=stop)
            for c in chats
        ]

    def stream(self, messages: Sequence[Message], **kw: Any) -> Iterator[str]:
        """Word by word; the pieces join to ``generate(...).text``."""
        kw.setdefault("max_tokens", 256)
        for item in self.stream_completion(messages, **kw):
            if isinstance(item, str):
                yield item

    def stream_completion(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Completion]:
        """``generate``'s reply word by word, then its Completion (``CompletionStreaming``)."""
        completion = self.generate(
            messages, max_tokens=max_tokens, temperature=temperature, stop=stop
        )
        finished = False
        try:
            for i, word in enumerate(re.findall(r"\s*\S+\s*|\s+", completion.text)):
                if i and self.between_words is not None:
                    self.between_words()
                yield word
            finished = True
            yield completion
        finally:
            if not finished:
                self.abandoned += 1
