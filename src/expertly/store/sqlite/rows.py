"""Validation and row conversion of the SQLite store: what goes in, what comes out.

Everything here is pure (no connection): checks run *before* a write transaction starts,
so a rejected ``upsert`` never leaves a trace in the index.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping, Sequence
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


ChunkRow = tuple[Chunk, str, str]
"""A chunk with its document's source and title: what a hit is built from."""


def merge(
    dense: list[tuple[int, float]],
    sparse: list[tuple[int, float]],
    rows: Mapping[int, Sequence[Any]],
) -> list[Hit]:
    """Union of the (rowid, score) lists as hits, ordered by dense rank then sparse rank.

    ``rows`` maps a rowid to ``CHUNK_COLUMNS`` followed by the document's source and title.
    """
    return merge_built(dense, sparse, {rowid: built(row) for rowid, row in rows.items()})


def built(row: Sequence[Any]) -> ChunkRow:
    """The chunk of a row of ``CHUNK_COLUMNS`` + source and title, with those two."""
    return chunk_from_row(row[:10]), row[10], row[11]


def merge_built(
    dense: list[tuple[int, float]],
    sparse: list[tuple[int, float]],
    rows: Mapping[int, ChunkRow],
) -> list[Hit]:
    """``merge`` with each rowid's chunk already built (``ChunkRowCache``)."""
    ranks: dict[int, dict[str, int]] = {}
    scores: dict[int, dict[str, float]] = {}
    for rank, (rowid, score) in enumerate(dense, start=1):
        ranks[rowid], scores[rowid] = {"dense": rank}, {"dense": score}
    for rank, (rowid, score) in enumerate(sparse, start=1):
        if rowid in ranks:
            ranks[rowid]["sparse"], scores[rowid]["sparse"] = rank, score
        else:
            ranks[rowid], scores[rowid] = {"sparse": rank}, {"sparse": score}
    # Both lists are best first, so the dicts' order is the hits' order: by dense rank,
    # then the sparse-only hits by sparse rank.
    hits = []
    for rowid, s in scores.items():
        chunk, source, title = rows[rowid]
        hits.append(
            Hit(
                chunk=chunk,
                score=s["dense"] if "dense" in s else s["sparse"],
                source=source,
                title=title,
                scores=s,
                ranks=ranks[rowid],
            )
        )
    return hits


class ChunkRowCache:
    """The chunks a handle's searches read lately, built, by rowid (``size`` at most,
    oldest dropped first).

    A hybrid search with pseudo-relevance feedback reads most of its candidates twice
    (the second dense list shares ~80 % of the first's on SciFact), and reading and
    building ~500 chunks took a third of a 300-candidate search. An entry never goes
    stale: chunk rowids are never reused (``AUTOINCREMENT``, kept through ``VACUUM``),
    and neither a chunk row nor its document's source and title is ever updated in place
    (re-ingesting a document deletes its rows and inserts new ones, with new rowids). A
    search only asks for rowids its own snapshot returned, so a removed chunk's entry is
    never read; it ages out.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: dict[int, ChunkRow] = {}
        self._lock = threading.Lock()

    def get(
        self, rowids: Sequence[int], read: Callable[[list[int]], Mapping[int, Sequence[Any]]]
    ) -> dict[int, ChunkRow]:
        """The built chunk of each rowid; those not held are read with ``read`` (rowid ->
        ``CHUNK_COLUMNS`` + source and title, from the caller's snapshot)."""
        items = self._items
        found: dict[int, ChunkRow] = {}
        missing = []
        for rowid in dict.fromkeys(rowids):  # a chunk in both lists comes twice
            held = items.get(rowid)
            if held is None:
                missing.append(rowid)
            else:
                found[rowid] = held
        if missing:
            new = {rowid: built(row) for rowid, row in read(missing).items()}
            found.update(new)
            if not self._size:
                return found
            with self._lock:
                items.update(new)
                for rowid in list(itertools.islice(items, max(0, len(items) - self._size))):
                    del items[rowid]
        return found
