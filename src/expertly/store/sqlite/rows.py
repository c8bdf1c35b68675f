"""Validation and row conversion of the SQLite store: what goes in, what comes out.

Everything here is pure (no connection): checks run *before* a write transaction starts,
so a rejected ``upsert`` never leaves a trace in the index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from expertly.types import Chunk, Document, DocumentInfo, Hit

DOC_COLUMNS = "d.id, d.source, d.title, d.format, d.content_hash, d.chars, d.updated_at, d.metadata"
CHUNK_COLUMNS = (
    'c.id, c.doc_id, c.idx, c.text, c.start, c."end", c.heading_path, c.page, '
    "c.token_count, c.metadata"
)
"""Column lists matching ``doc_info`` (plus a chunk count) and ``chunk_from_row``."""


def check_vectors(vectors: Any, n: int, dim: int) -> np.ndarray:
    """``vectors`` as a C-contiguous float32 ``(n, dim)`` array; ValueError if impossible."""
    try:
        array = np.asarray(vectors)
        if array.dtype.kind not in "fiu":
            raise TypeError(f"dtype {array.dtype} is not numeric")
        matrix = np.ascontiguousarray(array, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"vectors must be a float32-castable array: {exc}") from exc
    if n == 0 and matrix.size == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if matrix.shape != (n, dim):
        raise ValueError(
            f"vectors must have shape (len(chunks), dim) = ({n}, {dim}), got {matrix.shape}"
        )
    if not np.isfinite(matrix).all():
        raise ValueError("vectors contain NaN or infinite values (after casting to float32)")
    return matrix


def check_query_vector(vector: Any, dim: int) -> np.ndarray:
    """A query vector as float32 ``(dim,)`` (a ``(1, dim)`` row is accepted too)."""
    try:
        array = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(-1))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"query.vector must be a float array: {exc}") from exc
    if array.shape != (dim,):
        raise ValueError(f"query.vector must have {dim} values, got {array.size}")
    if not np.isfinite(array).all():
        raise ValueError("query.vector contains NaN or infinite values")
    return array


def check_chunks(doc: Document, chunks: Sequence[Chunk]) -> None:
    """Every chunk belongs to ``doc`` and no chunk id or index repeats."""
    ids: set[str] = set()
    indexes: set[int] = set()
    for chunk in chunks:
        if chunk.doc_id != doc.id:
            raise ValueError(
                f"Chunk {chunk.id!r} has doc_id {chunk.doc_id!r}, but the document is {doc.id!r}"
            )
        if chunk.id in ids or chunk.index in indexes:
            raise ValueError(f"Chunk {chunk.id!r} (index {chunk.index}) repeats an id or index")
        ids.add(chunk.id)
        indexes.add(chunk.index)


def acl_fields(doc: Document) -> tuple[str, str | None, list[str]]:
    """(metadata as JSON, tenant, sorted unique groups) of ``doc``.

    The access-control fields are checked strictly rather than coerced: a ``groups`` given
    as the string ``"hr"`` must not silently become the groups ``h`` and ``r``.
    """
    metadata_json = to_json(doc.metadata, f"Document {doc.id!r}: metadata")
    tenant = doc.metadata.get("tenant")
    if tenant is not None and (not isinstance(tenant, str) or not tenant):
        raise ValueError(f"Document {doc.id!r}: metadata['tenant'] must be a non-empty str")
    groups = doc.metadata.get("groups")
    if groups is None:
        groups = []
    if not isinstance(groups, list | tuple) or not all(isinstance(g, str) for g in groups):
        raise ValueError(f"Document {doc.id!r}: metadata['groups'] must be a list of str")
    return metadata_json, tenant, sorted(set(groups))


def plain(value: Any) -> Any:
    """Mappings → dicts and tuples → lists, recursively, so that ``json.dumps`` accepts them."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def to_json(value: Any, what: str) -> str:
    """Canonical JSON (sorted keys, so equal objects give equal text); ValueError if not JSON."""
    try:
        return json.dumps(plain(value), ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON-serialisable: {exc}") from exc


def chunk_row(chunk: Chunk) -> tuple[Any, ...]:
    """The values of a ``chunks`` row, in ``CHUNK_COLUMNS`` order."""
    return (
        chunk.id, chunk.doc_id, int(chunk.index), chunk.text, int(chunk.start), int(chunk.end),
        json.dumps(list(chunk.heading_path), ensure_ascii=False),
        None if chunk.page is None else int(chunk.page), int(chunk.token_count),
        to_json(chunk.metadata, f"Chunk {chunk.id!r}: metadata"),
    )  # fmt: skip


def chunk_from_row(row: Sequence[Any]) -> Chunk:
    """A ``Chunk`` from the ``CHUNK_COLUMNS`` of one row."""
    cid, doc_id, idx, text, start, end, headings, page, tokens, meta = row
    return Chunk(
        id=cid, doc_id=doc_id, index=int(idx), text=text, start=int(start), end=int(end),
        heading_path=() if headings == "[]" else tuple(json.loads(headings)), page=page,
        token_count=int(tokens), metadata={} if meta == "{}" else json.loads(meta),
    )  # fmt: skip


def doc_info(row: Sequence[Any]) -> DocumentInfo:
    """A ``DocumentInfo`` from ``DOC_COLUMNS`` followed by the chunk count."""
    did, source, title, fmt, chash, chars, updated, meta, n_chunks = row
    return DocumentInfo(
        id=did, source=source, title=title, format=fmt, content_hash=chash,
        chunks=int(n_chunks), chars=int(chars), updated_at=float(updated),
        metadata=json.loads(meta),
    )  # fmt: skip


def merge(
    dense: list[tuple[int, float]],
    sparse: list[tuple[int, float]],
    rows: Mapping[int, Sequence[Any]],
) -> list[Hit]:
    """Union of the (rowid, score) lists as hits, ordered by dense rank then sparse rank.

    ``rows`` maps a rowid to ``CHUNK_COLUMNS`` followed by the document's source and title.
    """
    ranks: dict[int, dict[str, int]] = {}
    scores: dict[int, dict[str, float]] = {}
    for method, found in (("dense", dense), ("sparse", sparse)):
        for rank, (rowid, score) in enumerate(found, start=1):
            ranks.setdefault(rowid, {})[method] = rank
            scores.setdefault(rowid, {})[method] = score
    inf = float("inf")
    order = sorted(ranks, key=lambda r: (ranks[r].get("dense", inf), ranks[r].get("sparse", inf)))
    hits = []
    for rowid in order:
        row, s = rows[rowid], scores[rowid]
        hits.append(
            Hit(
                chunk=chunk_from_row(row[:10]),
                score=s["dense"] if "dense" in s else s["sparse"],
                source=row[10],
                title=row[11],
                scores=s,
                ranks=ranks[rowid],
            )
        )
    return hits
