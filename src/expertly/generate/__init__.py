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
