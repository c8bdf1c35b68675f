"""An in-memory copy of the index's vectors: exact cosine search as one matrix product.

sqlite-vec reads and scores every stored vector on every query (about 50 ms at
100k x 384 on one core). A store handle that searches more than once instead keeps the
vectors, normalised, in one float32 matrix: a query is then one matrix-vector product and
a batch of queries one matrix-matrix product. The ranking is the same as sqlite-vec's (both
are exact cosine; scores agree to float32 rounding): nothing is approximated.

The file stays the only truth. The copy is brought up to date at the start of each
search, inside the search's read transaction, so the dense list comes from the same
snapshot as the BM25 list and the chunk rows:

* ``PRAGMA data_version`` changes when another connection (any process) has committed;
  the handle's own writes mark the copy stale (``invalidate``).
* Chunk rowids only grow (``AUTOINCREMENT``), so the vectors added since the last sync
  are exactly those above the copy's largest rowid (a range read of ``chunk_vectors``),
  and rows were removed exactly when the chunk count is smaller than the copy plus the
  additions; only then are the live rowids read to drop the removed ones.

Nothing is written to disk, so a crash (even ``kill -9``) cannot leave the copy and the
file disagreeing. Memory: 4 bytes x dim per chunk (154 MB at 100k x 384).

For indexes where even one product over every row is too slow, ``sqlite.hnsw`` keeps an
approximate index (an HNSW graph) over this copy; it follows the copy through ``changes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import apsw
import numpy as np

from expertly.store.sqlite.rowids import live_rowids, positions_of

ScoredRows = list[tuple[int, float]]
"""(chunk rowid, cosine similarity) best first."""


class VectorCache:
    """The normalised vectors of one index, keyed by chunk rowid (kept sorted)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.rowids = np.zeros(0, dtype=np.int64)
        self._buffer = np.zeros((0, dim), dtype=np.float32)
        self.matrix = self._buffer  # the first len(self) rows of _buffer
        self.valid = np.zeros(0, dtype=bool)
        """False for a stored zero vector: it has no cosine, sqlite-vec skips it too."""
        self.loaded = False
        self.changes = 0
        """Counts the syncs that added or removed rows (an index over the copy follows it)."""
        self._version: int | None = None
        self._stale = True

    def __len__(self) -> int:
        return int(self.rowids.size)

    def invalidate(self) -> None:
        """This handle committed a write: sync before the next search."""
        self._stale = True

    def sync(self, conn: apsw.Connection) -> None:
        """Bring the copy to the snapshot of ``conn``'s open read transaction.

        Must be the first statement of that transaction: ``data_version`` is then the
        version of the snapshot the rest of the transaction reads.
        """
        version = int(conn.execute("PRAGMA data_version").get)
        if self.loaded and not self._stale and version == self._version:
            return
        last = int(self.rowids[-1]) if self.rowids.size else 0
        added = conn.execute(
            "SELECT rowid, embedding FROM chunk_vectors WHERE rowid > ? ORDER BY rowid", (last,)
        ).fetchall()
        count = int(conn.execute("SELECT count(*) FROM chunks").get)
        if count != len(self) + len(added):
            # Something was removed; the rowid list comes from a covering index of chunks.
            self._remove(~np.isin(self.rowids, live_rowids(conn), assume_unique=True))
        if added:
            ids = np.fromiter((r[0] for r in added), dtype=np.int64, count=len(added))
            raw = np.frombuffer(b"".join(cast(bytes, r[1]) for r in added), dtype=np.float32)
            block = raw.reshape(len(added), self.dim)
            norms = np.linalg.norm(block, axis=1)
            ok = norms > 0
            self._append(ids, block / np.where(ok, norms, 1.0)[:, None], ok)
            self.changes += 1
        self._version, self._stale, self.loaded = version, False, True

    def _remove(self, gone: np.ndarray) -> None:
        """Drop the rows marked in ``gone``, compacting them inside the buffer: only the
        rows after the first removed one move, and the buffer keeps its room for the next
        additions (a new exact-size matrix would be copied again by the next append)."""
        first = int(np.argmax(gone))
        kept = first + np.flatnonzero(~gone[first:])
        size = first + kept.size
        self._buffer[first:size] = self.matrix[kept]
        self.matrix = self._buffer[:size]
        keep = ~gone
        self.rowids, self.valid = self.rowids[keep], self.valid[keep]
        self.changes += 1

    def _append(self, ids: np.ndarray, unit: np.ndarray, ok: np.ndarray) -> None:
        """Add rows; the buffer grows by half its size, so many small syncs (a reader
        beside an ingest) do not copy the whole matrix each time."""
        n, need = len(self), len(self) + len(ids)
        if need > self._buffer.shape[0]:
            grown = np.empty((max(need, self._buffer.shape[0] * 3 // 2), self.dim), np.float32)
            grown[:n] = self.matrix
            self._buffer = grown
        self._buffer[n:need] = unit
        self.matrix = self._buffer[:need]
        self.rowids = np.concatenate([self.rowids, ids])
        self.valid = np.concatenate([self.valid, ok])

    def positions(self, allowed: np.ndarray) -> np.ndarray:
        """Row positions in the matrix of the chunk rowids ``allowed`` (unknown ones dropped)."""
        return positions_of(self.rowids, allowed)

    def search(
        self, queries: np.ndarray, k: int, allowed: Sequence[np.ndarray | None]
    ) -> list[ScoredRows]:
        """The ``k`` most similar chunks for each row of ``queries`` (float32 ``(m, dim)``).

        ``allowed[i]`` restricts query ``i`` to those matrix positions (see ``positions``),
        or None for every chunk. A zero query vector has no cosine and finds nothing, as
        with sqlite-vec.
        """
        norms = np.linalg.norm(queries, axis=1)
        unit = queries / np.where(norms > 0, norms, 1.0)[:, None]
        results: list[ScoredRows] = [[] for _ in range(len(queries))]
        open_rows = [i for i, a in enumerate(allowed) if a is None and norms[i] > 0]
        if open_rows and self.rowids.size:
            scores = unit[open_rows] @ self.matrix.T  # (m', n): one BLAS call for the batch
            scores[:, ~self.valid] = -np.inf
            for row, i in enumerate(open_rows):
                results[i] = best_rows(scores[row], self.rowids, k)
        for i, subset in enumerate(allowed):
            if subset is None or norms[i] == 0 or not subset.size:
                continue
            sub = subset[self.valid[subset]]
            if 4 * sub.size > len(self):  # a broad filter: score all, gathering rows costs more
                scores_i = (self.matrix @ unit[i])[sub]
            else:
                scores_i = self.matrix[sub] @ unit[i]
            results[i] = best_rows(scores_i, self.rowids[sub], k)
        return results


def best_rows(scores: np.ndarray, rowids: np.ndarray, k: int) -> ScoredRows:
    """The ``k`` best (rowid, score), best first; ties by rowid; -inf scores never.

    Shared by the exact scan and the HNSW index (``sqlite.hnsw``), so both order alike."""
    n = int(scores.size)
    if n == 0:
        return []
    part = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
    order = part[np.lexsort((rowids[part], -scores[part]))]
    order = order[np.isfinite(scores[order])]
    return list(zip(rowids[order].tolist(), scores[order].tolist(), strict=True))
