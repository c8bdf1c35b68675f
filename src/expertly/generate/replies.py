"""What the generation backends do alike with a reply, kept in one place so they agree.

The transformers, onnx and OpenAI-compatible backends each stream by running their own
``stream_completion`` and dropping its final ``Completion`` (``stream_text``), with the same
default budget, and the two local backends report why a reply ended by one rule
(``finish_reason``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from expertly.types import Message

if TYPE_CHECKING:
    from expertly.generate import CompletionStreaming

DEFAULT_STREAM_TOKENS = 256  # ``stream`` takes **kw (the protocol), so max_tokens needs a default


def stream_text(llm: CompletionStreaming, messages: Sequence[Message], **kw: Any) -> Iterator[str]:
    """The text pieces of ``llm.stream_completion`` (keywords as for ``generate``;
    ``max_tokens`` defaults to ``DEFAULT_STREAM_TOKENS``), without its ``Completion``."""
    kw.setdefault("max_tokens", DEFAULT_STREAM_TOKENS)
    for item in llm.stream_completion(messages, **kw):
        if isinstance(item, str):
            yield item


def finish_reason(new_tokens: int, max_tokens: int, *, stopped: bool, ended: bool) -> str:
    """Why a reply of ``new_tokens`` ended: "length" only when ``max_tokens`` ran out, not
    when a stop string appeared (``stopped``) or the model emitted an end-of-sequence token
    (``ended``); else "stop"."""
    return "length" if new_tokens >= max_tokens and not (stopped or ended) else "stop"
