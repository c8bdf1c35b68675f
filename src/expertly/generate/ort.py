"""ONNX Runtime GenAI backend: the same local model, 3–5× faster on a CPU than transformers.

Chosen by measurement (``benchmarks/generate.py``): on the packaged SmolLM2-135M-Instruct
it decodes several times faster than transformers fp32 (and faster than llama.cpp's
figures) in int8 and int4; fp32 keeps every greedy token of transformers.

The model is converted once per workspace (or shared ``llm.cache_dir``) with onnxruntime-genai's
own model builder into ``<cache_dir>/onnx/<source>-<precision>/``
(``expertly.generate.ort_models``, which also says what must be installed). The tokenizer,
chat template and exact token counts are the transformers ones (a ``TransformersLLM``
that never loads its weights), so prompts and counts are identical across backends.

Batches (``BatchGenerating``, ``expertly.generate.ort_batch``): chats are decoded together,
one row each, their prompts padded on the *right* with the pad token, which ONNX Runtime
GenAI 0.18 masks while each row keeps its own length and positions: a row's greedy reply is
the one it gets alone (15 of 15 RAG prompts of 116–492 tokens identical; left padding is not
exact here). A batch of 8 unequal RAG prompts gave 1.36× the tokens/s of one at a time
(decoding 2.1×; its prefill costs the longest prompt times 8): docs/benchmarks.md.

What it cannot do: run a PEFT adapter (merge it first: ``expertly finetune export``, then
point ``llm.model`` at the export).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expertly.config.threads import threads_for
from expertly.errors import ConfigError
from expertly.generate import models
from expertly.generate.local import TransformersLLM
from expertly.generate.ort_models import (
    PACKAGES,
    PRECISIONS,
    available,
    convert_onnx,
    need_packages,
    onnx_dir,
    refuse_adapter,
)
from expertly.generate.replies import finish_reason, stream_text
from expertly.generate.stops import StopBuffer, cut_at_stop
from expertly.types import Completion, Message

# The model copy's names are re-exported: the registry, tests and benchmarks reach them
# through this module (``ort.available()``, ``ort.PRECISIONS``, ``ort.onnx_dir`` ...).
__all__ = ["PACKAGES", "PRECISIONS", "OnnxLLM", "available", "convert_onnx", "onnx_dir"]

TOP_K = 50  # transformers' default when sampling, so temperature > 0 behaves alike


@dataclass
class _Run:
    """What one generation produced: its new token ids and why it ended."""

    new: list[int]
    stopped: bool = False  # a stop string appeared
    ended: bool = False  # the model emitted an end-of-sequence token


class OnnxLLM:
    """A local chat model run with ONNX Runtime GenAI on the CPU; greedy is reproducible.

    Same behaviour as ``TransformersLLM``: ``count_tokens`` is exact, a trailing assistant
    message is continued (``Prefilling``), stop strings cut the reply and end generation,
    ``finish_reason`` is "length" only when ``max_tokens`` ran out, and streamed pieces join
    to ``generate``'s text. ``converted`` tells whether this instance built the ONNX copy.
    """

    exact_tokens = True

    def __init__(
        self,
        model: str = "",
        *,
        cache_dir: str | Path,
        precision: str = "fp32",
        threads: int = 0,
        context_window: int = 0,
    ) -> None:
        if precision not in PRECISIONS:
            raise ConfigError(f"llm.precision = {precision!r}; valid: {', '.join(PRECISIONS)}")
        refuse_adapter(Path(model).expanduser() if model else None)
        self._text = TransformersLLM(
            model, cache_dir=Path(cache_dir), context_window=context_window
        )
        self.source = self._text.source
        self.cache_dir = Path(cache_dir)
        self.precision = precision
        self.threads = threads
        self.name = self.source.name
        self._lock = threading.Lock()
        self._model: Any = None
        self._eos: set[int] = set()
        self._pad: int | None = None  # the runtime's pad token (masked when trailing)
        self.converted = False
        self.load_seconds = 0.0

    @property
    def context_window(self) -> int:
        """Tokens the model accepts: ``llm.context_window`` or the model's trained length."""
        return self._text.context_window

    @context_window.setter
    def context_window(self, value: int) -> None:
        self._text.context_window = value

    # -- public API ---------------------------------------------------------------------

    def continues_prefill(self) -> bool:
        """Always: the prompt is the chat template's, with a trailing assistant turn open."""
        return True

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Exact prompt tokens, from the model's own tokenizer and chat template."""
        return self._text.count_tokens(messages)

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        """One reply; greedy when ``temperature`` is 0, cut before the first stop string."""
        ids = self._prompt(messages, max_tokens)
        run = _Run([])
        for _ in self._pieces(ids, max_tokens, temperature, stop, run):
            pass
        text, _ = cut_at_stop(self._decode(run.new), stop)
        return Completion(text, len(ids), len(run.new), _finish(run, max_tokens), self.name)

    def generate_batch(
        self,
        chats: Sequence[Sequence[Message]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> list[Completion]:
        """One reply per chat, decoded together (``BatchGenerating``); greedy replies equal
        ``generate``'s one by one. See ``expertly.generate.ort_batch``."""
        from expertly.generate.ort_batch import generate_batch

        return generate_batch(
            self, chats, max_tokens=max_tokens, temperature=temperature, stop=stop
        )

    def stream(self, messages: Sequence[Message], **kw: Any) -> Iterator[str]:
        """Text pieces as they are produced (keywords as for ``generate``; ``max_tokens``
        defaults to 256). Joined, they equal ``generate(...).text`` for greedy decoding."""
        return stream_text(self, messages, **kw)

    def stream_completion(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Iterator[str | Completion]:
        """Text pieces as they are produced, then the Completion ``generate`` would return
        (``CompletionStreaming``), counted from the tokens generated, so usage is exact.
        Closing the iterator early stops the generation."""
        ids = self._prompt(messages, max_tokens)
        run = _Run([])
        buffer = StopBuffer(stop)
        for piece in self._pieces(ids, max_tokens, temperature, stop, run):
            out = buffer.feed(piece)
            if out:
                yield out
            if buffer.stopped:
                break
        else:
            tail = buffer.flush()
            if tail:
                yield tail
        text, _ = cut_at_stop(self._decode(run.new), stop)
        yield Completion(text, len(ids), len(run.new), _finish(run, max_tokens), self.name)

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        """log P(choice | messages) of each choice as the start of the reply: the sum of its
        tokens' log-probabilities (one forward pass when every choice is one token)."""
        if not choices:
            return []
        encoded = self._text._choice_ids(choices)
        longest = max(len(e) for e in encoded)
        ids = self._prompt(messages, longest)
        if longest == 1:
            first = _log_softmax(self._batch_generator([ids], 1, 0.0).get_logits()[0, -1])
            return [float(first[e[0]]) for e in encoded]
        out = []
        for choice in encoded:
            gen = self._batch_generator([ids], len(choice), 0.0)
            total = 0.0
            for i, token in enumerate(choice):
                if i:
                    gen.append_tokens(_array([[choice[i - 1]]]))
                total += float(_log_softmax(gen.get_logits()[0, -1])[token])
            out.append(total)
        return out

    def warmup(self) -> float:
        """Convert (once) and load the model, and run a tiny generation, so that one-time
        costs are not billed to the first timed question. Returns the seconds it took."""
        started = time.perf_counter()
        self.generate([Message("user", "Hi")], max_tokens=2)
        return time.perf_counter() - started

    # -- internals ----------------------------------------------------------------------

    def _pieces(
        self, ids: list[int], max_tokens: int, temperature: float, stop: Sequence[str], run: _Run
    ) -> Iterator[str]:
        """New text as tokens arrive, recording them in ``run``; ends at EOS, at a stop string
        (checked on the whole reply so far, so one spanning pieces counts) or at
        ``max_tokens``. A token that completes only part of a character waits for the next."""
        gen = self._batch_generator([ids], max_tokens, temperature)
        stops, shown = [s for s in stop if s], ""
        while not gen.is_done() and len(run.new) < max_tokens:
            gen.generate_next_token()
            token = int(gen.get_next_tokens()[0])
            run.new.append(token)
            run.ended = token in self._eos
            text = self._decode(run.new)
            if not text.endswith("\ufffd") and text.startswith(shown):
                piece, shown = text[len(shown) :], text
                if piece:
                    yield piece
            run.stopped = bool(stops) and cut_at_stop(text, stops)[1]
            if run.ended or run.stopped:
                break
        text = self._decode(run.new)  # a dangling partial character, shown as decoded
        if text.startswith(shown) and text != shown:
            yield text[len(shown) :]

    def _batch_generator(self, rows: list[list[int]], max_tokens: int, temperature: float) -> Any:
        """A generator that has read one prompt per row (right-padded with the pad token,
        which the runtime masks), set for ``max_tokens`` new tokens in every row."""
        import onnxruntime_genai as og

        model = self._load()
        width = max(len(ids) for ids in rows)
        params = og.GeneratorParams(model)
        options: dict[str, Any] = {"max_length": width + max_tokens, "batch_size": len(rows)}
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature, top_k=TOP_K, top_p=1.0)
        else:
            options.update(do_sample=False)
        params.set_search_options(**options)
        gen = og.Generator(model, params)
        pad = [] if self._pad is None else [self._pad]  # rows of unequal length need one
        gen.append_tokens(_array([ids + pad * (width - len(ids)) for ids in rows]))
        return gen

    def _prompt(self, messages: Sequence[Message], max_tokens: int) -> list[int]:
        ids = self._text._prompt_ids(messages)
        self._text._check_room(len(ids), max_tokens)
        return ids

    def _decode(self, new: list[int]) -> str:
        return str(self._text._tokenizer().decode(new, skip_special_tokens=True))

    def _load(self) -> Any:
        """The ONNX model, converting the source first if it has no cached ONNX copy."""
        with self._lock:
            if self._model is None:
                started = time.perf_counter()
                need_packages()
                import onnxruntime_genai as og

                folder = onnx_dir(self.source, self.cache_dir, self.precision)
                if not (folder / models.MARKER).is_file():
                    convert_onnx(self.source, self.cache_dir, self.precision)
                    self.converted = True
                config = og.Config(str(folder))
                config.clear_providers()  # the CPU
                # ONNX Runtime's pool is the session's, fixed here (expertly.config.threads)
                options = {"intra_op_num_threads": threads_for("generate_onnx", self.threads)}
                config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
                self._model = og.Model(config)
                genai = json.loads((folder / "genai_config.json").read_text(encoding="utf-8"))
                eos = genai["model"]["eos_token_id"]
                self._eos = set(eos) if isinstance(eos, list) else {int(eos)}
                pad = genai["model"].get("pad_token_id")  # without it: no batches (ort_batch)
                self._pad = None if pad is None else int(pad)
                self.load_seconds = time.perf_counter() - started
            return self._model


def _finish(run: _Run, max_tokens: int) -> str:
    """As ``TransformersLLM`` reports it: "length" only when the budget ran out."""
    return finish_reason(len(run.new), max_tokens, stopped=run.stopped, ended=run.ended)


def _array(rows: list[list[int]]) -> Any:
    import numpy as np

    return np.asarray(rows, dtype=np.int32)


def _log_softmax(logits: Any) -> Any:
    import numpy as np

    top = float(np.max(logits))
    return logits - top - math.log(float(np.sum(np.exp(logits - top))))
