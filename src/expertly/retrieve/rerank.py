"""Reranking: a second, slower look at the best fused hits.

A ``Reranker`` re-scores a short list of hits for one query and returns the best ``k``.
Backends register by name (``register_reranker``); the model-backed ones live in
``expertly.retrieve.rerankers`` and load torch only when a model loads (through
``expertly.embed.st``), so ``import expertly`` never does:

- ``cross-encoder``: a sentence-transformers CrossEncoder loaded from a local directory
  (``retrieval.rerank_model``); expertly downloads no model and ships none.
- ``maxsim``: late interaction, the sum over query tokens of the best cosine with any
  passage token, from the token embeddings of a sentence-transformers model (default: the
  packaged MiniLM).
- ``llm``: the workspace's language model judges each candidate ("does this passage
  answer the question? Yes or No"); it needs the LLM handed to ``create_reranker``.

The Retriever applies the configured one after fusion (``retrieval.rerank``,
``retrieval.rerank_candidates``). ``retrieval.rerank_weight`` below 1 mixes the reranker's
scores with the fused ones (``Interpolated``), whatever the backend.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from expertly.config import RetrievalSettings
from expertly.errors import ConfigError
from expertly.generate import LLM
from expertly.retrieve.rerankers import (
    CrossEncoderReranker,
    MaxSimReranker,
    passage_text,
    rescored,
)
from expertly.types import Hit, Message

__all__ = [
    "ChoiceScorer",
    "Interpolated",
    "LLMReranker",
    "LLMSource",
    "Reranker",
    "RerankerFactory",
    "create_reranker",
    "parse_verdict",
    "passage_text",
    "register_llm_reranker",
    "register_reranker",
    "reranker_names",
    "rescored",
]


@runtime_checkable
class Reranker(Protocol):
    """Re-scores hits for a query."""

    name: str

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        """The best ``k`` of ``hits`` for ``query``, best first, with ``score`` set to the
        reranker's score and ``scores["rerank"]`` / ``ranks["rerank"]`` recorded."""
        ...


RerankerFactory = Callable[[RetrievalSettings], Reranker]


class Interpolated:
    """Any reranker, its scores mixed with the incoming (fused) ones: ``weight`` of the
    min-max normalised reranker score plus ``1 - weight`` of the normalised fused score
    (``rescored``). Built by ``create_reranker`` when ``retrieval.rerank_weight`` < 1."""

    def __init__(self, inner: Reranker, weight: float) -> None:
        self.inner = inner
        self.weight = weight
        self.name = inner.name

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        if not hits:
            return []
        ranked = self.inner.rerank(query, hits, len(hits))
        raw = {h.chunk.id: h.scores.get("rerank") for h in ranked}
        missing = [h.chunk.id for h in hits if raw.get(h.chunk.id) is None]
        if missing:
            raise ValueError(
                f"reranker {self.inner.name!r} returned no 'rerank' score for {missing[:3]}: "
                "a Reranker must score every hit it is given (use rescored())"
            )
        return rescored(hits, [float(raw[h.chunk.id] or 0.0) for h in hits], k, weight=self.weight)


LLMSource = LLM | Callable[[], LLM]
"""A language model, or a function that builds it when it is first needed."""
LLMRerankerFactory = Callable[[RetrievalSettings, LLMSource], Reranker]

JUDGE_PROMPT = (
    "Passage:\n{passage}\n\nQuestion: {question}\n\n"
    "Does the passage answer the question, or give evidence about it? Answer Yes or No."
)


@runtime_checkable
class ChoiceScorer(Protocol):
    """An LLM that can give the log-probability of each of a few answers (a graded
    judgement instead of one generated word)."""

    def choice_logprobs(self, messages: Sequence[Message], choices: Sequence[str]) -> list[float]:
        """log P(choice | messages) for each choice, as the first words of the reply."""
        ...


_VERDICT = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def parse_verdict(text: str) -> float | None:
    """1.0 for a reply whose first yes/no word is "yes", 0.0 for "no", None for neither."""
    found = _VERDICT.search(text)
    if found is None:
        return None
    return 1.0 if found.group(1).lower() == "yes" else 0.0


class LLMReranker:
    """LLM-as-judge: asks the model, for each candidate, whether the passage answers the
    question, and scores it by the answer.

    With an LLM that is a ``ChoiceScorer`` the score is log P(Yes) - log P(No); otherwise
    the model writes a few words (greedy) and the first yes/no among them counts 1 or 0
    (neither: 0.5, counted in ``unparsed``; ``accepted`` counts the yeses). Equal scores
    keep the fused order, so a plain yes/no judge moves the passages it accepts ahead of
    the ones it rejects. One model call per candidate: meant for a few candidates
    (``retrieval.rerank_candidates`` 5-10).
    """

    name = "llm"

    def __init__(self, llm: LLMSource, *, max_chars: int = 1500, max_tokens: int = 3) -> None:
        self._source = llm
        self._llm: LLM | None = llm if isinstance(llm, LLM) else None
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self.calls = 0
        self.accepted = 0
        self.unparsed = 0

    @property
    def llm(self) -> LLM:
        """The model (built now if it was given as a function)."""
        if self._llm is None:
            source = self._source
            self._llm = source if isinstance(source, LLM) else source()
        return self._llm

    def messages(self, query: str, hit: Hit) -> list[Message]:
        """The judging prompt for one candidate (the passage cut at ``max_chars``)."""
        passage = passage_text(hit)[: self.max_chars]
        return [Message("user", JUDGE_PROMPT.format(passage=passage, question=query))]

    def judge(self, query: str, hit: Hit) -> float:
        """The score of one candidate."""
        llm, messages = self.llm, self.messages(query, hit)
        self.calls += 1
        if isinstance(llm, ChoiceScorer):
            yes, no = llm.choice_logprobs(messages, ("Yes", "No"))
            return float(yes - no)
        reply = llm.generate(messages, max_tokens=self.max_tokens, temperature=0.0)
        verdict = parse_verdict(reply.text)
        if verdict is None:
            self.unparsed += 1
            return 0.5
        self.accepted += int(verdict == 1.0)
        return verdict

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        if not hits:
            return []
        return rescored(hits, [self.judge(query, h) for h in hits], k)


def _cross_encoder(settings: RetrievalSettings) -> Reranker:
    return CrossEncoderReranker(settings.rerank_model)


def _maxsim(settings: RetrievalSettings) -> Reranker:
    return MaxSimReranker(settings.rerank_model)


def _llm(settings: RetrievalSettings, llm: LLMSource) -> Reranker:
    return LLMReranker(llm)


_RERANKERS: dict[str, RerankerFactory] = {
    "cross-encoder": _cross_encoder,
    "maxsim": _maxsim,
}
_LLM_RERANKERS: dict[str, LLMRerankerFactory] = {"llm": _llm}


def register_reranker(name: str, factory: RerankerFactory) -> None:
    """Make a reranker selectable as ``retrieval.rerank = name`` (plugins and tests use the
    same path as the built-ins; a later registration replaces an earlier one)."""
    _LLM_RERANKERS.pop(name, None)
    _RERANKERS[name] = factory


def register_llm_reranker(name: str, factory: LLMRerankerFactory) -> None:
    """Like ``register_reranker`` for a reranker that asks a language model: its factory
    also gets the LLM (or a function that builds it) given to ``create_reranker``."""
    _RERANKERS.pop(name, None)
    _LLM_RERANKERS[name] = factory


def reranker_names() -> list[str]:
    """Every registered reranker name."""
    return [*_RERANKERS, *_LLM_RERANKERS]


def create_reranker(
    settings: RetrievalSettings, *, llm: LLM | Callable[[], LLM] | None = None
) -> Reranker | None:
    """The reranker named by ``retrieval.rerank``, or None when it is empty (off), wrapped
    in ``Interpolated`` when ``retrieval.rerank_weight`` < 1.

    ``llm`` (an LLM, or a function that builds one on first use) is what LLM-backed
    rerankers ask; the others ignore it.
    """
    if not settings.rerank:
        return None
    reranker: Reranker
    if settings.rerank in _LLM_RERANKERS:
        if llm is None:
            raise ConfigError(
                f"retrieval.rerank = {settings.rerank!r} asks a language model, but this "
                "search was set up without one: pass llm= to "
                "expertly.retrieve.rerank.create_reranker (or the Retriever's reranker=), "
                "or choose another reranker"
            )
        reranker = _LLM_RERANKERS[settings.rerank](settings, llm)
    elif settings.rerank in _RERANKERS:
        reranker = _RERANKERS[settings.rerank](settings)
    else:
        raise ConfigError(
            f"retrieval.rerank = {settings.rerank!r} is unknown; valid: '' (off), "
            f"{', '.join(reranker_names())}"
        )
    return (
        Interpolated(reranker, settings.rerank_weight) if settings.rerank_weight < 1 else reranker
    )
