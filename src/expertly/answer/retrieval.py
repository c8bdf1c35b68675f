"""The RAG route's retrieval step: one search, or rewriting and multi-hop rounds, traced.

``retrieve`` runs the question through the ``MultiHopRetriever`` the Workspace built from
the retrieval settings (query rewriting and follow-up rounds when ``retrieval.rewrite`` or
``retrieval.multihop`` ask for them) or, without one, a single search under the principal's
ACL filters, and records what it did as trace steps: each rewrite or hop, then the hits
with their fused and per-method scores, so an answer's trace shows why it read what it read.

A table is often longer than a chunk: the rows for 20.01 to 30 kg in one chunk, those up
to 20 kg in the one before it; Zone 1 and Zone 3 in two hits, Zone 2 in neither. When a
question asking for a value states an amount ("a 4 kg box") or names a row ("in Zone 2")
and a hit's rows are all about other rows, the chunk of the same table (same document and
headings) holding the asked row is read too, right after that hit (``table_rows``, a
``table_rows`` trace step): its words match the question no better than its neighbours',
so no search ranks it above them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from expertly.answer.answer_type import asks_for_value
from expertly.answer.bands import sorted_by_band
from expertly.answer.records import cells, other_rows
from expertly.config import RetrievalSettings
from expertly.store import DocumentReader
from expertly.types import Filters, Hit, Principal, TraceStep

if TYPE_CHECKING:
    from expertly.retrieve import Retriever
    from expertly.retrieve.multihop import MultiHopRetriever


@dataclass
class Retrieved:
    """What retrieval found for one question, and how."""

    hits: list[Hit]
    timings: dict[str, float]
    trace: list[TraceStep]  # rewrites and hops, then the ``retrieve`` step
    rewrites: tuple[str, ...]  # the extra queries run (rewrites, follow-ups)


def retrieve(
    question: str,
    retriever: Retriever,
    settings: RetrievalSettings,
    *,
    k: int | None = None,
    principal: Principal | None = None,
    expander: MultiHopRetriever | None = None,
) -> Retrieved:
    """The top ``k`` (default ``settings.k``) chunks ``principal`` may read for
    ``question``, through ``expander`` when there is one."""
    filters = Filters.for_principal(principal)
    steps: list[TraceStep] = []
    rewrites: tuple[str, ...] = ()
    if expander is None:
        result = retriever.search(question, k=k, filters=filters)
        hits, timings = result.hits, dict(result.timings)
    else:
        expanded = expander.search(question, k=k, filters=filters)
        hits, timings, rewrites = expanded.hits, dict(expanded.timings), expanded.queries
        for step in expanded.steps:
            name = "multihop" if "hop" in step else "rewrite"
            steps.append(TraceStep(name, step))
        if expanded.llm_calls:
            steps.append(TraceStep("query_llm", {"calls": expanded.llm_calls}))
    banded = table_rows(hits, question, retriever.store)
    found = TraceStep(
        "retrieve",
        {
            "k": k or settings.k,
            "mode": retriever.mode.value,
            "rewrite": settings.rewrite,
            "multihop": settings.multihop,
            "hits": [
                {
                    "chunk": h.chunk.id,
                    "score": round(h.score, 4),
                    **{m: round(v, 4) for m, v in h.scores.items()},
                }
                for h in hits
            ],
        },
        seconds=sum(timings.values()),
    )
    if len(banded) > len(hits):
        added = [h.chunk.id for h in banded if h not in hits]
        found_rows = TraceStep("table_rows", {"added": added})
        return Retrieved(banded, timings, [*steps, found, found_rows], rewrites)
    return Retrieved(list(hits), timings, [*steps, found], rewrites)


TABLE_REACH = 12
"""How many chunks of a hit's table, nearest first, are looked through for the asked row:
a table of thousands of CSV rows is not read whole for every question."""


def table_rows(hits: Sequence[Hit], question: str, store: object) -> list[Hit]:
    """``hits``, each followed by the chunk of its table holding the row ``question`` asks
    about when the hit's own rows are all about other rows: rows banding the measure of the
    amount the question states without holding it (``bands.sorted_by_band``), or rows
    whose cell the question names another value of (``records.other_rows``: "Zone 1" and
    "Zone 3" when it asks about Zone 2). The chunk added is the nearest of the same
    document under the same headings holding that row (of the ``TABLE_REACH`` nearest),
    not already a hit. Only for a
    question asking for a value, and a store that gives a document's chunks back
    (``DocumentReader``); the chunk is of a document the hit's reader may read, and scores
    as its hit."""
    if not hits or not asks_for_value(question) or not isinstance(store, DocumentReader):
        return list(hits)
    out: list[Hit] = []
    have = {h.chunk.id for h in hits}
    for hit in hits:
        out.append(hit)
        lines = hit.chunk.text.splitlines()
        apart, held = sorted_by_band(lines, question)
        banded = bool(apart) and not held
        if not banded and not any(cells(line) for line in lines):
            continue
        same = [
            c
            for c in store.chunks(hit.chunk.doc_id)
            if c.heading_path == hit.chunk.heading_path and c.id not in have
        ]
        nearest = sorted(same, key=lambda c: abs(c.index - hit.chunk.index))[:TABLE_REACH]
        for chunk in nearest:
            if _holds_row(lines, chunk.text.splitlines(), question, banded):
                have.add(chunk.id)
                out.append(replace(hit, chunk=chunk, scores={**hit.scores, "table": 1.0}))
                break
    return out


def _holds_row(lines: list[str], other: list[str], question: str, banded: bool) -> bool:
    """Whether the lines ``other`` hold the row ``question`` asks about that ``lines`` miss:
    one whose bands hold its amount (``banded``: those of ``lines`` do not), or one naming
    the value of a cell that every row of ``lines`` gives another value of."""
    if banded:
        return bool(sorted_by_band(other, question)[1])
    rows = [i for i, line in enumerate(lines) if cells(line)]
    theirs = [len(lines) + j for j, line in enumerate(other) if cells(line)]
    apart = other_rows([*lines, *other], question)
    return bool(rows) and set(rows) <= apart and any(j not in apart for j in theirs)
