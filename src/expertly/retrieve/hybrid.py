"""Dense, sparse (BM25) and hybrid retrieval: fusion of the two rankings, then an optional
reranking stage.

The store returns both candidate lists in one call (one consistent snapshot); this module
embeds the question, fuses the two rankings, optionally searches dense once more with
pseudo-relevance feedback (``retrieval.feedback``: the query vector moved towards the best
fused chunk) and fuses again, optionally reranks the best fused hits and keeps the top k.
Two fusions (``retrieval.fusion``):

- ``rrf``, weighted reciprocal rank fusion::

      fused(chunk) = dense_weight / (rrf_k + dense_rank) + sparse_weight / (rrf_k + sparse_rank)

- ``convex`` (the default), a weighted sum of scores put on one scale per query
  (``retrieval.normalization``:
  ``minmax`` maps each list to [0, 1], ``zscore`` to mean 0 and deviation 1)::

      fused(chunk) = dense_weight * norm(cosine) + sparse_weight * norm(bm25)

A chunk missing from one list gets no contribution from it under ``rrf``, and that list's
lowest normalised score under ``convex`` (it ranked below every candidate the list returned;
one less when the list's scores are all equal).
"""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from expertly.config import RetrievalSettings
from expertly.config.threads import blas_threads, threads_for
from expertly.types import Filters, Hit, Query

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from expertly.embed import Embedder
    from expertly.generate import LLM
    from expertly.retrieve.rerank import Reranker
    from expertly.store import Store

METHODS = ("dense", "sparse")


class Mode(enum.Enum):
    """Which rankings a search uses."""

    HYBRID = "hybrid"
    DENSE = "dense"
    SPARSE = "sparse"

    @classmethod
    def from_str(cls, value: str) -> Mode:
        try:
            return cls(value.lower())
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ValueError(f"Unknown retrieval mode {value!r}; valid: {valid}") from None


# Function words carry no topic: dropping them from the BM25 query keeps "what is the price
# of X" from matching every chunk that contains "what", "is" and "the" ("how much" and "how
# many" ask, they name nothing).
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves tell please know much many
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"\w+", re.UNICODE)


def keyword_query(text: str) -> str:
    """The question's content words, for BM25 (falls back to all words if all are stopwords)."""
    words = _WORD.findall(text)
    content = [w for w in words if w.lower() not in STOPWORDS]
    return " ".join(content or words)


@dataclass(frozen=True)
class SearchResult:
    """Hits plus how long each stage took (seconds)."""

    hits: list[Hit]
    timings: dict[str, float]


class Retriever:
    """Searches a store with a question; the strategy is chosen once from the settings.

    The reranker named by ``retrieval.rerank`` (if any) is built on the first search that
    uses it, so building a Retriever never loads a model. ``llm`` (a model, or a function
    that builds one) is what an LLM-as-judge reranker (``rerank = "llm"``) asks.
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        settings: RetrievalSettings,
        *,
        reranker: Reranker | None = None,
        llm: LLM | Callable[[], LLM] | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.mode = Mode.from_str(settings.mode)
        self._reranker = reranker
        self._llm = llm

    @property
    def reranker(self) -> Reranker | None:
        """The configured reranker (built now if needed), or None when ``retrieval.rerank``
        is off."""
        if self._reranker is None and self.settings.rerank:
            from expertly.retrieve.rerank import create_reranker

            self._reranker = create_reranker(self.settings, llm=self._llm)
        return self._reranker

    def search(
        self,
        text: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode | str | None = None,
        rerank: bool | None = None,
    ) -> SearchResult:
        """The top ``k`` chunks for ``text`` (default ``retrieval.k``), best first.

        ``rerank`` overrides whether the configured reranker runs (default: when
        ``retrieval.rerank`` names one). It re-scores the best ``retrieval.rerank_candidates``
        hits; hits past those keep their order after the reranked ones.
        """
        k = k or self.settings.k
        chosen = Mode.from_str(mode) if isinstance(mode, str) else (mode or self.mode)
        filters = filters or Filters()
        timings: dict[str, float] = {}
        reranker = self.reranker if rerank is None or rerank else None
        if rerank and reranker is None:
            raise ValueError("rerank=True but retrieval.rerank names no reranker")
        vector = None
        if chosen in (Mode.DENSE, Mode.HYBRID):
            t0 = time.perf_counter()
            vector = self.embedder.embed([text], kind="query")[0]
            timings["embed"] = time.perf_counter() - t0
        sparse_text = keyword_query(text) if chosen in (Mode.SPARSE, Mode.HYBRID) else ""
        wanted = max(k, self.settings.rerank_candidates) if reranker is not None else k
        candidates = max(wanted, self.settings.candidates) if chosen is Mode.HYBRID else wanted
        with blas_threads(threads_for("search")):  # one matrix-vector product: 1 thread
            t0 = time.perf_counter()
            hits = self.store.search(
                Query(text=sparse_text, vector=vector, filters=filters), candidates
            )
            timings["search"] = time.perf_counter() - t0
            if chosen is Mode.HYBRID:
                if self.settings.feedback > 0 and vector is not None and hits:
                    t0 = time.perf_counter()
                    hits = self._feedback(hits, vector, filters, candidates, wanted)
                    timings["feedback"] = time.perf_counter() - t0
                else:
                    hits = fuse_with(hits, self.settings, limit=wanted)
        if reranker is not None and hits:
            t0 = time.perf_counter()
            head = hits[: self.settings.rerank_candidates]
            hits = reranker.rerank(text, head, len(head)) + hits[len(head) :]
            timings["rerank"] = time.perf_counter() - t0
        return SearchResult(hits=hits[:k], timings=timings)

    def _feedback(
        self, hits: list[Hit], vector: np.ndarray, filters: Filters, candidates: int, limit: int
    ) -> list[Hit]:
        """Pseudo-relevance feedback: search dense again with the query vector moved
        towards the best fused chunks, then fuse that list with the same BM25 list; the
        best ``limit`` fused hits.

        The new query is ``unit(q) + feedback * mean(unit(v_1..v_m))`` over the vectors of
        the ``feedback_chunks`` best fused hits (read from the store, not re-embedded). A
        short question finds the passage it points at; that passage's vector carries the
        vocabulary the question lacks. The first fused hit counts, not the first dense
        one: BM25 has already vetted it (a dense-only source lowered nDCG@10 on SciFact
        dev, docs/evaluation.md). ``hits`` are the store's, not yet fused: only the order
        of the first fusion is needed here, so its hits are not built.
        """
        first = _candidates(hits)
        scores = _fused_scores(first, self.settings)
        order = _order(first, scores)
        top = [first[i][0].chunk.id for i in order[: self.settings.feedback_chunks]]
        stored = self.store.vectors(top)
        found = [_unit(stored[i]) for i in top if i in stored]
        if not found:
            return _built(first, scores, order[:limit])
        moved = _unit(vector) + self.settings.feedback * np.mean(found, axis=0)
        dense = self.store.search(
            Query(vector=moved.astype(np.float32), filters=filters), candidates
        )
        joined = _joined(hits, dense)
        scores = _fused_scores(joined, self.settings)
        return _built(joined, scores, _order(joined, scores)[:limit])


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


Candidate = tuple[Hit, "Mapping[str, float]", "Mapping[str, int]"]
"""A chunk being fused: the hit it came in (chunk, source, title), and the per-method
scores and ranks it has now. Fusion orders these and builds ``Hit``s only for the ones it
returns: a 300-candidate hybrid search handles ~500 of them twice."""


def with_dense(hits: list[Hit], dense: list[Hit]) -> list[Hit]:
    """``hits``' BM25 side joined with a new dense list: every chunk either found, with
    its sparse rank and score kept and its dense rank and score taken from ``dense``."""
    return [
        # the hit's score: its new dense similarity, or its BM25 score when dense lacks it
        _rescored(hit, scores["dense"] if "dense" in scores else scores["sparse"], scores, ranks)
        for hit, scores, ranks in _joined(hits, dense)
    ]


def _joined(hits: list[Hit], dense: list[Hit]) -> list[Candidate]:
    """``with_dense`` as candidates (no ``Hit`` built)."""
    joined: dict[str, Candidate] = {}
    for hit in hits:
        if "sparse" in hit.ranks:
            joined[hit.chunk.id] = (
                hit, {"sparse": float(hit.scores["sparse"])}, {"sparse": hit.ranks["sparse"]}
            )  # fmt: skip
    for hit in dense:
        old = joined.get(hit.chunk.id)
        ranks = {"dense": hit.ranks["dense"]}
        scores = {"dense": float(hit.scores["dense"])}
        if old is None:
            joined[hit.chunk.id] = (hit, scores, ranks)
        else:
            joined[hit.chunk.id] = (old[0], {**old[1], **scores}, {**old[2], **ranks})
    return list(joined.values())


def fuse_with(
    hits: list[Hit], settings: RetrievalSettings, *, limit: int | None = None
) -> list[Hit]:
    """Fuse ``hits`` as ``settings`` say (``retrieval.fusion``, weights, ``rrf_k``); the
    best ``limit`` (all by default)."""
    candidates = _candidates(hits)
    scores = _fused_scores(candidates, settings)
    return _built(candidates, scores, _order(candidates, scores)[:limit])


def fuse(
    hits: list[Hit],
    *,
    rrf_k: int,
    dense_weight: float,
    sparse_weight: float,
    limit: int | None = None,
) -> list[Hit]:
    """Weighted reciprocal rank fusion of the per-method ranks carried by each hit."""
    candidates = _candidates(hits)
    scores = _rrf_scores(candidates, rrf_k, {"dense": dense_weight, "sparse": sparse_weight})
    return _built(candidates, scores, _order(candidates, scores)[:limit])


def convex_fuse(
    hits: list[Hit],
    *,
    dense_weight: float,
    sparse_weight: float,
    normalization: str = "minmax",
    limit: int | None = None,
) -> list[Hit]:
    """Weighted sum of per-method scores normalised over this query's candidates.

    ``minmax`` maps each method's scores to [0, 1] (all equal → 1), ``zscore`` subtracts
    their mean and divides by their standard deviation (all equal → 0). A hit that one
    method did not return gets that method's lowest normalised score (one less when all
    its scores are equal, e.g. a single hit), so it never ties with one the method found.
    """
    candidates = _candidates(hits)
    weights = {"dense": dense_weight, "sparse": sparse_weight}
    scores = _convex_scores(candidates, weights, normalization)
    return _built(candidates, scores, _order(candidates, scores)[:limit])


def _candidates(hits: list[Hit]) -> list[Candidate]:
    return [(hit, hit.scores, hit.ranks) for hit in hits]


def _fused_scores(candidates: list[Candidate], settings: RetrievalSettings) -> list[float]:
    weights = {"dense": settings.dense_weight, "sparse": settings.sparse_weight}
    if settings.fusion == "convex":
        return _convex_scores(candidates, weights, settings.normalization)
    return _rrf_scores(candidates, settings.rrf_k, weights)


def _rrf_scores(
    candidates: list[Candidate], rrf_k: int, weights: Mapping[str, float]
) -> list[float]:
    return [
        sum(w / (rrf_k + ranks[m]) for m, w in weights.items() if m in ranks)
        for _, _, ranks in candidates
    ]


def _convex_scores(
    candidates: list[Candidate], weights: Mapping[str, float], normalization: str
) -> list[float]:
    if normalization not in ("minmax", "zscore"):
        raise ValueError(f"Unknown normalization {normalization!r}; valid: minmax, zscore")
    fused = [0.0] * len(candidates)
    for method in METHODS:
        found = [(i, float(s[method])) for i, (_, s, _) in enumerate(candidates) if method in s]
        if not found:
            continue
        values = [v for _, v in found]
        if normalization == "minmax":
            low, spread = min(values), max(values) - min(values)
        else:
            low = sum(values) / len(values)
            spread = (sum((v - low) ** 2 for v in values) / len(values)) ** 0.5
        weight = weights[method]
        if spread <= 0:  # all equal: 1 (minmax) or 0 (zscore); a hit without one, 1 less
            found_value = 1.0 if normalization == "minmax" else 0.0
            missing_value = found_value - 1.0
            for i, _ in found:
                fused[i] += weight * found_value
        else:
            # A hit the method did not return ranked below all it did: the lowest score.
            missing_value = (min(values) - low) / spread
            for i, value in found:
                fused[i] += weight * ((value - low) / spread)
        if len(found) < len(candidates):
            seen = {i for i, _ in found}
            for i in range(len(candidates)):
                if i not in seen:
                    fused[i] += weight * missing_value
    return fused


def _order(candidates: list[Candidate], scores: list[float]) -> list[int]:
    """Indexes, best fused score first; ties go to the better single-method rank, then
    chunk id. Sorted on the score alone, then each run of equal scores on the rest (one
    key function per candidate was a third of the fusion's time)."""
    order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    start = 0
    while start < len(order):
        end, score = start + 1, scores[order[start]]
        while end < len(order) and scores[order[end]] == score:
            end += 1
        if end - start > 1:
            order[start:end] = sorted(
                order[start:end],
                key=lambda i: (
                    min(candidates[i][2].values(), default=0),
                    candidates[i][0].chunk.id,
                ),
            )
        start = end
    return order


def _built(candidates: list[Candidate], scores: list[float], order: list[int]) -> list[Hit]:
    """The hits at ``order``'s indexes, with their fused score."""
    return [
        _rescored(hit, scores[i], {**hit_scores, "fused": scores[i]}, ranks)
        for i in order
        for hit, hit_scores, ranks in (candidates[i],)
    ]


def _rescored(hit: Hit, score: float, scores: Mapping[str, float], ranks: Mapping[str, int]) -> Hit:
    """``hit`` with a new score and per-method details. ``Hit(...)`` directly: fusion
    builds a few hundred hits per query, and ``dataclasses.replace`` (which inspects the
    fields on every call) was a fifth of a 300-candidate hybrid search's time."""
    return Hit(
        chunk=hit.chunk, score=score, source=hit.source, title=hit.title,
        scores=scores, ranks=ranks,
    )  # fmt: skip
