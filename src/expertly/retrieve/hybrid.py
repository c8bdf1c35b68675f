"""Dense, sparse (BM25) and hybrid retrieval with weighted reciprocal rank fusion.

The store returns both candidate lists in one call (one consistent snapshot); this module
embeds the question, fuses the two rankings and keeps the top k::

    fused(chunk) = dense_weight / (rrf_k + dense_rank) + sparse_weight / (rrf_k + sparse_rank)

A chunk missing from one list simply gets no contribution from it.
"""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from expertly.config import RetrievalSettings
from expertly.types import Filters, Hit, Query

if TYPE_CHECKING:
    from expertly.embed import Embedder
    from expertly.store import Store


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
# of X" from matching every chunk that contains "what", "is" and "the".
_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves tell please know
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
    """Searches a store with a question; the strategy is chosen once from the settings."""

    def __init__(self, store: Store, embedder: Embedder, settings: RetrievalSettings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.mode = Mode.from_str(settings.mode)

    def search(
        self,
        text: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode | str | None = None,
    ) -> SearchResult:
        """The top ``k`` chunks for ``text`` (default ``retrieval.k``), best first."""
        k = k or self.settings.k
        chosen = Mode.from_str(mode) if isinstance(mode, str) else (mode or self.mode)
        filters = filters or Filters()
        timings: dict[str, float] = {}
        vector = None
        if chosen in (Mode.DENSE, Mode.HYBRID):
            t0 = time.perf_counter()
            vector = self.embedder.embed([text], kind="query")[0]
            timings["embed"] = time.perf_counter() - t0
        sparse_text = keyword_query(text) if chosen in (Mode.SPARSE, Mode.HYBRID) else ""
        candidates = max(k, self.settings.candidates) if chosen is Mode.HYBRID else k
        t0 = time.perf_counter()
        hits = self.store.search(
            Query(text=sparse_text, vector=vector, filters=filters), candidates
        )
        timings["search"] = time.perf_counter() - t0
        if chosen is Mode.HYBRID:
            hits = fuse(
                hits,
                rrf_k=self.settings.rrf_k,
                dense_weight=self.settings.dense_weight,
                sparse_weight=self.settings.sparse_weight,
            )
        return SearchResult(hits=hits[:k], timings=timings)


def fuse(hits: list[Hit], *, rrf_k: int, dense_weight: float, sparse_weight: float) -> list[Hit]:
    """Weighted reciprocal rank fusion of the per-method ranks carried by each hit."""
    weights = {"dense": dense_weight, "sparse": sparse_weight}
    fused: list[Hit] = []
    for hit in hits:
        score = sum(w / (rrf_k + hit.ranks[m]) for m, w in weights.items() if m in hit.ranks)
        fused.append(replace(hit, score=score, scores={**hit.scores, "fused": score}))
    fused.sort(key=lambda h: (-h.score, min(h.ranks.values(), default=0), h.chunk.id))
    return fused
