"""Multi-hop retrieval: questions whose answer needs two passages, the second found via the first.

"What position did the actress who played Corliss Archer in *Kiss and Tell* hold?" — the
question names the film, the film's passage names the actress, and only the actress's
passage holds the answer. One search with the question's words rarely finds that second
passage. ``retrieval.multihop`` chooses how to reach it:

* ``iterate`` — search the question; read the top ``multihop_read`` passages; take their
  *bridge entities* (names that the question does not contain: capitalised spans of the
  text, or with ``multihop_llm`` one follow-up query written by the LLM); search each as a
  follow-up query; repeat up to ``multihop_hops`` rounds in all;
* ``decompose`` — first search the question's own parts (the named entities it mentions,
  e.g. both sides of "Were X and Y of the same nationality?", or with ``multihop_llm``
  sub-questions written by the LLM), then iterate from what they found.

The passages the follow-up queries reach (each query's best hit, in the order the queries
were made) form a second ranking, fused with the question's own by weighted reciprocal rank
(``multihop_weight``, 0.5 against the question's 1): a reached passage that the question
also ranks well rises to the top, one it ranks nowhere still enters the list, and the
question's own best hits are not pushed out. The first round runs through the query
rewriter, so rewriting and multi-hop combine.
"""

from __future__ import annotations

import enum
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from expertly.config import RetrievalSettings
from expertly.retrieve.hybrid import STOPWORDS
from expertly.retrieve.rewrite import (
    EXAMPLE_QUESTION,
    ExpandedResult,
    QueryRewriter,
    RewriteMode,
    RewritingRetriever,
    ask,
    fuse_rankings,
    parse_queries,
)
from expertly.types import Filters, Hit

if TYPE_CHECKING:
    from expertly.generate import LLM
    from expertly.retrieve.hybrid import Retriever


class MultiHopMode(enum.Enum):
    """How retrieval reaches passages the question does not describe."""

    OFF = "off"
    ITERATE = "iterate"
    DECOMPOSE = "decompose"

    @classmethod
    def from_str(cls, value: str) -> MultiHopMode:
        try:
            return cls(value.lower())
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ValueError(f"Unknown multi-hop mode {value!r}; valid: {valid}") from None


# One made-up worked example each (see rewrite.py: small models need the format shown).
FOLLOWUP_PROMPT = "You decide what to look up next to answer a question."
FOLLOWUP_REQUEST = (
    "Passages:\n{passages}\n\nQuestion: {question}\nWhat to look up next, in a few words?"
)
FOLLOWUP_EXAMPLE = (
    FOLLOWUP_REQUEST.format(
        passages="(Harbor Lights) Harbor Lights is a 1961 novel by the writer Anna Berg, set in "
        "a fishing town.",
        question=EXAMPLE_QUESTION,
    ),
    "Anna Berg",
)
DECOMPOSE_PROMPT = "You split a question into simpler questions that can be looked up one by one."
DECOMPOSE_REQUEST = "Question: {question}\nWrite the simpler questions, one per line."
DECOMPOSE_EXAMPLE = (
    DECOMPOSE_REQUEST.format(
        question="Is the author of Harbor Lights older than the director of Night Train?"
    ),
    "Who wrote Harbor Lights?\nWho directed Night Train?",
)
FOLLOWUP_TOKENS = 16
DECOMPOSE_TOKENS = 48

# A name: capitalised words on one line, possibly joined by short lowercase links ("Bank of
# England", "Leonardo da Vinci") and digits ("Apollo 11"); quoted titles count as well.
_NAME = re.compile(
    r"\b[A-Z][\w'’&.-]*(?:[ \t]+(?:(?:of|the|de|da|del|der|di|du|la|le|van|von|y)[ \t]+)*"
    r"(?:[A-Z][\w'’&.-]*|\d[\w-]*))*"
)
_QUOTED = re.compile(r"[\"“]([^\"”]{2,80})[\"”]")
_SENTENCE_END = re.compile(r"(?<=\w\w\w)\.\s+")
_POSSESSIVE = re.compile(r"['’]s?$")
_WORD = re.compile(r"\w+")
_PASSAGE_WORDS = 120
CACHE_SIZE = 512
FOLLOW_DEPTH = 1
"""Hits kept per follow-up query: the passage a name leads to is its best hit; deeper hits
of a bare name were measured to add noise (HotpotQA, docs/evaluation.md)."""


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def names_in(text: str) -> list[str]:
    """Capitalised spans and quoted titles of ``text``, in order, each once.

    A single capitalised function word ("The", "In", "He") is not a name; a trailing
    period is dropped ("Inc." stays, "England." loses it).
    """
    found: list[str] = []
    for match in list(_QUOTED.finditer(text)) + list(_NAME.finditer(text)):
        text_span = match.group(1) if match.re is _QUOTED else match.group(0)
        # A sentence end inside the span ("Landau. Sarah") splits it; initials ("J. R.") don't.
        for piece in _SENTENCE_END.split(text_span):
            span = _POSSESSIVE.sub("", piece.strip().rstrip(",;:."))
            words = span.split()
            if words and words[0].lower() in STOPWORDS:
                words = words[1:]  # "The Beatles" → "Beatles"; "In Paris" → "Paris"
            span = " ".join(words)
            if words and span not in found and not all(w.lower() in STOPWORDS for w in words):
                found.append(span)
    return found


def bridge_entities(question: str, hits: Sequence[Hit], read: int, limit: int) -> list[str]:
    """Names in the top ``read`` passages that the question does not already mention.

    Names from the best passage come first; a name whose words all occur in the question,
    or that is the title of a passage already read, leads nowhere new and is skipped.
    """
    asked = _words(question)
    known = {h.title.lower() for h in hits[:read] if h.title}
    out: list[str] = []
    for hit in hits[:read]:
        for name in names_in(hit.chunk.text):
            words = _words(name)
            if words <= asked or name.lower() in known or name in out:
                continue
            out.append(name)
            if len(out) == limit:
                return out
    return out


def question_parts(question: str) -> list[str]:
    """The named entities a question mentions: the parts a comparison is made of."""
    return names_in(question)


def needs_llm(settings: RetrievalSettings) -> bool:
    """Whether these settings make retrieval call a language model (an LLM rewrite, or
    LLM-written follow-ups): callers then build one to hand to ``MultiHopRetriever``."""
    return RewriteMode.from_str(settings.rewrite).needs_llm or settings.multihop_llm


class MultiHopRetriever:
    """Retrieves in rounds; each round searches what the previous one revealed."""

    def __init__(
        self,
        retriever: Retriever,
        settings: RetrievalSettings,
        *,
        llm: LLM | None = None,
        rewriter: QueryRewriter | None = None,
    ) -> None:
        self.retriever = retriever
        self.settings = settings
        self.mode = MultiHopMode.from_str(settings.multihop)
        if settings.multihop_llm and llm is None:
            raise ValueError("retrieval.multihop_llm = true needs a language model")
        self.llm = llm
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.first = RewritingRetriever(retriever, rewriter or QueryRewriter(settings, llm))

    def search(
        self, question: str, *, k: int | None = None, filters: Filters | None = None
    ) -> ExpandedResult:
        """The top ``k`` chunks after up to ``retrieval.multihop_hops`` rounds, fused."""
        k = k or self.settings.k
        first = self.first.search(question, k=k, filters=filters)
        if self.mode is MultiHopMode.OFF:
            return first
        timings = dict(first.timings)
        steps: list[dict[str, Any]] = list(first.steps)
        queries: list[str] = list(first.queries)
        llm_calls = first.llm_calls
        reached: dict[str, Hit] = {}  # best hit of each follow-up query, in query order
        current = list(first.hits)
        seen = {question.strip().lower(), *(q.lower() for q in queries)}
        for hop in range(2, self.settings.multihop_hops + 1):
            t0 = time.perf_counter()
            if hop == 2 and self.mode is MultiHopMode.DECOMPOSE:
                follow, calls = self._parts(question)
                source = "llm sub-questions" if self.settings.multihop_llm else "question names"
            else:
                follow, calls = self._follow_ups(question, current)
                source = "llm follow-up" if self.settings.multihop_llm else "bridge entities"
            llm_calls += calls
            timings["multihop_plan"] = timings.get("multihop_plan", 0.0) + (
                time.perf_counter() - t0
            )
            follow = [q for q in follow if q.lower() not in seen][: self.settings.multihop_queries]
            seen.update(q.lower() for q in follow)
            queries.extend(follow)
            found: list[Hit] = []
            for query in follow:
                result = self.retriever.search(query, k=FOLLOW_DEPTH, filters=filters)
                for stage, seconds in result.timings.items():
                    timings[stage] = timings.get(stage, 0.0) + seconds
                for hit in result.hits:
                    if hit.chunk.id not in reached:
                        reached[hit.chunk.id] = hit
                        found.append(hit)
            steps.append(
                {
                    "hop": hop,
                    "source": source,
                    "queries": follow,
                    "reached": [h.chunk.id for h in found],
                }
            )
            if not found:
                break
            current = found  # the next round reads what this one reached
        hits = fuse_rankings(
            [first.hits, list(reached.values())],
            [1.0, self.settings.multihop_weight],
            rrf_k=self.settings.rrf_k,
        )
        return ExpandedResult(hits[:k], timings, tuple(queries), steps, llm_calls)

    def _follow_ups(self, question: str, hits: Sequence[Hit]) -> tuple[list[str], int]:
        read = self.settings.multihop_read
        if not self.settings.multihop_llm:
            return bridge_entities(question, hits, read, self.settings.multihop_queries), 0
        passages = "\n\n".join(
            f"({h.title or h.chunk.doc_id}) {' '.join(h.chunk.text.split()[:_PASSAGE_WORDS])}"
            for h in hits[:read]
        )
        request = FOLLOWUP_REQUEST.format(passages=passages, question=question)
        reply = self._ask(FOLLOWUP_PROMPT, FOLLOWUP_EXAMPLE, request, FOLLOWUP_TOKENS)
        return parse_queries(reply, question, 1), 1

    def _parts(self, question: str) -> tuple[list[str], int]:
        if not self.settings.multihop_llm:
            return question_parts(question), 0
        request = DECOMPOSE_REQUEST.format(question=question)
        reply = self._ask(DECOMPOSE_PROMPT, DECOMPOSE_EXAMPLE, request, DECOMPOSE_TOKENS)
        return parse_queries(reply, question, self.settings.multihop_queries), 1

    def _ask(self, system: str, example: tuple[str, str], user: str, tokens: int) -> str:
        """One LLM call, cached: the same question over the same passages asks once."""
        assert self.llm is not None  # checked in __init__
        key = (system, user)
        if key not in self._cache:
            tokens = min(tokens, self.settings.rewrite_tokens)
            self._cache[key] = ask(self.llm, system, example, user, tokens)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return self._cache[key]
