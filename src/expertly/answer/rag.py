"""The RAG route: retrieve, budget the context, prompt with numbered sources, cite.

The prompt asks the model to answer only from the numbered sources and to cite them as
``[1]``; every marker in the reply is mapped back to the document, chunk and character span
it stands for. When retrieval finds nothing relevant the answerer abstains without calling
the model, and when the model itself says the sources do not contain the answer the Answer
is marked ``abstained``.

Retrieval runs through the ``expander`` the Workspace hands in (a ``MultiHopRetriever``
built from the same settings: query rewriting and follow-up rounds when ``retrieval.rewrite``
or ``retrieval.multihop`` ask for them); every extra query it ran is in ``Answer.rewrites``
and each stage in the trace.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from expertly.answer import Trimmed, batch_note
from expertly.answer.choices import CHOICE_REPLY_TOKENS, choice_answer, choice_prompt, pick
from expertly.answer.citations import resolve
from expertly.answer.prompt import (
    ABSTAIN_TEXT,
    SHORT_SYSTEM_PROMPT,
    STOP,
    SYSTEM_PROMPT,
    build_messages,
)
from expertly.answer.relevance import answer_similarity
from expertly.answer.retrieval import Retrieved, retrieve
from expertly.answer.review import review
from expertly.answer.unheard import proper_names, speaks_of, unheard_of
from expertly.answer.units import Unit, score_units
from expertly.config import AnswerSettings, RetrievalSettings
from expertly.generate import BatchGenerating, Prefilling
from expertly.generate.budget import fit_items
from expertly.generate.streaming import stream_completion, word_pieces
from expertly.retrieve.relevance import irrelevant
from expertly.types import (
    Answer,
    Citation,
    Completion,
    Filters,
    Hit,
    Message,
    Principal,
    Query,
    TraceStep,
)

if TYPE_CHECKING:
    from expertly.generate import LLM
    from expertly.retrieve import Retriever
    from expertly.retrieve.multihop import MultiHopRetriever


@dataclass
class _Prepared:
    """A question retrieved for and budgeted, waiting for the model's reply."""

    question: str
    messages: list[Message]
    used: list[Hit]
    timings: dict[str, float]
    trace: list[TraceStep]
    rewrites: tuple[str, ...]
    seconds: float  # spent retrieving and budgeting
    units: list[Unit]  # scored sentences/rows of ``used`` (none: no check, extract or lead)
    principal: Principal | None = None  # whose documents were searched
    unheard: frozenset[str] = frozenset()  # the question's words no retrieved unit holds


class RagAnswerer:
    """Answers from retrieved chunks of the workspace's documents, with citations.

    ``expander`` runs query rewriting and multi-hop rounds around ``retriever``; without
    one, each question is one search.
    """

    def __init__(
        self,
        retriever: Retriever,
        llm: LLM,
        *,
        retrieval: RetrievalSettings,
        settings: AnswerSettings,
        max_new_tokens: int = 160,
        temperature: float = 0.0,
        route: str = "rag",
        expander: MultiHopRetriever | None = None,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.retrieval = retrieval
        self.settings = settings
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.route = route
        continues = isinstance(llm, Prefilling) and llm.continues_prefill()
        self.prefill = settings.prefill if continues else ""
        default_prompt = SHORT_SYSTEM_PROMPT if self.prefill else SYSTEM_PROMPT
        self.system = settings.system_prompt or default_prompt
        self.expander = expander

    def answer(
        self, question: str, *, principal: Principal | None = None, k: int | None = None
    ) -> Answer:
        """Answer ``question`` from the documents ``principal`` may read."""
        prepared = self._prepare(question, k, principal)
        if isinstance(prepared, Answer):
            return prepared
        t0 = time.perf_counter()
        completion = self.llm.generate(
            prepared.messages,
            max_tokens=self.max_new_tokens,
            temperature=self.temperature,
            stop=STOP,
        )
        return self._finish(prepared, completion, time.perf_counter() - t0, {})

    def stream(
        self, question: str, *, principal: Principal | None = None, k: int | None = None
    ) -> Iterator[str | Answer]:
        """``answer`` as the model generates it (``StreamAnswering``).

        The pieces are the draft as ``answer`` would first see it: the prefill (sent with
        the model's first words, so an empty reply shows nothing), then the model's text,
        white space at its ends held back. The last item is the Answer, built by the same
        ``_finish``: when an abstention or an attributed marker changes the draft, its
        ``text`` differs from the pieces joined. An abstention before the model (nothing
        relevant retrieved) is streamed in word pieces.
        """
        prepared = self._prepare(question, k, principal)
        if isinstance(prepared, Answer):
            yield from word_pieces(prepared.text)
            yield prepared
            return
        t0 = time.perf_counter()
        trim = Trimmed()
        opening: str | None = ""  # the model's text until its first non-blank piece
        for item in stream_completion(
            self.llm,
            prepared.messages,
            max_tokens=self.max_new_tokens,
            temperature=self.temperature,
            stop=STOP,
        ):
            if isinstance(item, Completion):
                yield self._finish(prepared, item, time.perf_counter() - t0, {})
                return
            if opening is not None:
                opening += item
                if not opening.strip():
                    continue  # nothing but white space from the model yet
                item, opening = self.prefill + opening, None
            out = trim.feed(item)
            if out:
                yield out

    def generates_in_batches(self) -> bool:
        """Whether ``answer_batch`` generates in one batch (the model is ``BatchGenerating``)."""
        return isinstance(self.llm, BatchGenerating)

    def answer_batch(
        self,
        questions: Sequence[str],
        *,
        principal: Principal | None = None,
        k: int | None = None,
    ) -> list[Answer]:
        """``answer`` for each question: retrieval one by one, then one batched generation
        for those not abstained on (``BatchGenerating`` models; others answer one by one).
        Each batched answer's ``generate`` time is the batch's wall time / its size."""
        if not isinstance(self.llm, BatchGenerating) or len(questions) < 2:
            return [self.answer(q, principal=principal, k=k) for q in questions]
        prepared = [self._prepare(q, k, principal) for q in questions]
        pending = [p for p in prepared if isinstance(p, _Prepared)]
        if not pending:
            return [p for p in prepared if isinstance(p, Answer)]
        t0 = time.perf_counter()
        completions = self.llm.generate_batch(
            [p.messages for p in pending],
            max_tokens=self.max_new_tokens,
            temperature=self.temperature,
            stop=STOP,
        )
        wall = time.perf_counter() - t0
        note = batch_note(len(pending), wall)
        done = iter(
            [
                self._finish(p, c, wall / len(pending), note)
                for p, c in zip(pending, completions, strict=True)
            ]
        )
        return [next(done) if isinstance(p, _Prepared) else p for p in prepared]

    def _prepare(
        self, question: str, k: int | None, principal: Principal | None
    ) -> Answer | _Prepared:
        """Retrieve and budget the prompt; an abstention (nothing relevant) is already the
        Answer, without the model."""
        started = time.perf_counter()
        question = question.strip()
        found = self._search(question, k, principal)
        hits, timings, trace, rewrites = found.hits, found.timings, found.trace, found.rewrites
        reason = irrelevant(hits, self.retrieval.min_relevance)
        if reason:
            trace.append(TraceStep("abstain", {"reason": reason}))
            timings["total"] = time.perf_counter() - started
            return Answer(
                question,
                ABSTAIN_TEXT,
                hits=tuple(hits),
                trace=tuple(trace),
                timings=timings,
                abstained=True,
                route=self.route,
                model=self.llm.name,
                rewrites=rewrites,
            )

        t0 = time.perf_counter()
        messages, used = fit_items(
            hits,
            lambda items: build_messages(question, items, self.system, self.prefill),
            self.llm,
            answer_tokens=max(self.settings.answer_tokens, self.max_new_tokens),
        )
        timings["budget"] = time.perf_counter() - t0
        if len(used) < len(hits):
            trace.append(TraceStep("budget", {"kept": len(used), "dropped": len(hits) - len(used)}))
        units: list[Unit] = []
        checks = self.settings.support_check or self.settings.fallback == "extract"
        if checks or self.settings.leads:
            t0 = time.perf_counter()
            units = score_units(question, used, self.retriever.embedder)
            timings["evidence"] = time.perf_counter() - t0
        unheard: frozenset[str] = frozenset()
        if self.settings.support_check and units:
            unheard = frozenset(unheard_of(question, units))
        seconds = time.perf_counter() - started
        return _Prepared(
            question,
            messages,
            list(used),
            timings,
            trace,
            rewrites,
            seconds,
            units,
            principal,
            unheard,
        )

    def _unmentioned(self, p: _Prepared, reply: str) -> frozenset[str]:
        """The question's words held by no retrieved unit (``_Prepared.unheard``) that
        ``reply`` uses and no document the principal may read uses at all: a claim about
        them is the model's. A word some other document uses stays open to the support
        check; a word the reply does not use costs no search."""
        return self._unused((w for w in p.unheard if speaks_of(reply, (w,))), p.principal)

    def _unnamed(self, p: _Prepared) -> frozenset[str]:
        """The names the question asks about ("Sweden") that no document the principal may
        read uses: no source sentence can answer for them (``review``)."""
        return self._unused(proper_names(p.question, p.unheard), p.principal)

    def _unused(self, words: Iterable[str], principal: Principal | None) -> frozenset[str]:
        """The ``words`` no document ``principal`` may read uses, by a BM25 search each."""
        filters = Filters.for_principal(principal)
        store = self.retriever.store
        return frozenset(w for w in words if not store.search(Query(text=w, filters=filters), 1))

    def _finish(
        self,
        p: _Prepared,
        completion: Completion,
        generate_s: float,
        batch: dict[str, Any],
    ) -> Answer:
        """The Answer of one reply: reviewed against its sources (``review``), then cited
        (``batch``: how a shared generation was timed)."""
        t0 = time.perf_counter()
        timings, trace = p.timings, p.trace
        timings["generate"] = generate_s
        raw = (self.prefill + completion.text).strip() if completion.text.strip() else ""
        trace.append(
            TraceStep(
                "generate",
                {"raw_text": raw, "finish_reason": completion.finish_reason, **batch},
                seconds=generate_s,
            )
        )
        usage = {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        }
        embedder = self.retriever.embedder
        reviewed = review(
            raw,
            completion.finish_reason,
            p.question,
            p.used,
            p.units,
            self.settings,
            trace,
            lambda text: answer_similarity(p.question, text, embedder),
            self._unmentioned(p, raw) if p.unheard and raw else frozenset(),
            self._unnamed(p),
        )
        citations: list[Citation] = []
        text = reviewed.text
        if not reviewed.abstained:
            text, citations, invalid = resolve(text, p.used, attribute=reviewed.attribute)
            if invalid:
                trace.append(TraceStep("citations", {"invalid_numbers": invalid}))
        timings["total"] = p.seconds + generate_s + time.perf_counter() - t0
        return Answer(
            question=p.question,
            text=text,
            citations=tuple(citations),
            hits=tuple(p.used),
            prompts=(tuple(p.messages),),
            trace=tuple(trace),
            timings=timings,
            usage=usage,
            abstained=reviewed.abstained,
            route=self.route,
            model=self.llm.name,
            rewrites=p.rewrites,
            leads=reviewed.leads,
        )

    def choose(
        self,
        question: str,
        choices: Sequence[str],
        *,
        principal: Principal | None = None,
        k: int | None = None,
    ) -> Answer:
        """Answer with one of ``choices`` over the same sources ``answer()`` would use (no
        prefill: the reply must start with the choice). When retrieval finds nothing
        relevant the model still chooses, from the question alone, and the trace says so."""
        started = time.perf_counter()
        question = question.strip()
        found = self._search(question, k, principal)
        hits, timings, trace, rewrites = found.hits, found.timings, found.trace, found.rewrites
        reason = irrelevant(hits, self.retrieval.min_relevance)
        asked = choice_prompt(question, choices)
        if reason:
            trace.append(TraceStep("abstain", {"reason": reason, "then": "chose without sources"}))
            used: list[Hit] = []
            messages = [Message("user", asked)]
        else:
            messages, used = fit_items(
                hits,
                lambda items: build_messages(asked, items, self.system),
                self.llm,
                answer_tokens=CHOICE_REPLY_TOKENS,
            )
        t0 = time.perf_counter()
        chosen = pick(self.llm, messages, choices)
        answer = choice_answer(
            question, chosen, messages, time.perf_counter() - t0, self.route, self.llm.name
        )
        timings.update(answer.timings)
        timings["total"] = time.perf_counter() - started
        return replace(
            answer,
            hits=tuple(used),
            trace=(*trace, *answer.trace),
            timings=timings,
            rewrites=rewrites,
        )

    def _search(self, question: str, k: int | None, principal: Principal | None) -> Retrieved:
        return retrieve(
            question,
            self.retriever,
            self.retrieval,
            k=k,
            principal=principal,
            expander=self.expander,
        )
