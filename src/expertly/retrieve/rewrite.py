"""Query rewriting: search with more than the question's own words, then fuse.

``retrieval.rewrite`` picks the strategy once:

* ``none`` — the question alone (the default);
* ``multi`` — the LLM writes ``retrieval.rewrite_queries`` alternative queries in one call;
  the question and every alternative are searched and the rankings fused by reciprocal rank;
* ``hyde`` — the LLM writes a short hypothetical passage that would answer the question
  (HyDE, Gao et al. 2022); the passage is searched like a question and fused with the
  question's own ranking, so an answer-shaped text meets answer-shaped chunks;
* ``keywords`` — no LLM: the question's content words (function words dropped) are searched
  as a second query, fused with the question's ranking.

The LLM is called at most once per question and its output is cached per question, so a
repeated question (``chat``, evaluation warm-up) costs nothing. Every query actually run is
reported, so the user sees what was searched (``Answer.rewrites``).
"""

from __future__ import annotations

import enum
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from expertly.config import RetrievalSettings
from expertly.retrieve.hybrid import keyword_query
from expertly.types import Filters, Hit, Message

if TYPE_CHECKING:
    from expertly.generate import LLM
    from expertly.retrieve.hybrid import Retriever


class RewriteMode(enum.Enum):
    """How a question is rewritten before searching."""

    NONE = "none"
    MULTI = "multi"
    HYDE = "hyde"
    KEYWORDS = "keywords"

    @classmethod
    def from_str(cls, value: str) -> RewriteMode:
        try:
            return cls(value.lower())
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ValueError(f"Unknown rewrite mode {value!r}; valid: {valid}") from None

    @property
    def needs_llm(self) -> bool:
        return self in (RewriteMode.MULTI, RewriteMode.HYDE)


# Prompts for small local models: one worked example (a made-up one, about no real data
# set) shows the format far better than instructions alone. Measured with SmolLM2-135M:
# with instructions only it answered the question instead of writing queries.
EXAMPLE_QUESTION = "Where was the author of the novel Harbor Lights born?"
MULTI_PROMPT = "You write search queries for a document search engine."
MULTI_REQUEST = "Question: {question}\nWrite {n} search queries, one per line."
MULTI_EXAMPLE = (
    "Harbor Lights novel author\nwho wrote Harbor Lights\nbirthplace of the Harbor Lights writer"
)
HYDE_PROMPT = "You write short encyclopedia paragraphs that answer questions."
HYDE_EXAMPLE = (
    "Harbor Lights is a 1961 novel by the writer Anna Berg. Berg was born in Bergen, "
    "Norway, and later moved to Oslo, where she wrote it."
)
MULTI_TOKENS = 48
HYDE_TOKENS = 80


def ask(llm: LLM, system: str, example: tuple[str, str], user: str, max_tokens: int) -> str:
    """One greedy LLM call: the system prompt, one worked example exchange, the request."""
    messages = [
        Message("system", system),
        Message("user", example[0]),
        Message("assistant", example[1]),
        Message("user", user),
    ]
    return llm.generate(messages, max_tokens=max_tokens, temperature=0.0).text.strip()


_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)]|query\s*\d*\s*:)\s*", re.IGNORECASE)
_MAX_QUERY_WORDS = 30


def parse_queries(text: str, question: str, n: int) -> list[str]:
    """Up to ``n`` distinct queries from an LLM reply: one per line, list marks and quotes
    removed, the question itself, empty and overlong lines dropped."""
    seen = {question.strip().lower()}
    queries: list[str] = []
    for line in text.splitlines():
        query = _LIST_MARK.sub("", line).strip().strip("\"'").strip()
        if not query or len(query.split()) > _MAX_QUERY_WORDS or query.lower() in seen:
            continue
        seen.add(query.lower())
        queries.append(query)
        if len(queries) == n:
            break
    return queries


def fuse_rankings(
    rankings: Sequence[Sequence[Hit]], weights: Sequence[float], *, rrf_k: int
) -> list[Hit]:
    """Weighted reciprocal rank fusion of whole rankings, keyed by chunk id.

    A chunk's fused score is the sum over the rankings that hold it of
    ``weight / (rrf_k + rank)``; the first ranking that holds a chunk supplies its Hit
    (so the original question's scores stay visible), with ``scores["fused"]`` replaced.
    """
    if len(rankings) != len(weights):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    first: dict[str, Hit] = {}
    total: dict[str, float] = {}
    best: dict[str, int] = {}
    for hits, weight in zip(rankings, weights, strict=True):
        for rank, hit in enumerate(hits, start=1):
            cid = hit.chunk.id
            first.setdefault(cid, hit)
            total[cid] = total.get(cid, 0.0) + weight / (rrf_k + rank)
            best[cid] = min(best.get(cid, rank), rank)
    order = sorted(total, key=lambda c: (-total[c], best[c], c))
    return [
        replace(first[c], score=total[c], scores={**first[c].scores, "fused": total[c]})
        for c in order
    ]


@dataclass(frozen=True)
class Rewrite:
    """What rewriting produced for one question: extra queries, and for HyDE the passage."""

    queries: tuple[str, ...] = ()
    passage: str = ""
    llm_calls: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class ExpandedResult:
    """Hits of a search that ran more than one query.

    ``queries`` are every query run besides the question itself, in order; ``steps`` one
    record per stage for the answer's trace; ``llm_calls`` the model calls spent.
    """

    hits: list[Hit]
    timings: dict[str, float]
    queries: tuple[str, ...] = ()
    steps: list[dict[str, Any]] = field(default_factory=list)
    llm_calls: int = 0


class QueryRewriter:
    """Rewrites questions with one LLM call each (cached), or without an LLM (``keywords``)."""

    def __init__(
        self, settings: RetrievalSettings, llm: LLM | None = None, *, cache_size: int = 256
    ) -> None:
        self.settings = settings
        self.mode = RewriteMode.from_str(settings.rewrite)
        if self.mode.needs_llm and llm is None:
            raise ValueError(f"retrieval.rewrite = {self.mode.value!r} needs a language model")
        self.llm = llm
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], Rewrite] = OrderedDict()

    def rewrite(self, question: str) -> Rewrite:
        """The extra queries for ``question`` (none for mode ``none``); cached per question."""
        key = (self.mode.value, question)
        if key in self._cache:
            self._cache.move_to_end(key)
            hit = self._cache[key]
            return replace(hit, llm_calls=0, seconds=0.0)
        started = time.perf_counter()
        result = self._rewrite(question)
        result = replace(result, seconds=time.perf_counter() - started)
        self._cache[key] = result
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result

    def _rewrite(self, question: str) -> Rewrite:
        if self.mode is RewriteMode.NONE:
            return Rewrite()
        if self.mode is RewriteMode.KEYWORDS:
            words = keyword_query(question)
            return Rewrite(queries=(words,) if words.lower() != question.lower() else ())
        assert self.llm is not None  # checked in __init__
        n = self.settings.rewrite_queries
        cap = self.settings.rewrite_tokens
        if self.mode is RewriteMode.MULTI:
            reply = ask(
                self.llm,
                MULTI_PROMPT,
                (MULTI_REQUEST.format(question=EXAMPLE_QUESTION, n=3), MULTI_EXAMPLE),
                MULTI_REQUEST.format(question=question, n=n),
                min(cap, MULTI_TOKENS),
            )
            return Rewrite(queries=tuple(parse_queries(reply, question, n)), llm_calls=1)
        reply = ask(
            self.llm,
            HYDE_PROMPT,
            (f"Question: {EXAMPLE_QUESTION}", HYDE_EXAMPLE),
            f"Question: {question}",
            min(cap, HYDE_TOKENS),
        )
        passage = " ".join(reply.split())
        return Rewrite(queries=(passage,) if passage else (), passage=passage, llm_calls=1)


class RewritingRetriever:
    """Searches the question and its rewrites and fuses the rankings (one hop)."""

    def __init__(self, retriever: Retriever, rewriter: QueryRewriter) -> None:
        self.retriever = retriever
        self.rewriter = rewriter

    def search(
        self, question: str, *, k: int | None = None, filters: Filters | None = None
    ) -> ExpandedResult:
        """The top ``k`` chunks for ``question`` and its rewrites, fused."""
        settings = self.retriever.settings
        k = k or settings.k
        rewrite = self.rewriter.rewrite(question)
        timings = {"rewrite": rewrite.seconds} if rewrite.llm_calls else {}
        first = self.retriever.search(question, k=k, filters=filters)
        for stage, seconds in first.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        if not rewrite.queries:
            return ExpandedResult(first.hits, timings)
        rankings = [first.hits]
        for query in rewrite.queries:
            result = self.retriever.search(query, k=k, filters=filters)
            rankings.append(result.hits)
            for stage, seconds in result.timings.items():
                timings[stage] = timings.get(stage, 0.0) + seconds
        # The question keeps as much say as all rewrites together: a poor rewrite from a
        # small model then cannot push the question's own best hits out of the top.
        share = 1.0 / len(rewrite.queries)
        hits = fuse_rankings(rankings, [1.0] + [share] * len(rewrite.queries), rrf_k=settings.rrf_k)
        step = {"mode": self.rewriter.mode.value, "queries": list(rewrite.queries)}
        return ExpandedResult(
            hits[:k], timings, rewrite.queries, steps=[step], llm_calls=rewrite.llm_calls
        )
