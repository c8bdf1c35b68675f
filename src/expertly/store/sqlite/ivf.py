"""An approximate dense index (IVF) over the in-memory vector copy, for large indexes.

Exact search from the copy (``sqlite.vectors``) reads every vector on every query: about
12 ms at 100k x 384 on one core, growing linearly with the index. An inverted-file index
reads only part of them:

* **Training**: spherical k-means on the unit vectors (cosine): ``lists`` centroids (about
  sqrt(n) unless set) from a seeded sample of at most ``sample`` vectors, ``iterations``
  Lloyd rounds; every vector of the copy then goes to the list of its nearest centroid.
* **Search**: a query scores the centroids, then only the vectors of its ``probe`` best
  lists, exactly (cosine), and keeps the top k with ties broken by rowid, as exact search
  does. With ``probe`` >= the number of lists every vector is scored and the result is the
  exact one. A batch groups its (query, list) pairs by list, so each probed list's vectors
  are gathered once for every query that probes it.
* **Filters**: a filtered query keeps only the allowed positions inside its probed lists.
  When fewer than k allowed vectors are found there (a selective filter whose chunks sit in
  other lists, or k larger than the probed lists), the query falls back to the exact scan
  over its allowed set (every vector without a filter), so a search never returns fewer
  hits than exact search would.

The index follows the copy rather than the file: after every sync of the copy (see
``VectorCache.changes``) the rows added since are assigned to their nearest existing
centroid and the removed ones leave the lists with the copy's rows. The centroids are
trained again when the copy has grown or shrunk by more than ``regrow`` times since the
last training, because sqrt(n) lists fitted to a tenth of the data no longer balance.
Nothing is written to disk: the copy itself is rebuilt by each process.

Memory beyond the copy: 4 bytes per chunk for its list, 8 for the list order, and the
centroids (``lists`` x dim floats).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from expertly.store.sqlite.vectors import ScoredRows, VectorCache, best_rows

_ASSIGN_BLOCK = 16_384
"""Rows scored against the centroids at once (bounds the temporary score matrix)."""


class IVFIndex:
    """Inverted lists over one ``VectorCache``; ``search`` keeps them in step with it.

    Args:
        lists: k-means centroids; 0 = round(sqrt(n)) of the vectors at training time.
        probe: lists each query searches; may be changed between searches (the
            benchmark sweeps it over one trained index).
        sample: most vectors k-means trains on (a seeded random sample).
        iterations: Lloyd rounds of k-means.
        regrow: train again once the copy holds more than ``regrow`` times, or less
            than 1 / ``regrow`` of, the vectors of the last training.
        seed: the sample and the initial centroids come from this seed.
    """

    def __init__(
        self,
        *,
        lists: int = 0,
        probe: int = 16,
        sample: int = 50_000,
        iterations: int = 8,
        regrow: float = 2.0,
        seed: int = 0,
    ) -> None:
        if lists < 0 or probe < 1 or sample < 1 or iterations < 0 or regrow <= 1:
            raise ValueError(
                "IVFIndex needs lists >= 0, probe >= 1, sample >= 1, iterations >= 0 and"
                f" regrow > 1; got {lists}, {probe}, {sample}, {iterations}, {regrow}"
            )
        self.lists, self.probe, self.sample = lists, probe, sample
        self.iterations, self.regrow, self.seed = iterations, regrow, seed
        self.centroids: np.ndarray | None = None
        self.trainings = 0
        """How many times the centroids were trained (the first time included)."""
        self.train_seconds = 0.0
        """Duration of the last training, assignment of every vector included."""
        self._trained_rows = 0
        self._rowids = np.zeros(0, dtype=np.int64)  # the copy's rowids the lists describe
        self._assign = np.zeros(0, dtype=np.int32)  # list of each of those rows
        self._changes = -1  # VectorCache.changes when last in step
        self._members = np.zeros(0, dtype=np.int64)  # copy positions grouped by list
        self._offsets = np.zeros(1, dtype=np.int64)  # list l is _members[off[l]:off[l+1]]

    # ------------------------------------------------------------------ upkeep

    def refresh(self, cache: VectorCache) -> None:
        """Bring the lists in step with ``cache`` (already synced); train when needed."""
        if cache.changes == self._changes and self.centroids is not None:
            return
        n, trained = len(cache), self._trained_rows
        if self.centroids is None or n > self.regrow * trained or n * self.regrow < trained:
            self._train(cache)
        else:
            self._follow(cache)
        self._changes = cache.changes

    def _follow(self, cache: VectorCache) -> None:
        """Drop the rows the copy lost, assign the rows it gained (rowids only grow)."""
        assert self.centroids is not None
        rowids = cache.rowids
        last = int(self._rowids[-1]) if self._rowids.size else -1
        start = int(np.searchsorted(rowids, last, side="right"))
        if start != self._rowids.size:  # some of the rows the lists knew are gone
            keep = np.isin(self._rowids, rowids[:start], assume_unique=True)
            self._assign = self._assign[keep]
        added, _ = _nearest(cache.matrix[start:], self.centroids)
        self._assign = np.concatenate([self._assign, added])
        self._rowids = rowids
        self._group()

    def _train(self, cache: VectorCache) -> None:
        """Spherical k-means on a sample of the valid vectors, then assign every row."""
        began = time.perf_counter()
        valid = np.flatnonzero(cache.valid)
        lists = self.lists or round(math.sqrt(valid.size))
        lists = max(1, min(lists, valid.size))
        rng = np.random.default_rng(self.seed)
        if valid.size:
            picked = np.sort(rng.choice(valid, size=min(valid.size, self.sample), replace=False))
            sample = cache.matrix[picked]
            centroids = sample[rng.choice(len(sample), size=lists, replace=False)].copy()
            for _ in range(self.iterations):
                centroids = _lloyd_step(sample, centroids)
        else:  # nothing has a cosine: one empty list keeps the shapes simple
            centroids = np.zeros((1, cache.dim), dtype=np.float32)
        self.centroids = centroids
        self._assign, _ = _nearest(cache.matrix, centroids)
        self._rowids = cache.rowids
        self._trained_rows = max(len(cache), 1)
        self._group()
        self.trainings += 1
        self.train_seconds = time.perf_counter() - began

    def _group(self) -> None:
        """Rebuild the per-list position arrays (within a list, by position = rowid)."""
        count = 0 if self.centroids is None else len(self.centroids)
        self._members = np.argsort(self._assign, kind="stable").astype(np.int64)
        sizes = np.bincount(self._assign, minlength=count)
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def list_sizes(self) -> np.ndarray:
        """How many rows (zero vectors included) each list holds."""
        return np.diff(self._offsets)

    # ------------------------------------------------------------------ search

    def search(
        self, cache: VectorCache, queries: np.ndarray, k: int, allowed: Sequence[np.ndarray | None]
    ) -> list[ScoredRows]:
        """Like ``VectorCache.search``, approximately: only the ``probe`` best lists.

        ``cache`` must be synced (the store does it at the start of the read
        transaction); the lists are brought in step with it first. ``allowed[i]``
        restricts query ``i`` to those copy positions (sorted). A query whose probed lists
        hold fewer than ``k`` (allowed) vectors is answered by the exact scan instead, so
        a search returns k hits whenever k exist, as exact search does.
        """
        self.refresh(cache)
        assert self.centroids is not None
        results: list[ScoredRows] = [[] for _ in range(len(queries))]
        norms = np.linalg.norm(queries, axis=1)
        active = [i for i, a in enumerate(allowed) if norms[i] > 0 and (a is None or a.size > 0)]
        if not active or not len(cache):
            return results
        unit = queries[active] / norms[active][:, None]
        probed = self._probed_lists(unit)
        parts = self._score_lists(cache, unit, probed)
        fallback: list[int] = []
        for row, i in enumerate(active):
            positions, scores = parts[row]
            keep = cache.valid[positions]
            subset = allowed[i]
            if subset is not None:
                keep &= _member(positions, subset)
            if int(keep.sum()) < k:
                fallback.append(i)
                continue
            results[i] = best_rows(scores[keep], cache.rowids[positions[keep]], k)
        if fallback:
            exact = cache.search(queries[fallback], k, [allowed[i] for i in fallback])
            for i, found in zip(fallback, exact, strict=True):
                results[i] = found
        return results

    def _probed_lists(self, unit: np.ndarray) -> np.ndarray:
        """The ``probe`` best lists of each query, ``(m, probe)``."""
        assert self.centroids is not None
        lists = len(self.centroids)
        if self.probe >= lists:
            return np.broadcast_to(np.arange(lists), (len(unit), lists))
        closeness = unit @ self.centroids.T
        return np.argpartition(-closeness, self.probe - 1, axis=1)[:, : self.probe]

    def _score_lists(
        self, cache: VectorCache, unit: np.ndarray, probed: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query: the copy positions of its probed lists and their cosines.

        The (query, list) pairs are grouped by list: each list's vectors are gathered once
        and scored for all the queries that probe it in one matrix product.
        """
        m, p = probed.shape
        flat_lists = probed.reshape(-1)
        flat_queries = np.repeat(np.arange(m), p)
        order = np.argsort(flat_lists, kind="stable")
        flat_lists, flat_queries = flat_lists[order], flat_queries[order]
        bounds = np.flatnonzero(np.diff(flat_lists)) + 1
        pos_parts: list[list[np.ndarray]] = [[] for _ in range(m)]
        score_parts: list[list[np.ndarray]] = [[] for _ in range(m)]
        for start, stop in zip(
            np.concatenate([[0], bounds]), np.concatenate([bounds, [flat_lists.size]]), strict=True
        ):
            lst = int(flat_lists[start])
            members = self._members[self._offsets[lst] : self._offsets[lst + 1]]
            if not members.size:
                continue
            who = flat_queries[start:stop]
            scores = unit[who] @ cache.matrix[members].T
            for row, q in enumerate(who):
                pos_parts[q].append(members)
                score_parts[q].append(scores[row])
        empty_pos, empty_scores = np.zeros(0, np.int64), np.zeros(0, np.float32)
        return [
            (np.concatenate(pp), np.concatenate(sp)) if pp else (empty_pos, empty_scores)
            for pp, sp in zip(pos_parts, score_parts, strict=True)
        ]


def _member(positions: np.ndarray, sorted_allowed: np.ndarray) -> np.ndarray:
    """Which of ``positions`` are in the sorted array ``sorted_allowed``."""
    at = np.searchsorted(sorted_allowed, positions)
    at[at == sorted_allowed.size] = 0
    return np.asarray(sorted_allowed[at] == positions)


def _nearest(rows: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's most similar centroid and that similarity, in blocks of rows."""
    labels = np.empty(len(rows), dtype=np.int32)
    best = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), _ASSIGN_BLOCK):
        sims = rows[start : start + _ASSIGN_BLOCK] @ centroids.T
        nearest = np.argmax(sims, axis=1)
        labels[start : start + len(sims)] = nearest
        best[start : start + len(sims)] = sims[np.arange(len(sims)), nearest]
    return labels, best


def _lloyd_step(sample: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """One round of spherical k-means: assign, then each centroid = the normalised mean of
    its rows. An empty list takes the sample row worst served by its centroid, so no
    list stays empty while some rows are far from every centroid."""
    labels, best = _nearest(sample, centroids)
    lists = len(centroids)
    order = np.argsort(labels, kind="stable")
    sizes = np.bincount(labels, minlength=lists)
    sums = np.zeros_like(centroids)
    filled = np.flatnonzero(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)])[filled]
    sums[filled] = np.add.reduceat(sample[order], starts, axis=0)
    empty = np.flatnonzero(sizes == 0)
    if empty.size:
        worst = np.argsort(best, kind="stable")[: empty.size]
        sums[empty[: worst.size]] = sample[worst]
    norms = np.linalg.norm(sums, axis=1)
    return (sums / np.where(norms > 0, norms, 1.0)[:, None]).astype(np.float32)
