"""Checking a final answer against what the tools actually returned.

The rule check is cheap and deterministic: every figure the answer states and every key
term (codes such as ``HX-100``, acronyms, names written with a capital inside a sentence)
must appear in the question or in some observation. A served model (an OpenAI-compatible
endpoint) can additionally be asked as a judge, which catches paraphrased claims the rules
cannot see; the local 135M model is too weak to judge, so it gets the rules only.

An answer that says the documents do not contain the answer is always supported: declining
is honest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from expertly.answer.citations import MARKER
from expertly.answer.evidence import figures
from expertly.answer.prompt import is_abstention
from expertly.types import Completion, Message

if TYPE_CHECKING:
    from expertly.generate import LLM

_CODE = re.compile(r"\b(?:[A-Za-z]+[-_/]?\d[\w-]*|[A-Z]{2,}[A-Z0-9-]*)\b")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n\s*)$")
_CAPITALISED = re.compile(r"\b[A-Z][a-z]{2,}\b")
# Capitalised words that start clauses without naming anything.
_COMMON = {
    "the", "this", "that", "these", "those", "there", "they", "their", "then", "yes", "not",
    "and", "but", "for", "from", "with", "according", "based", "source", "sources", "answer",
    "observation", "observations", "tool", "tools", "result", "results", "each", "every",
    "all", "its", "our", "your", "you", "she", "his", "her", "employees", "everyone",
}  # fmt: skip

JUDGE_PROMPT = (
    "Tool results:\n{observations}\n\nQuestion: {question}\nAnswer: {answer}\n\n"
    "Is every fact in the answer stated in the tool results? Reply YES or NO, then one "
    "sentence saying which fact is missing."
)


@dataclass(frozen=True)
class Verdict:
    """Whether an answer is supported; ``problems`` say what is not, for the model."""

    supported: bool
    problems: tuple[str, ...] = ()
    method: str = "rules"
    completion: Completion | None = None  # the judge's call, so the agent can charge it


def key_terms(text: str) -> set[str]:
    """Codes, acronyms and mid-sentence capitalised names in ``text``, lower-cased."""
    text = MARKER.sub(" ", text)
    terms = {m.group(0).lower() for m in _CODE.finditer(text) if not m.group(0).isdigit()}
    for match in _CAPITALISED.finditer(text):
        word = match.group(0)
        if word.lower() in _COMMON or _SENTENCE_START.search(text[: match.start()]):
            continue
        terms.add(word.lower())
    return terms


def unsupported(answer: str, evidence: Sequence[str]) -> list[str]:
    """What ``answer`` states that no text in ``evidence`` contains (figures, key terms)."""
    body = MARKER.sub(" ", answer)
    known_figures: set[str] = set()
    for text in evidence:
        known_figures |= figures(text)
    haystack = "\n".join(evidence).lower()
    problems = [f"the figure {f}" for f in sorted(figures(body) - known_figures)]
    problems += [f"the term {t!r}" for t in sorted(key_terms(body)) if t not in haystack]
    return problems


class Supervisor:
    """Checks answers by the rules, then (if given a ``judge`` LLM) by asking it."""

    def __init__(self, judge: LLM | None = None, *, judge_tokens: int = 48) -> None:
        self.judge = judge
        self.judge_tokens = judge_tokens

    def check(self, answer: str, observations: Sequence[str], question: str = "") -> Verdict:
        """Is ``answer`` supported by ``observations`` (and the question's own words)?"""
        if not re.search(r"[^\W_]", MARKER.sub(" ", answer)):
            return Verdict(False, ("the answer is empty",))  # "", "...", "[1]"
        if is_abstention(answer):
            return Verdict(True)
        problems = unsupported(answer, [question, *observations])
        if problems:
            return Verdict(False, (f"no tool result contains {', '.join(problems)}",))
        if self.judge is None or not observations:
            return Verdict(True)
        return self._ask_judge(answer, observations, question)

    def _ask_judge(self, answer: str, observations: Sequence[str], question: str) -> Verdict:
        assert self.judge is not None
        prompt = JUDGE_PROMPT.format(
            observations="\n---\n".join(observations), question=question, answer=answer
        )
        completion = self.judge.generate(
            [Message("user", prompt)], max_tokens=self.judge_tokens, temperature=0.0
        )
        reply = completion.text.strip()
        if reply[:3].lower() == "yes":
            return Verdict(True, (), "judge", completion)
        if reply[:2].lower() == "no":
            why = reply[2:].lstrip(" .:,-").strip() or "the judge found an unstated fact"
            return Verdict(False, (why,), "judge", completion)
        # A judge that does not answer YES/NO has not found a problem: the rules passed.
        return Verdict(True, (f"judge reply not YES/NO: {reply[:80]!r}",), "judge", completion)
