"""Closed questions: every route answers with one of fixed choices (``yes | no | maybe``).

A small model asked "yes, no or maybe?" in free text rambles ("According to source [1], …")
and names no choice in most replies; what it *prefers* is still in its next-token
distribution. So a local model (``ChoiceScoring``) is not asked to write: each choice is
scored as the start of the reply, log P(choice | prompt), summed over its casing variants
("yes", "Yes") with log-sum-exp, and the most probable choice is the answer. No
prefill is used: the reply must start with the choice itself. An endpoint cannot be scored
that way, so it is asked for a constrained reply (``ChoiceConstraining``: a JSON schema with
the choices as an enum where the server supports it); any other model writes a short reply
that is mapped to the first choice it names, and may name none.

Each route keeps its own prompt: closed-book routes see the question alone, retrieval routes
the same numbered sources ``answer()`` would give them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from expertly.generate import ChoiceScoring
from expertly.types import Answer, Completion, Message, Principal, TraceStep

if TYPE_CHECKING:
    from expertly.generate import LLM

CHOICE_REPLY_TOKENS = 8


def choice_prompt(question: str, choices: Sequence[str]) -> str:
    """The question with the instruction to answer with one of ``choices``."""
    return f"{question.strip()}\nAnswer with one of: {', '.join(choices)}."


def choice_in_text(text: str, choices: Sequence[str]) -> str | None:
    """The choice a free-text reply gives: the one whose word(s) appear first (case and
    punctuation ignored); ``None`` when it names none."""
    words = f" {' '.join(re.findall(r'[a-z0-9]+', text.lower()))} "
    found = []
    for choice in choices:
        key = " ".join(re.findall(r"[a-z0-9]+", choice.lower()))
        at = words.find(f" {key} ") if key else -1
        if at >= 0:
            found.append((at, choice))
    return min(found)[1] if found else None


def casing_variants(choice: str) -> list[str]:
    """``choice`` as a reply may start it: as given, lower-case and Capitalised (UPPER is
    left out: it is rare as a reply's start and splits into several tokens, each costing a
    forward pass)."""
    return list(dict.fromkeys([choice, choice.lower(), choice.capitalize()]))


@dataclass(frozen=True)
class Choice:
    """A chosen option, how it was chosen, and what the choosing cost."""

    choice: str | None
    method: str  # "logprobs" | "constrained" | "text"
    logprobs: dict[str, float] = field(default_factory=dict)
    reply: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


@runtime_checkable
class ChoiceConstraining(Protocol):
    """A model that can be made to reply with one of fixed choices (an endpoint's structured
    output: ``{"answer": "<choice>"}``), or that says so in a short free reply."""

    def constrained_reply(
        self, messages: Sequence[Message], choices: Sequence[str]
    ) -> Completion: ...


@runtime_checkable
class ChoiceAnswering(Protocol):
    """An answerer that can answer with one of fixed choices."""

    def choose(
        self, question: str, choices: Sequence[str], *, principal: Principal | None = None
    ) -> Answer: ...


def pick(llm: LLM, messages: Sequence[Message], choices: Sequence[str]) -> Choice:
    """Choose among ``choices`` for the chat ``messages`` (which end with the user turn):
    by log-probabilities, by a constrained reply, or by mapping a short free reply."""
    if not choices:
        raise ValueError("pick needs at least one choice")
    if isinstance(llm, ChoiceScoring):
        variants = [casing_variants(c) for c in choices]
        flat = [v for vs in variants for v in vs]
        scores = iter(llm.choice_logprobs(messages, flat))
        logprobs = {
            c: _logsumexp([next(scores) for _ in vs])
            for c, vs in zip(choices, variants, strict=True)
        }
        best = max(choices, key=lambda c: logprobs[c])
        return Choice(best, "logprobs", logprobs, best, llm.count_tokens(messages), 1)
    if isinstance(llm, ChoiceConstraining):
        completion = llm.constrained_reply(messages, choices)
        method, chosen = "constrained", _from_json(completion.text, choices)
    else:
        completion = llm.generate(messages, max_tokens=CHOICE_REPLY_TOKENS, stop=["\n"])
        method, chosen = "text", None
    return Choice(
        chosen or choice_in_text(completion.text, choices),
        method,
        {},
        completion.text.strip(),
        completion.prompt_tokens,
        completion.completion_tokens,
    )


def _from_json(text: str, choices: Sequence[str]) -> str | None:
    """The choice of a ``{"answer": ...}`` reply, or ``None`` when it is not one."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    answer = value.get("answer") if isinstance(value, dict) else None
    return answer if answer in choices else None


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(v - top) for v in values))


def choice_answer(
    question: str,
    chosen: Choice,
    messages: Sequence[Message],
    seconds: float,
    route: str,
    model: str,
) -> Answer:
    """The Answer of a choice: its text is the choice (or the raw reply when it named none),
    and a ``choose`` trace step holds the method and the per-choice log-probabilities."""
    detail = {
        "choice": chosen.choice,
        "method": chosen.method,
        "logprobs": {c: round(v, 4) for c, v in chosen.logprobs.items()},
        "reply": chosen.reply,
    }
    return Answer(
        question=question,
        text=chosen.choice or chosen.reply,
        prompts=(tuple(messages),),
        trace=(TraceStep("choose", detail, seconds=seconds),),
        timings={"generate": seconds, "total": seconds},
        usage={
            "prompt_tokens": chosen.prompt_tokens,
            "completion_tokens": chosen.completion_tokens,
        },
        route=route,
        model=model,
    )
