"""A batch of searches of the SQLite index, answered in one read transaction.

``SQLiteStore.search_many`` checks the queries and turns them into SQL (``Batch``) before
its read transaction starts, then hands the open transaction to ``search_batch``, which
decides for each list where it comes from: the dense list from the in-memory vector copy
(one matrix product for the whole batch) or sqlite-vec's KNN, the BM25 list from the
postings copy or FTS5, and the chunk rows from the handle's row cache or the file. All of
them read the transaction's snapshot, so they agree with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apsw
import numpy as np

from expertly.store.sqlite.copies import MemoryCopies, allowed_rowids
from expertly.store.sqlite.query import (
    bm25_search,
    chunk_filter,
    chunk_rows,
    fts_query,
    knn,
    query_phrases,
)
from expertly.store.sqlite.rows import ChunkRowCache, check_query_vector, merge_built
from expertly.store.sqlite.vectors import ScoredRows
from expertly.types import Hit, Query


@dataclass(frozen=True)
class Batch:
    """Queries checked and turned into what the search reads, one entry per query."""

    queries: Sequence[Query]
    vectors: list[np.ndarray | None]
    """The checked query vector, or None for a query without one."""
    matches: list[str]
    """The FTS5 MATCH expression, or "" for a query without text."""
    filters: list[tuple[str, list[Any]]]
    """The allowed chunk rowids as SQL and its parameters, or ("", []) without filters."""

    @classmethod
    def of(cls, queries: Sequence[Query], dim: int) -> Batch:
        """Check ``queries`` (vectors of size ``dim``); raises ``ValueError`` like ``search``."""
        return cls(
            queries,
            [None if q.vector is None else check_query_vector(q.vector, dim) for q in queries],
            [fts_query(q.text) if q.text else "" for q in queries],
            [chunk_filter(q.filters) if q.filters.active else ("", []) for q in queries],
        )

    @property
    def empty(self) -> bool:
        """No query has a vector or words to match: every result is empty."""
        return all(v is None and not m for v, m in zip(self.vectors, self.matches, strict=True))


def search_batch(
    conn: apsw.Connection, batch: Batch, k: int, copies: MemoryCopies, cache: ChunkRowCache
) -> list[list[Hit]]:
    """The hits of each query of ``batch`` inside ``conn``'s open read transaction.

    A filter's chunk set is read once per query and serves both in-memory copies.
    """
    vectors, matches, filters = batch.vectors, batch.matches, batch.filters
    # Both copies sync first, before any other read of the transaction.
    dense_copy = any(v is not None for v in vectors) and copies.use_vectors(conn)
    sparse_copy = any(matches) and copies.use_sparse(conn)
    allowed: dict[int, np.ndarray] = {}  # query index -> rowids its filter lets through
    dense = dense_lists(conn, copies, vectors, k, filters, dense_copy, allowed)
    results = []
    for i, match in enumerate(matches):
        sparse = []
        if match:
            found = None
            if sparse_copy:
                subset = allowed_rowids(conn, filters, i, allowed)
                found = copies.sparse.search(
                    conn,
                    query_phrases(batch.queries[i].text),
                    k,
                    None if subset is None else copies.sparse.positions(subset),
                )
            # A phrase of several tokens needs positions: FTS5 answers it.
            sparse = bm25_search(conn, match, k, *filters[i]) if found is None else found
        rowids = [r for r, _ in dense[i]] + [r for r, _ in sparse]
        rows = cache.get(rowids, lambda ids: chunk_rows(conn, ids))
        results.append(merge_built(dense[i], sparse, rows))
    return results


def dense_lists(
    conn: apsw.Connection,
    copies: MemoryCopies,
    vectors: Sequence[np.ndarray | None],
    k: int,
    filters: Sequence[tuple[str, list[Any]]],
    from_copy: bool,
    allowed: dict[int, np.ndarray],
) -> list[ScoredRows]:
    """The dense lists of a batch (``[]`` where a query has no vector); ``from_copy``:
    from the synced vector copy, one matrix product for every unfiltered query."""
    wanted = [i for i, v in enumerate(vectors) if v is not None]
    results: list[ScoredRows] = [[] for _ in vectors]
    if not wanted:
        return results
    if from_copy:
        subsets = []
        for i in wanted:
            subset = allowed_rowids(conn, filters, i, allowed)
            subsets.append(None if subset is None else copies.vectors.positions(subset))
        matrix = np.stack([vectors[i] for i in wanted])  # type: ignore[misc]
        found = copies.search_vectors(matrix, k, subsets)
        for i, found_rows in zip(wanted, found, strict=True):
            results[i] = found_rows
        return results
    for i in wanted:
        results[i] = knn(conn, vectors[i], k, *filters[i])  # type: ignore[arg-type]
    return results
