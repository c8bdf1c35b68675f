"""The router (``--mode auto``): sends each question to the route that suits it.

Routes: ``rag`` (facts in the documents), ``finetuned`` (style and format the fine-tuned
model learned), ``agent`` (multi-step work with tools: arithmetic, databases, comparisons)
and ``base`` (general questions the documents do not cover). The classifier decides in
three steps and says which one decided:

1. *rules* — a few precise patterns (an arithmetic expression, "draft an email", a URL);
2. *examples* — similarity of the question's embedding to labelled example questions
   (shipped defaults plus the user's own ``router.examples`` file), k-nearest-neighbour vote;
3. *index* — between ``rag`` and ``base`` the index itself decides when it can: a question
   whose best passage is less similar than ``min_relevance`` (the same threshold at which
   RAG abstains) is not about the documents, so the base model answers it;
4. *fallback* — ``router.fallback`` (default ``rag``) when nothing is confident.

The router is handed its answerers by the Workspace and imports none of them; a route
without an answerer (no fine-tuned model yet, agent disabled) falls back, and the Answer's
``reason`` says so.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expertly.answer import stream_answer
from expertly.answer.choices import ChoiceAnswering, choice_prompt
from expertly.config import ROUTES
from expertly.errors import ConfigError
from expertly.types import Answer, Principal, TraceStep

if TYPE_CHECKING:
    import numpy as np

    from expertly.answer import Answerer

Embed = Callable[[Sequence[str]], "np.ndarray"]
"""Texts → L2-normalised vectors (the workspace embedder, ``kind="query"``)."""

_RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    (
        "agent",
        "an arithmetic expression",
        re.compile(r"\d[\d,.]*\s*(?:[-+*/×x^]|times|plus|minus|divided by)\s*\(?\d[\d,.]*"),
    ),
    (
        "agent",
        "a percentage of a figure",
        re.compile(r"\d[\d,.]*\s*(?:%|percent)(?=.*\d)|\d.*\d[\d,.]*\s*(?:%|percent)", re.I),
    ),
    (
        "agent",
        "a quantity at a unit price",
        re.compile(r"\b\d+\s+[a-z][\w-]*(?:\s+[a-z][\w-]*)?\s+(?:at|@|for)\s+[\d,.]+", re.I),
    ),
    (
        "agent",
        "a calculation word",
        re.compile(
            r"\b(calculate|compute|sum (?:of|up)|add up|total (?:cost|price|of)|average|"
            r"how many (?:days|hours|weeks|months|years) (?:between|from|until)|"
            r"percent(?:age)? (?:of|change)|convert)\b",
            re.I,
        ),
    ),
    (
        "agent",
        "a database question",
        re.compile(r"\b(sql|database|in the (?:table|db)|rows? (?:where|with)|query the)\b", re.I),
    ),
    ("agent", "a web address", re.compile(r"https?://|\bfetch\b", re.I)),
    (
        "agent",
        "several steps",
        re.compile(
            r"\b(and then|step by step|first find|compare .+ (?:and|with) |"
            r"which (?:of|one of) .+ (?:older|newer|larger|smaller|bigger|cheaper|more|less))\b",
            re.I,
        ),
    ),
    (
        "finetuned",
        "a writing or format request",
        re.compile(
            r"^\s*(?:please\s+)?(write|draft|rewrite|rephrase|compose|reply to|respond to|"
            r"summari[sz]e .+ in|format)\b|\b(in (?:our|the) (?:house )?style|tone of voice|"
            r"as a template|email to)\b",
            re.I,
        ),
    ),
)


@dataclass(frozen=True)
class Example:
    """A labelled example question for the similarity step."""

    text: str
    route: str


@dataclass(frozen=True)
class Decision:
    """Where a question goes, which step decided, and why in words."""

    route: str
    step: str  # "rules" | "examples" | "fallback"
    reason: str
    scores: Mapping[str, float]


def load_examples(path: Path | str | None = None) -> list[Example]:
    """The shipped example questions, plus those in ``path`` (JSONL: ``{"text", "route"}``)."""
    shipped = resources.files("expertly.answer").joinpath("router_examples.jsonl")
    examples = _parse_examples(shipped.read_text(encoding="utf-8"), "router_examples.jsonl")
    if path:
        file = Path(path).expanduser()
        if not file.is_file():
            raise ConfigError(f"router.examples: {file} does not exist; point it to a JSONL file")
        examples += _parse_examples(file.read_text(encoding="utf-8"), str(file))
    return examples


def _parse_examples(text: str, where: str) -> list[Example]:
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            example = Example(str(row["text"]).strip(), str(row["route"]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(
                f'{where}, line {number}: expected {{"text": ..., "route": ...}} ({exc})'
            ) from None
        if example.route not in ROUTES:
            raise ConfigError(
                f"{where}, line {number}: route {example.route!r} is not one of {', '.join(ROUTES)}"
            )
        out.append(example)
    return out


class RouteClassifier:
    """Rules, then nearest labelled examples, then the fallback route."""

    def __init__(
        self,
        examples: Sequence[Example] = (),
        embed: Embed | None = None,
        *,
        k: int = 5,
        min_similarity: float = 0.45,
        fallback: str = "rag",
        rules: bool = True,
        relevance: Callable[[str], float] | None = None,
        min_relevance: float = 0.2,
    ) -> None:
        if fallback not in ROUTES:
            raise ConfigError(f"router.fallback must be one of {', '.join(ROUTES)}")
        self.examples = list(examples)
        self.embed = embed if self.examples else None
        self.k = max(1, k)
        self.min_similarity = min_similarity
        self.fallback = fallback
        self.rules = rules
        self.relevance = relevance
        self.min_relevance = min_relevance
        self._matrix: np.ndarray | None = None

    def classify(self, question: str) -> Decision:
        """The route for ``question`` and the reason, in words."""
        if self.rules:
            for route, what, pattern in _RULES:
                match = pattern.search(question)
                if match:
                    return Decision(
                        route, "rules", f"rule: {what} ({match.group(0).strip()!r})", {route: 1.0}
                    )
        decision = self._nearest(question) if self.embed is not None else None
        if decision is not None and decision.route not in ("rag", "base"):
            return decision
        if self.relevance is not None:
            best = self.relevance(question)
            route = "rag" if best >= self.min_relevance else "base"
            side = ">=" if route == "rag" else "<"
            why = f"best passage similarity {best:.2f} {side} {self.min_relevance}"
            if decision is not None:
                why = f"{decision.reason}; {why}"
            return Decision(route, "index", why, {**decision.scores} if decision else {})
        if decision is not None:
            return decision
        return Decision(self.fallback, "fallback", f"no rule or close example: {self.fallback}", {})

    def _nearest(self, question: str) -> Decision | None:
        import numpy as np

        assert self.embed is not None
        if self._matrix is None:
            self._matrix = np.asarray(self.embed([e.text for e in self.examples]), dtype=np.float32)
        vector = np.asarray(self.embed([question]), dtype=np.float32)[0]
        sims = self._matrix @ vector
        top = np.argsort(-sims)[: self.k]
        if float(sims[top[0]]) < self.min_similarity:
            return None
        scores: dict[str, float] = {}
        for i in top:
            sim = float(sims[i])
            if sim >= self.min_similarity:
                route = self.examples[i].route
                scores[route] = scores.get(route, 0.0) + sim
        route = max(scores, key=lambda r: scores[r])
        best = self.examples[int(top[0])]
        return Decision(
            route,
            "examples",
            f"nearest examples vote {route} (closest: {best.text!r}, similarity "
            f"{float(sims[top[0]]):.2f})",
            {r: round(s, 4) for r, s in scores.items()},
        )


class Router:
    """An Answerer that classifies each question and delegates to the chosen route."""

    def __init__(
        self,
        answerers: Mapping[str, Answerer],
        classifier: RouteClassifier,
        *,
        fallback: str = "rag",
    ) -> None:
        if fallback not in answerers:
            raise ConfigError(f"the router's fallback route {fallback!r} has no answerer")
        self.answerers = dict(answerers)
        self.classifier = classifier
        self.fallback = fallback

    def route(self, question: str) -> tuple[str, str, Decision]:
        """(route used, reason, the classifier's decision) for ``question``."""
        decision = self.classifier.classify(question)
        if decision.route in self.answerers:
            return decision.route, decision.reason, decision
        reason = (
            f"{decision.reason}; route {decision.route!r} is not available in this workspace "
            f"({_unavailable_hint(decision.route)}), so {self.fallback!r} answers"
        )
        return self.fallback, reason, decision

    def answer(self, question: str, *, principal: Principal | None = None) -> Answer:
        started = time.perf_counter()
        route, reason, decision = self.route(question)
        routed = time.perf_counter() - started
        answer = self.answerers[route].answer(question, principal=principal)
        return self._routed(answer, route, reason, decision, routed)

    def stream(
        self, question: str, *, principal: Principal | None = None
    ) -> Iterator[str | Answer]:
        """``answer`` streamed by the chosen route when it streams (rag, base, finetuned,
        hybrid), whole then in pieces when it does not (the agent); ``StreamAnswering``."""
        started = time.perf_counter()
        route, reason, decision = self.route(question)
        routed = time.perf_counter() - started
        for item in stream_answer(self.answerers[route], question, principal=principal):
            if isinstance(item, Answer):
                item = self._routed(item, route, reason, decision, routed)
            yield item

    def choose(
        self, question: str, choices: Sequence[str], *, principal: Principal | None = None
    ) -> Answer:
        """Answer with one of ``choices`` by the route the classifier picks; a route that
        cannot choose (the agent) answers in free text, mapped to the first choice it names."""
        started = time.perf_counter()
        route, reason, decision = self.route(question)
        routed = time.perf_counter() - started
        inner = self.answerers[route]
        if isinstance(inner, ChoiceAnswering):
            answer = inner.choose(question, choices, principal=principal)
        else:
            answer = inner.answer(choice_prompt(question, choices), principal=principal)
        return self._routed(answer, route, reason, decision, routed)

    def _routed(
        self, answer: Answer, route: str, reason: str, decision: Decision, routed: float
    ) -> Answer:
        step = TraceStep(
            "route",
            {
                "route": route,
                "classified": decision.route,
                "step": decision.step,
                "reason": reason,
                "scores": dict(decision.scores),
            },
            seconds=routed,
        )
        timings = {"route": routed, **answer.timings}
        return replace(
            answer, trace=(step, *answer.trace), timings=timings, reason=_join(reason, answer)
        )


def _join(reason: str, answer: Answer) -> str:
    return f"router: {reason}" + (f"; {answer.reason}" if answer.reason else "")


def _unavailable_hint(route: str) -> str:
    hints: dict[str, Any] = {
        "finetuned": "train one with `expertly finetune` and set router.model",
        "agent": "enable it with router.routes",
        "base": "enable it with router.routes",
        "rag": "enable it with router.routes",
    }
    return str(hints.get(route, "not configured"))
