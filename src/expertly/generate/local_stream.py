"""Streaming for the transformers backend: ``generate`` on a thread, text pieces as they come.

transformers streams through a ``TextIteratorStreamer`` fed by ``model.generate`` running on
another thread. This module holds that hand-over (``stream_reply``): stop strings applied to
the pieces, the generation thread's errors raised in the consumer's, a consumer that stops
early stopping the generation too, and the tokens counted as the streamer is handed them
(``_counting_streamer``), so the final ``Completion`` equals ``generate``'s for greedy
decoding. ``TransformersLLM.stream_completion`` is the way in.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from expertly.errors import LLMError
from expertly.generate.replies import finish_reason
from expertly.generate.stops import StopBuffer
from expertly.types import Completion, Message

if TYPE_CHECKING:
    from expertly.generate.local import TransformersLLM


def stream_reply(
    llm: TransformersLLM,
    messages: Sequence[Message],
    *,
    max_tokens: int,
    temperature: float,
    stop: Sequence[str],
) -> Iterator[str | Completion]:
    """Text pieces as the model produces them, then the ``Completion``."""
    ids = llm._prompt_ids(messages)
    llm._check_room(len(ids), max_tokens)
    model, tok = llm._load()
    import torch

    inputs = llm._inputs(ids)
    streamer = _counting_streamer(tok)
    cancel = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with llm.cpu_threads(), torch.inference_mode():
                model.generate(
                    **inputs,
                    generation_config=llm._config(max_tokens, temperature),
                    stopping_criteria=llm._criteria(len(ids), stop, cancel),
                    streamer=streamer,
                )
        except BaseException as exc:  # handed to the consuming thread below
            errors.append(exc)
            streamer.end()

    thread = threading.Thread(target=run, name="expertly-generate", daemon=True)
    thread.start()
    buffer = StopBuffer(stop)
    pieces: list[str] = []
    try:
        for piece in streamer:
            out = buffer.feed(piece)
            if out:
                pieces.append(out)
                yield out
            if buffer.stopped:
                break
        thread.join()  # the generation has stopped on its own: its counts are final
        if errors:
            raise LLMError(f"{llm.name} failed while generating: {errors[0]}") from errors[0]
        tail = buffer.flush()
        if tail:
            pieces.append(tail)
            yield tail
    finally:
        cancel.set()  # a consumer that stops early also stops the generation thread
        thread.join()
    new = streamer.new_tokens
    ended = bool(new) and new[-1] in llm._eos_ids()
    finish = finish_reason(len(new), max_tokens, stopped=buffer.stopped, ended=ended)
    yield Completion("".join(pieces), len(ids), len(new), finish, llm.name)


def _counting_streamer(tok: Any) -> Any:
    """A ``TextIteratorStreamer`` that also keeps the ids of the new tokens it was handed
    (``new_tokens``), so a streamed reply's token count is the model's own."""
    from transformers import TextIteratorStreamer

    class _Counting(TextIteratorStreamer):
        def __init__(self) -> None:
            super().__init__(tok, skip_prompt=True, skip_special_tokens=True)
            self.new_tokens: list[int] = []
            self._prompt_seen = False

        def put(self, value: Any) -> None:
            if self._prompt_seen:
                self.new_tokens.extend(int(t) for t in value.reshape(-1).tolist())
            self._prompt_seen = True
            super().put(value)

    return _Counting()
