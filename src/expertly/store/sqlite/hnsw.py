"""An approximate dense index (HNSW, hnswlib) over the in-memory vector copy, kept on disk.

Exact search from the copy (``sqlite.vectors``) scores every vector on every query: about
12 ms at 100k x 384 on one core, growing linearly. An HNSW graph (hnswlib, inner product
on the copy's unit vectors, i.e. cosine) visits a few thousand of them: at 100k clustered
chunks the store's dense search takes 1.0 ms instead of 24.8 ms, recall@10 0.99 against
exact (``benchmarks/scale.py``, docs/scaling.md). hnswlib was measured against usearch
there: half the build time, faster queries, the same recall and file size.

* **Keys** are chunk rowids, which the file never reuses (``AUTOINCREMENT``), so a rowid
  names one vector for ever and the graph can follow the copy by rowid alone.
* **Search**: the graph proposes ``k`` rowids (candidate list ``ef_search``, at least k);
  their scores are then taken from the copy (exact cosine) and ordered as exact search
  orders (``best_rows``: ties by rowid), so a hit's score never depends on the index.
* **Filters**: a filter allowing fewer than ``EXACT_SHARE`` of the rows (or at most k) is
  answered by the exact scan over its allowed rows, which costs less than a filtered graph
  walk there; a broader one walks the graph with the filter. Whenever the graph returns
  fewer than k hits while more are allowed, the exact scan answers instead, so a search
  never returns fewer hits than exact search would.
* **Upkeep**: after every sync of the copy (``VectorCache.changes``) the rows added since
  are inserted (reusing the slots of removed ones) and the removed ones are marked deleted.
* **On disk**: the graph is saved beside the SQLite file (``sqlite.hnsw_file``: atomic,
  checksummed) when built, and again on ``close`` or once ``SAVE_SHARE`` of it changed
  since the last save. A later handle (any process) loads it, checks it against the copy
  (same settings and library, sample vectors equal) and brings it up to date with the
  additions and removals since; a missing, torn, foreign or mostly outdated file is rebuilt
  from the copy. A handle that cannot write the folder keeps its graph in memory and logs
  why.

Memory beyond the copy: the graph's own float32 vectors and links (about 1.1 x the copy).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from expertly.errors import MissingDependencyError
from expertly.store.sqlite import hnsw_file
from expertly.store.sqlite.hnsw_file import UnusableIndex
from expertly.store.sqlite.vectors import ScoredRows, VectorCache, best_rows

log = logging.getLogger(__name__)

EXACT_SHARE = 0.2
"""A filter allowing less than this share of the rows is answered exactly over its rows
(at 100k x 384 the exact scan of 10% of the rows takes about 2 ms; hnswlib's filtered walk
calls back into Python for every candidate and took 8 ms)."""

SAVE_SHARE = 0.1
"""Save again once this share of the graph changed since the last save (else on close)."""

_CHECKED = 16
"""Saved vectors compared with the file's on loading (a graph of another file differs)."""

_SEED = 100


def _hnswlib() -> Any:
    try:
        import hnswlib
    except ImportError as e:
        raise MissingDependencyError(
            "hnswlib", extra="fast", purpose="store.vector_index = 'hnsw'"
        ) from e
    return hnswlib


AUTO_EF_FLOOR = 100
"""``store.hnsw_ef_search = 0`` (auto): the smallest candidate list, and PostgreSQL's."""
AUTO_EF_VECTORS_PER_CANDIDATE = 2500


def auto_ef_search(vectors: int) -> int:
    """``store.hnsw_ef_search = 0``: the candidate list for a graph of ``vectors`` nodes,
    ``max(100, vectors / 2500)`` up to 1000 (100 to 250k vectors, 400 at 1M: see
    ``StoreSettings``)."""
    return min(1000, max(AUTO_EF_FLOOR, -(-vectors // AUTO_EF_VECTORS_PER_CANDIDATE)))


class HNSWIndex:
    """An hnswlib graph over one ``VectorCache``; ``search`` keeps it in step with it.

    Args:
        store_path: the SQLite file; the graph is saved beside it (``<path>.hnsw``).
        dim: vector size.
        m: links per node (hnswlib's M).
        ef_construction: candidate list while inserting.
        ef_search: candidate list per search (raised to k for larger searches); 0 picks
            it from the graph's size (``auto_ef_search``).
    """

    def __init__(
        self, store_path: Path, *, dim: int, m: int, ef_construction: int, ef_search: int
    ) -> None:
        self._lib = _hnswlib()
        self.store_path, self.dim = store_path, dim
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self.library = f"hnswlib {metadata.version('hnswlib')}"
        self._graph: Any = None
        self.rowids = np.zeros(0, dtype=np.int64)
        """The rowids in the graph (sorted), deleted ones excluded."""
        self.builds = 0
        """How many times the graph was built from the copy (not loaded)."""
        self.loaded_from_disk = False
        self.saves = 0
        self.build_seconds = 0.0
        self._changes = -1  # VectorCache.changes when last in step
        self._unsaved = 0  # rows added or removed since the last save
        self._can_save = True

    # ------------------------------------------------------------------ upkeep

    def refresh(self, cache: VectorCache) -> None:
        """Bring the graph in step with ``cache`` (already synced): load or build it first."""
        if self._graph is not None and cache.changes == self._changes:
            return
        if self._graph is None:
            try:
                self._load(cache)
            except UnusableIndex as e:
                level = logging.INFO if e.missing else logging.WARNING
                log.log(level, "building the HNSW index of %s: %s", self.store_path, e)
                self._build(cache)
        else:
            self._follow(cache)
        self._changes = cache.changes
        if self._unsaved > SAVE_SHARE * max(self.rowids.size, 1):
            self.save()

    def _build(self, cache: VectorCache) -> None:
        began = time.perf_counter()
        rows = np.flatnonzero(cache.valid)
        graph = self._lib.Index(space="ip", dim=self.dim)
        graph.init_index(
            max_elements=max(1024, rows.size + rows.size // 4),
            M=self.m,
            ef_construction=self.ef_construction,
            random_seed=_SEED,
            allow_replace_deleted=True,
        )
        if rows.size:
            graph.add_items(cache.matrix[rows], cache.rowids[rows], num_threads=-1)
        self._graph, self.rowids = graph, cache.rowids[rows]
        self.builds += 1
        self.build_seconds = time.perf_counter() - began
        self._unsaved = max(int(rows.size), 1)  # a new graph is saved at once

    def _load(self, cache: VectorCache) -> None:
        """Load the saved graph if it fits these settings and this file, then follow."""
        hnsw_file.remove_leftovers(self.store_path)
        header, rowids = hnsw_file.read(self.store_path)
        wanted = (self.library, self.dim, self.m, self.ef_construction)
        saved = (header.library, header.dim, header.m, header.ef_construction)
        if saved != wanted:
            raise UnusableIndex(f"saved with (library, dim, M, ef_construction) = {saved}")
        live = cache.rowids[cache.valid]
        gone = np.setdiff1d(rowids, live, assume_unique=True)
        added = np.setdiff1d(live, rowids, assume_unique=True)
        if gone.size + added.size > rowids.size // 2:
            raise UnusableIndex(f"outdated: {gone.size} rows removed, {added.size} added since")
        graph = self._lib.Index(space="ip", dim=self.dim)
        path = str(hnsw_file.paths(self.store_path)[0])
        room = max(1024, live.size + live.size // 4)
        try:
            graph.load_index(path, max_elements=room, allow_replace_deleted=True)
        except RuntimeError as e:  # hnswlib's own check of the bytes
            raise UnusableIndex(f"hnswlib cannot read it ({e})") from e
        if graph.element_count < rowids.size:
            raise UnusableIndex(f"it holds {graph.element_count} rows, its header {rowids.size}")
        kept = np.intersect1d(rowids, live, assume_unique=True)
        sample = kept[np.linspace(0, kept.size - 1, min(_CHECKED, kept.size)).astype(np.int64)]
        if sample.size:
            stored = np.asarray(graph.get_items(sample), dtype=np.float32)
            expected = cache.matrix[np.searchsorted(cache.rowids, sample)]
            if not np.allclose(stored, expected, atol=1e-5):
                raise UnusableIndex("its vectors differ from the file's (another file's index?)")
        self._graph, self.rowids = graph, rowids
        self.loaded_from_disk = True
        self._unsaved = 0
        self._apply(cache, gone, added)

    def _follow(self, cache: VectorCache) -> None:
        live = cache.rowids[cache.valid]
        gone = np.setdiff1d(self.rowids, live, assume_unique=True)
        added = np.setdiff1d(live, self.rowids, assume_unique=True)
        self._apply(cache, gone, added)

    def _apply(self, cache: VectorCache, gone: np.ndarray, added: np.ndarray) -> None:
        """Mark ``gone`` deleted and insert ``added`` (into freed slots first)."""
        for rowid in gone.tolist():
            self._graph.mark_deleted(rowid)
        if added.size:
            need = self.rowids.size - gone.size + added.size
            if need > self._graph.get_max_elements():
                self._graph.resize_index(need + need // 4)
            vectors = cache.matrix[np.searchsorted(cache.rowids, added)]
            self._graph.add_items(vectors, added, num_threads=-1, replace_deleted=True)
        if gone.size or added.size:
            kept = np.setdiff1d(self.rowids, gone, assume_unique=True)
            self.rowids = np.union1d(kept, added)
            self._unsaved += int(gone.size + added.size)

    def save(self) -> bool:
        """Write the graph beside the SQLite file (atomically); False when the folder
        cannot be written (the reason is logged once and the graph stays in memory)."""
        if self._graph is None or not self._can_save:
            return False
        header = {
            "library": self.library,
            "dim": self.dim,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "count": int(self.rowids.size),
            "last_rowid": int(self.rowids[-1]) if self.rowids.size else 0,
        }
        try:
            hnsw_file.write(self.store_path, self._graph.save_index, header, self.rowids)
        except OSError as e:
            self._can_save = False
            log.warning(
                "cannot save the HNSW index beside %s (%s): it is kept in memory and rebuilt "
                "by the next process; make the folder writable to keep it",
                self.store_path,
                e,
            )
            return False
        self._unsaved = 0
        self.saves += 1
        return True

    def close(self) -> None:
        """Save what changed since the last save."""
        if self._unsaved:
            self.save()

    # ------------------------------------------------------------------ search

    def search(
        self, cache: VectorCache, queries: np.ndarray, k: int, allowed: Sequence[np.ndarray | None]
    ) -> list[ScoredRows]:
        """The ``k`` most similar chunks for each query, as ``VectorCache.search`` answers
        (same arguments), approximately: the graph chooses, the copy scores."""
        self.refresh(cache)
        norms = np.linalg.norm(queries, axis=1)
        unit = (queries / np.where(norms > 0, norms, 1.0)[:, None]).astype(np.float32)
        results: list[ScoredRows] = [[] for _ in range(len(queries))]
        exact: list[int] = []
        open_rows = [i for i, a in enumerate(allowed) if a is None and norms[i] > 0]
        if open_rows and self.rowids.size:
            found = self._walk(unit[open_rows], min(k, int(self.rowids.size)))
            for i, labels in zip(open_rows, found, strict=True):
                if labels is None:
                    exact.append(i)
                else:
                    results[i] = self._scored(cache, unit[i], labels, k)
        for i, subset in enumerate(allowed):
            if subset is None or norms[i] == 0 or not subset.size:
                continue
            rows = subset[cache.valid[subset]]
            if rows.size <= k or rows.size < EXACT_SHARE * self.rowids.size:
                exact.append(i)
                continue
            permitted = set(cache.rowids[rows].tolist())
            labels = self._walk(unit[i : i + 1], k, permitted.__contains__)[0]
            if labels is None:
                exact.append(i)
            else:
                results[i] = self._scored(cache, unit[i], labels, k)
        if exact:
            answers = cache.search(queries[exact], k, [allowed[i] for i in exact])
            for i, answer in zip(exact, answers, strict=True):
                results[i] = answer
        return results

    def _walk(self, unit: np.ndarray, k: int, permitted: Any = None) -> list[np.ndarray | None]:
        """The graph's k labels per query; None where it found fewer than k (the caller
        then searches exactly)."""
        ef = self.ef_search or auto_ef_search(int(self._graph.element_count))
        self._graph.set_ef(max(ef, k))
        threads = 1 if len(unit) == 1 else -1
        try:
            labels, _ = self._graph.knn_query(unit, k=k, num_threads=threads, filter=permitted)
        except RuntimeError as e:
            # hnswlib raises this one when a walk ends with fewer than k results (a narrow
            # filter, many deleted nodes); the exact scan answers those queries.
            if "contiguous 2D array" not in str(e):
                raise
            return [None] * len(unit)
        return [np.asarray(row, dtype=np.int64) for row in labels]

    @staticmethod
    def _scored(cache: VectorCache, unit: np.ndarray, labels: np.ndarray, k: int) -> ScoredRows:
        """Exact cosines from the copy for the graph's rowids, ordered as exact search."""
        positions = np.searchsorted(cache.rowids, labels)
        return best_rows(cache.matrix[positions] @ unit, labels, k)
