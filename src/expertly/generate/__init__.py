"""Language models behind one protocol. Backends are looked up by name, lazily."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from expertly.types import Completion, Message


@runtime_checkable
class LLM(Protocol):
    """A chat model. ``count_tokens`` lets callers budget context by exact token counts."""

    name: str
    context_window: int

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion: ...

    def stream(self, messages: Sequence[Message], **kw: Any) -> Iterator[str]: ...

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Exact prompt tokens these messages take once the chat template is applied."""
        ...


# -- optional capabilities: small protocols checked with isinstance, never getattr probes --


@runtime_checkable
class ToolCalling(Protocol):
    """A model that takes tool schemas and replies with native tool calls (OpenAI form)."""

    def generate_with_tools(
        self,
        messages: Sequence[Any],
        tools: Sequence[Any],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        timeout_s: float | None = None,
    ) -> Any: ...


@runtime_checkable
class BatchGenerating(Protocol):
    """A model that answers several chats in one call, faster than one by one.

    Each chat's ``Completion`` is what ``generate`` would return for it alone (greedy), with
    its own token counts and finish reason. Callers without it loop over ``generate``.
    """

    def generate_batch(
        self,
        chats: Sequence[Sequence[Message]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> list[Completion]: ...


@runtime_checkable
class CompletionStreaming(Protocol):
    """A model whose stream ends with its ``Completion``: the text pieces as they are
    generated, then (the last item) what ``generate`` would have returned for the same
    call — the joined pieces as its text, exact token counts and the finish reason.

    ``LLM.stream`` gives pieces only, which is enough to show text; a caller that must
    report usage and ``finish_reason`` exactly (the server's streamed answers) needs this.
    Closing the iterator early stops the generation. ``expertly.generate.streaming``
    falls back to ``generate`` then pieces for models without it.
    """

    def stream_completion(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Completion]: ...


@runtime_checkable
class ChoiceScoring(Protocol):
    """A model that scores fixed choices by log P(choice | prompt) as the reply's start."""

    def choice_logprobs(
        self, messages: Sequence[Message], choices: Sequence[str]
    ) -> list[float]: ...


@runtime_checkable
class Prefilling(Protocol):
    """A model that continues a reply the caller started (an assistant message last)."""

    def continues_prefill(self) -> bool:
        """True when a trailing assistant message is continued rather than answered."""
        ...


@runtime_checkable
class Warmable(Protocol):
    """A part with one-time costs (loading, first-call setup) that can be paid up front."""

    def warmup(self) -> float:
        """Pay the one-time costs now; returns the seconds it took."""
        ...


@runtime_checkable
class Closeable(Protocol):
    """A part holding a connection, file or thread that should be released when done."""

    def close(self) -> None: ...
