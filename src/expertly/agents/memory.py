"""Conversation memory for chat: recent turns verbatim, older turns folded into a summary.

Bounded on both sides: at most ``turns`` question/answer pairs are kept word for word, and
the summary of everything older is kept under ``summary_chars``. The summary is written by
the LLM when one is given (one short call per fold) or, without one, extracted
deterministically (the first sentence of each folded question and answer), so that memory
works offline, in tests and with models too weak to summarise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from expertly.types import Completion, Message

if TYPE_CHECKING:
    from expertly.generate import LLM

SUMMARY_PROMPT = (
    "Summarise this conversation in at most {words} words for someone continuing it. Keep "
    "names, figures and decisions; leave out greetings.\n\n{text}"
)
SUMMARY_HEADER = "Earlier in this conversation (summary): "
_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)", re.DOTALL)


def first_sentence(text: str, limit: int) -> str:
    """The first sentence of ``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    match = _FIRST_SENTENCE.match(flat)
    sentence = match.group(1) if match else flat
    return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"


@dataclass
class Turn:
    question: str
    answer: str


@dataclass
class ConversationMemory:
    """The last ``turns`` turns verbatim plus a bounded summary of the ones before.

    Args:
        turns: turns kept word for word (``agent.memory_turns``); 0 keeps only the summary.
        llm: writes the summary when given; otherwise it is extracted.
        summary_chars: the summary's maximum length; the oldest part is dropped first.
        summary_words: the length asked of the LLM.
    """

    turns: int = 8
    llm: LLM | None = None
    summary_chars: int = 1200
    summary_words: int = 80
    summary: str = ""
    recent: list[Turn] = field(default_factory=list)
    usage: list[Completion] = field(default_factory=list)  # the summary calls made

    def __post_init__(self) -> None:
        if self.turns < 0:
            raise ValueError("ConversationMemory.turns must be >= 0 (agent.memory_turns)")
        if self.summary_chars < 80:
            raise ValueError("ConversationMemory.summary_chars must be >= 80")

    def add(self, question: str, answer: str) -> None:
        """Remember one turn; turns beyond ``turns`` are folded into the summary."""
        self.recent.append(Turn(question.strip(), answer.strip()))
        overflow = len(self.recent) - self.turns
        if overflow > 0:
            folded, self.recent = self.recent[:overflow], self.recent[overflow:]
            self._fold(folded)

    def messages(self) -> list[Message]:
        """The memory as chat messages to put before a new question."""
        out: list[Message] = []
        if self.summary:
            out.append(Message("user", SUMMARY_HEADER + self.summary))
            out.append(Message("assistant", "Noted."))
        for turn in self.recent:
            out += [Message("user", turn.question), Message("assistant", turn.answer)]
        return out

    def clear(self) -> None:
        self.summary, self.recent = "", []

    def __len__(self) -> int:
        return len(self.recent)

    def _fold(self, folded: list[Turn]) -> None:
        if self.llm is None:
            self._extract(folded)
            return
        text = "\n".join(f"User: {t.question}\nAssistant: {t.answer}" for t in folded)
        if self.summary:
            text = f"Summary so far: {self.summary}\n{text}"
        completion = self.llm.generate(
            [Message("user", SUMMARY_PROMPT.format(words=self.summary_words, text=text))],
            max_tokens=self.summary_words * 2,
        )
        self.usage.append(completion)
        written = " ".join(completion.text.split())
        if written:
            self.summary = self._bound(written)
        else:  # an empty summary would forget the folded turns: extract instead
            self._extract(folded)

    def _extract(self, folded: list[Turn]) -> None:
        lines = [
            f"Q: {first_sentence(t.question, 120)} A: {first_sentence(t.answer, 160)}"
            for t in folded
        ]
        self.summary = self._bound("\n".join(filter(None, [self.summary, *lines])))

    def _bound(self, text: str) -> str:
        """Keep the newest ``summary_chars`` characters (older facts go first)."""
        if len(text) <= self.summary_chars:
            return text
        return "…" + text[-(self.summary_chars - 1) :]
