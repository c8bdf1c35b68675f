"""How answers and hits look on the wire: the ``expertly`` extension field of a chat
completion, and ranked hits of ``/v1/search``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from expertly.types import Answer, Citation, Hit


def jsonable(value: Any) -> Any:
    """``value`` made of JSON types only (dataclasses, tuples, numpy scalars turned plain)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def citation_dict(c: Citation) -> dict[str, Any]:
    return {
        "number": c.number,
        "doc_id": c.doc_id,
        "chunk_id": c.chunk_id,
        "source": c.source,
        "title": c.title,
        "page": c.page,
        "heading_path": list(c.heading_path),
        "start": c.start,
        "end": c.end,
        "score": float(c.score),
        "quote": c.quote,
        "method": c.method,
    }


def extension(answer: Answer, citations: tuple[Citation, ...]) -> dict[str, Any]:
    """The ``expertly`` field: why the answer says what it says."""
    return {
        "route": answer.route,
        "reason": answer.reason,
        "abstained": answer.abstained,
        "incomplete": answer.incomplete,
        "cached": any(step.name == "cache" for step in answer.trace),
        "model": answer.model,
        "citations": [citation_dict(c) for c in citations],
        "leads": [citation_dict(c) for c in answer.leads],
        "rewrites": list(answer.rewrites),
        "trace": [
            {"name": s.name, "detail": jsonable(s.detail), "seconds": s.seconds}
            for s in answer.trace
        ],
        "timings": jsonable(answer.timings),
    }


def hit_dict(rank: int, hit: Hit) -> dict[str, Any]:
    """One ranked hit as JSON: ``/v1/search``, ``expertly search --json`` and an answer's
    hits in ``--json`` output all use this one form."""
    c = hit.chunk
    return {
        "rank": rank,
        "score": float(hit.score),
        "scores": jsonable(hit.scores),
        "ranks": jsonable(hit.ranks),
        "doc_id": c.doc_id,
        "chunk_id": c.id,
        "source": hit.source,
        "title": hit.title,
        "page": c.page,
        "heading_path": list(c.heading_path),
        "start": c.start,
        "end": c.end,
        "text": c.text,
    }
