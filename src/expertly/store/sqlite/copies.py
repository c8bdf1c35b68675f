"""When a SQLite store handle searches its in-memory copies instead of the file.

A handle may keep two exact copies: the vectors (``sqlite.vectors.VectorCache``) and the
full-text postings (``sqlite.sparse.SparseCache``). Each is chosen by its setting
(``StoreSettings.vector_cache`` / ``sparse_cache``): ``off`` never, ``on`` from the first
search, ``auto`` from the handle's second search of that kind once the index holds the
setting's minimum number of chunks, so a one-shot search never pays for reading a copy
while a server, a chat or an evaluation reads it once. A copy in use is synced first
thing in the search's read transaction; the handle's own commits mark both stale.

Dense search over the vector copy is exact, or with ``StoreSettings.vector_index = hnsw``
approximate through an HNSW graph over the copy, saved beside the file (``sqlite.hnsw``),
once the copy holds ``hnsw_min_chunks``; below that the exact scan answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import apsw
import numpy as np

from expertly.config import StoreSettings
from expertly.store.sqlite.hnsw import HNSWIndex
from expertly.store.sqlite.sparse import SparseCache
from expertly.store.sqlite.vectors import ScoredRows, VectorCache


class MemoryCopies:
    """The two in-memory copies of one handle and the decision to read them.

    Args:
        dim: vector size.
        settings: ``vector_cache``, ``sparse_cache`` and their ``*_min_chunks``,
            ``vector_index`` and its ``hnsw_*``.
        path: the SQLite file (the HNSW graph is saved beside it).
        vectors_possible: False for a read-only handle on a version-1 file (it has no
            ``chunk_vectors`` table to read the vectors from).
    """

    def __init__(
        self, dim: int, settings: StoreSettings, *, path: Path, vectors_possible: bool
    ) -> None:
        self.vectors = VectorCache(dim)
        self.sparse = SparseCache()
        self.hnsw = (
            HNSWIndex(
                path,
                dim=dim,
                m=settings.hnsw_m,
                ef_construction=settings.hnsw_ef_construction,
                ef_search=settings.hnsw_ef_search,
            )
            if settings.vector_index == "hnsw" and vectors_possible
            else None
        )
        self._settings = settings
        self._vectors_possible = vectors_possible
        self._dense_searches = 0
        self._sparse_searches = 0
        self._chunk_count: tuple[int, int] | None = None  # (data_version, count) for "auto"

    def close(self) -> None:
        """The handle closes: save the HNSW graph if it changed since its last save."""
        if self.hnsw is not None:
            self.hnsw.close()

    def invalidate(self) -> None:
        """The handle committed a write: both copies sync on their next use."""
        self.vectors.invalidate()
        self.sparse.invalidate()

    def use_vectors(self, conn: apsw.Connection) -> bool:
        """Whether this search reads the vector copy; if so, it is synced now."""
        mode = self._settings.vector_cache
        if mode == "off" or not self._vectors_possible:
            return False
        self._dense_searches += 1
        if mode == "auto" and not self.vectors.loaded:
            wanted = self._settings.vector_cache_min_chunks
            if not self._auto_ready(conn, self._dense_searches, wanted):
                return False
        self.vectors.sync(conn)
        return True

    def search_vectors(
        self, queries: np.ndarray, k: int, allowed: Sequence[np.ndarray | None]
    ) -> list[ScoredRows]:
        """Dense top-k from the (synced) vector copy: through the HNSW graph when one is
        configured and the copy holds ``hnsw_min_chunks``, else the exact scan."""
        if self.hnsw is not None and len(self.vectors) >= self._settings.hnsw_min_chunks:
            return self.hnsw.search(self.vectors, queries, k, allowed)
        return self.vectors.search(queries, k, allowed)

    def use_sparse(self, conn: apsw.Connection) -> bool:
        """Whether this search reads the postings copy; if so, it is synced now."""
        mode = self._settings.sparse_cache
        if mode == "off":
            return False
        self._sparse_searches += 1
        if mode == "auto" and not self.sparse.loaded:
            wanted = self._settings.sparse_cache_min_chunks
            if not self._auto_ready(conn, self._sparse_searches, wanted):
                return False
        self.sparse.sync(conn)
        return True

    def _auto_ready(self, conn: apsw.Connection, searches: int, min_chunks: int) -> bool:
        """From the second search on, once the index holds ``min_chunks`` (the count is
        read again only after a commit)."""
        if searches < 2:
            return False
        version = int(conn.execute("PRAGMA data_version").get)
        if self._chunk_count is None or self._chunk_count[0] != version:
            count = int(conn.execute("SELECT count(*) FROM chunks").get)
            self._chunk_count = (version, count)
        return self._chunk_count[1] >= min_chunks


def allowed_rowids(
    conn: apsw.Connection,
    filters: Sequence[tuple[str, list[Any]]],
    i: int,
    memo: dict[int, np.ndarray],
) -> np.ndarray | None:
    """The sorted chunk rowids that query ``i``'s filter SQL lets through (None: no
    filter); read once per query and kept in ``memo``, so both copies share it."""
    sql, params = filters[i]
    if not sql:
        return None
    if i not in memo:
        found = np.fromiter((r[0] for r in conn.execute(sql, params)), dtype=np.int64)
        memo[i] = np.sort(found)
    return memo[i]
