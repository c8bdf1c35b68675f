"""The closed-book route: the model answers from what it knows, with no retrieval.

With the base model this is the baseline every other route must beat; with a fine-tuned
model (``expertly ask --model NAME``) it is the fine-tuning route itself. The answer carries
no citations, because nothing was retrieved: a user comparing routes sees that at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from expertly.answer import Trimmed, batch_note
from expertly.answer.choices import choice_answer, choice_prompt, pick
from expertly.generate import BatchGenerating
from expertly.generate.streaming import stream_completion
from expertly.types import Answer, Completion, Message, Principal, TraceStep

if TYPE_CHECKING:
    from expertly.generate import LLM

STOP = ("\n\n",)  # the answer ends at its first blank line


class ClosedBookAnswerer:
    """Asks the model directly. ``route`` is ``base`` or ``finetuned``.

    ``system_prompt`` should be the system message the model was fine-tuned with (none by
    default, as ``expertly dataset build`` writes): a fine-tuned model recalls what it
    learned best when the prompt looks like its training data.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        system_prompt: str = "",
        max_new_tokens: int = 160,
        temperature: float = 0.0,
        route: str = "base",
    ) -> None:
        self.llm = llm
        self.system = system_prompt
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.route = route

    def answer(self, question: str, *, principal: Principal | None = None) -> Answer:
        """Answer ``question`` from the model's weights alone (``principal`` is not needed:
        no document is read)."""
        started = time.perf_counter()
        messages = self._messages(question)
        completion = self.llm.generate(
            messages, max_tokens=self.max_new_tokens, temperature=self.temperature, stop=STOP
        )
        return self._answer(messages, completion, time.perf_counter() - started, {})

    def stream(
        self, question: str, *, principal: Principal | None = None
    ) -> Iterator[str | Answer]:
        """``answer`` as the model generates it (``StreamAnswering``): the reply's pieces
        (white space at its ends held back, as ``answer`` strips it), then the Answer."""
        started = time.perf_counter()
        messages = self._messages(question)
        trim = Trimmed()
        for item in stream_completion(
            self.llm,
            messages,
            max_tokens=self.max_new_tokens,
            temperature=self.temperature,
            stop=STOP,
        ):
            if isinstance(item, Completion):
                yield self._answer(messages, item, time.perf_counter() - started, {})
                return
            out = trim.feed(item)
            if out:
                yield out

    def generates_in_batches(self) -> bool:
        """Whether ``answer_batch`` generates in one batch (the model is ``BatchGenerating``)."""
        return isinstance(self.llm, BatchGenerating)

    def answer_batch(
        self, questions: Sequence[str], *, principal: Principal | None = None
    ) -> list[Answer]:
        """``answer`` for each question, generated in one batch when the model can
        (``BatchGenerating``); each answer's time is then the batch's time / its size."""
        if not isinstance(self.llm, BatchGenerating) or len(questions) < 2:
            return [self.answer(q, principal=principal) for q in questions]
        started = time.perf_counter()
        chats = [self._messages(q) for q in questions]
        completions = self.llm.generate_batch(
            chats, max_tokens=self.max_new_tokens, temperature=self.temperature, stop=STOP
        )
        wall = time.perf_counter() - started
        note = batch_note(len(chats), wall)
        return [
            self._answer(m, c, wall / len(chats), note)
            for m, c in zip(chats, completions, strict=True)
        ]

    def _messages(self, question: str) -> list[Message]:
        messages = [Message("system", self.system)] if self.system else []
        messages.append(Message("user", question.strip()))
        return messages

    def _answer(
        self,
        messages: list[Message],
        completion: Completion,
        seconds: float,
        batch: dict[str, Any],
    ) -> Answer:
        """The Answer of one generated reply (``batch``: how a shared generation was timed)."""
        text = completion.text.strip()
        return Answer(
            question=messages[-1].content,
            text=text,
            prompts=(tuple(messages),),
            trace=(
                TraceStep(
                    "generate",
                    {"raw_text": text, "finish_reason": completion.finish_reason, **batch},
                    seconds=seconds,
                ),
            ),
            timings={"generate": seconds, "total": seconds},
            usage={
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
            },
            abstained=not text,
            route=self.route,
            model=self.llm.name,
        )

    def choose(
        self, question: str, choices: Sequence[str], *, principal: Principal | None = None
    ) -> Answer:
        """Answer with one of ``choices`` (``answer.choices``): the model's most probable
        choice as the start of its reply to the question alone."""
        started = time.perf_counter()
        messages = self._messages(choice_prompt(question, choices))
        chosen = pick(self.llm, messages, choices)
        return choice_answer(
            question.strip(),
            chosen,
            messages,
            time.perf_counter() - started,
            self.route,
            self.llm.name,
        )
