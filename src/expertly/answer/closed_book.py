"""The closed-book route: the model answers from what it knows, with no retrieval.

With the base model this is the baseline every other route must beat; with a fine-tuned
model (``expertly ask --model NAME``) it is the fine-tuning route itself. The answer carries
no citations, because nothing was retrieved: a user comparing routes sees that at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from expertly.answer.choices import choice_answer, choice_prompt, pick
from expertly.types import Answer, Message, Principal, TraceStep

if TYPE_CHECKING:
    from expertly.generate import LLM


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
        question = question.strip()
        messages = self._messages(question)
        completion = self.llm.generate(
            messages, max_tokens=self.max_new_tokens, temperature=self.temperature, stop=["\n\n"]
        )
        seconds = time.perf_counter() - started
        text = completion.text.strip()
        return Answer(
            question=question,
            text=text,
            prompts=(tuple(messages),),
            trace=(
                TraceStep(
                    "generate",
                    {"raw_text": text, "finish_reason": completion.finish_reason},
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

    def _messages(self, question: str) -> list[Message]:
        messages = [Message("system", self.system)] if self.system else []
        messages.append(Message("user", question))
        return messages
